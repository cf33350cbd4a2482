"""Exact ground truth of a rendered scene, per object, in the canonical (world) frame.

The whole object's box comes from its mesh. What the camera could see of it comes from rendering the
object alone (nothing in front) on a canvas twice the picture's size (so the border cuts nothing): its
visible surface (what SpatialRGPT's definitions measure), the share of that surface the picture really
shows (occlusion), and whether the picture's border cuts it (truncation)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spatialqa_gen.scene import RenderedScene, cast
from spatialqa_gen.types import Intrinsics

MAX_SURFACE_POINTS = 2000


@dataclass(frozen=True)
class ObjectTruth:
    label: int
    name: str
    box_min: np.ndarray      # the whole object, canonical frame
    box_max: np.ndarray
    surface: np.ndarray      # (N, 3) canonical points of the surface facing the camera, nothing in front
    visible_fraction: float  # share of that surface's pixels the picture shows
    truncated: bool          # the picture's border cuts the object

    @property
    def fully_visible(self) -> bool:
        return self.visible_fraction >= 0.98 and not self.truncated


def _amodal(scene: RenderedScene, label: int) -> tuple[np.ndarray, int, bool]:
    """Render one object alone at half resolution on a canvas twice the picture's width and height:
    its surface points (world frame), its pixel count at full resolution, and whether any of it lies
    outside the picture."""
    h, w = scene.depth.shape
    k = scene.intrinsics
    half = Intrinsics(k.fx / 2, k.fy / 2, (k.cx + w / 2) / 2, (k.cy + h / 2) / 2)
    hits, _ = cast([scene.objects[label - 1].mesh()], half, scene.camera_to_world, w, h)
    t = hits["t_hit"]
    ys, xs = np.nonzero(np.isfinite(t))
    inside = (xs >= w // 4) & (xs < w // 4 + w // 2) & (ys >= h // 4) & (ys < h // 4 + h // 2)
    z = t[ys, xs].astype(np.float64)
    cam = np.stack([(xs + 0.5 - half.cx) * z / half.fx, (ys + 0.5 - half.cy) * z / half.fy, z], axis=1)
    world = cam @ scene.camera_to_world[:3, :3].T + scene.camera_to_world[:3, 3]
    if len(world) > MAX_SURFACE_POINTS:
        world = world[np.linspace(0, len(world) - 1, MAX_SURFACE_POINTS).astype(np.int64)]
    return world, 4 * len(xs), bool((~inside).any())


def object_truths(scene: RenderedScene) -> dict[int, ObjectTruth]:
    """label -> truth, for every object of the scene (annotated or not)."""
    out = {}
    for label, obj in enumerate(scene.objects, start=1):
        surface, amodal_px, truncated = _amodal(scene, label)
        visible = int((scene.labels == label).sum())
        out[label] = ObjectTruth(label, obj.name, obj.box_min, obj.box_max, surface,
                                 min(1.0, visible / max(amodal_px, 1)), truncated)
    return out
