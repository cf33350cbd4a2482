"""Per object, what was measured in the canonical frame: the axis-aligned box of its points, a
space-uniform sample of its surface (SpatialRGPT's definitions use its mean and its points), the
camera's view of its top, and how much of its outline is hidden (visibility)."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from spatialqa_gen.visibility import Visibility

SURFACE_VOXEL_M = 0.02     # surface sample: one point per 2 cm voxel, as SpatialRGPT's downsampled cloud
MAX_SURFACE_POINTS = 400   # enough for a mean point-to-point distance within a centimetre


@dataclass(frozen=True)
class ObjectFacts:
    name: str
    key: int
    box_min: np.ndarray  # canonical frame, metres
    box_max: np.ndarray
    surface: np.ndarray | None = None  # (N, 3) space-uniform sample of the seen surface; None: the box's centre
    top_view_deg: float = 90.0         # elevation of the camera over the object's top, seen from its centre
    visibility: Visibility = field(default_factory=Visibility)

    @property
    def center(self) -> np.ndarray:
        return (self.box_min + self.box_max) / 2

    @property
    def size(self) -> np.ndarray:
        return self.box_max - self.box_min

    @property
    def width(self) -> float:
        return float(self.size[0])

    @property
    def height(self) -> float:
        return float(self.size[2])

    @property
    def volume(self) -> float:
        return float(np.prod(self.size))

    @cached_property
    def centroid(self) -> np.ndarray:
        """Mean of the seen surface (SpatialRGPT's position of an object)."""
        return self.surface.mean(axis=0) if self.surface is not None else self.center

    @cached_property
    def front(self) -> float:
        """Forward coordinate of the nearest seen point (SpatialRGPT's behind/front)."""
        return float(self.surface[:, 1].min()) if self.surface is not None else float(self.box_min[1])


def voxel_means(points: np.ndarray, voxel: float) -> tuple[np.ndarray, np.ndarray]:
    """The mean point of every occupied voxel and, per input point, the index of its voxel."""
    cells = np.floor((points - points.min(axis=0)) / voxel).astype(np.int64)
    span = cells.max(axis=0) + 1
    keys = (cells[:, 0] * span[1] + cells[:, 1]) * span[2] + cells[:, 2]
    _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    means = np.stack([np.bincount(inverse, points[:, i]) for i in range(3)], axis=1) / counts[:, None]
    return means, inverse


def surface_sample(points: np.ndarray, voxel: float = SURFACE_VOXEL_M, cap: int = MAX_SURFACE_POINTS) -> np.ndarray:
    """One point (the mean) per occupied voxel, at most `cap` of them, evenly spread over the list."""
    sample, _ = voxel_means(points, voxel)
    if len(sample) > cap:
        sample = sample[np.linspace(0, len(sample) - 1, cap).astype(np.int64)]
    return sample


def object_facts(name: str, key: int, canonical_points: np.ndarray, camera_z: float,
                 rests_within: float | None = None, visibility: Visibility = Visibility(),
                 with_surface: bool = False) -> ObjectFacts:
    """The box of the points; with `rests_within` (a ground plane was found), an object whose lowest
    point is that close to the ground is taken to stand on it (its floor-level rim was removed).
    `camera_z` is the camera's height in the frame (the top-view angle says whether the object's
    extent in depth was seen at all: near eye level only its front face is). The surface sample is
    only taken `with_surface` (SpatialRGPT's definitions use it)."""
    lo, hi = canonical_points.min(axis=0), canonical_points.max(axis=0)
    if rests_within is not None and lo[2] < rests_within:
        lo[2] = 0.0
    reach = float(np.linalg.norm((lo + hi)[:2] / 2))
    top_view = float(np.degrees(np.arctan2(camera_z - hi[2], reach)))
    surface = surface_sample(canonical_points) if with_surface else None
    return ObjectFacts(name, key, lo, hi, surface, top_view, visibility)
