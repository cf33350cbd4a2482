"""The canonical frame: right-handed, x = the viewer's right, y = forward (the camera heading
projected on the ground), z = up (normal to the ground), origin on the ground below the camera.

So "left of" is smaller x, "behind" (farther from the viewer) is larger y, "above" is larger z,
exactly as the viewer reads the picture, whatever the camera's pitch and roll.

The ground is found, never assumed: RANSAC on the background for a plane that a camera could stand
over (the pitch and roll it implies are those of a hand-held or mounted camera, pitched up to 70° down),
refined by least squares on its inliers, spread over enough ground, and verified to be the lowest
supporting surface (no real point lies clearly under it: a table top would have the floor beneath).
Without such a plane the frame is `untrusted` and no label is written from it."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spatialqa_gen.types import Intrinsics

CAMERA_UP = np.array([0.0, -1.0, 0.0])  # OpenCV camera axes: y points down
CAMERA_FORWARD = np.array([0.0, 0.0, 1.0])
TRUSTED, UNTRUSTED = "ransac", "untrusted"


@dataclass(frozen=True)
class FrameConfig:
    max_points: int = 3000
    distance_threshold: float = 0.03  # metres from the plane to count as an inlier
    ransac_iterations: int = 200
    min_pitch_deg: float = -30.0      # the camera's pitch the plane implies (down is positive) ...
    max_pitch_deg: float = 70.0
    max_roll_deg: float = 25.0        # ... and its roll
    min_inliers: int = 100            # of the background sample ...
    min_inlier_fraction: float = 0.05  # ... and of its size
    min_spread_m: float = 0.5         # the inliers span this much across and along the view
    below_margin_m: float = 0.10      # a point this far under the plane (plus below_rel of its depth) ...
    below_rel: float = 0.03
    max_below_fraction: float = 0.01  # ... is impossible under a floor: more such points, not the floor
    attempts: int = 4                 # planes tried (walls and tables are removed and RANSAC rerun)


@dataclass(frozen=True)
class CanonicalFrame:
    rotation: np.ndarray  # rows: right, forward, up (camera coordinates)
    origin: np.ndarray    # camera coordinates of the canonical origin
    source: str           # "ransac" (a verified floor) | "untrusted" (none found: write no labels)
    camera_height: float | None  # metres above the ground (None without a ground plane)

    @property
    def trusted(self) -> bool:
        return self.source == TRUSTED

    def to_canonical(self, points: np.ndarray) -> np.ndarray:
        return (points - self.origin) @ self.rotation.T


def frame_from_up(up: np.ndarray, origin: np.ndarray, source: str, height: float | None) -> CanonicalFrame:
    up = up / np.linalg.norm(up)
    forward = CAMERA_FORWARD - (CAMERA_FORWARD @ up) * up
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, up)  # right x forward = up: right-handed
    return CanonicalFrame(np.stack([right, forward, up]), origin, source, height)


def untrusted_frame() -> CanonicalFrame:
    """A level camera's frame, marked untrusted: enough to name axes, never to write labels from."""
    return frame_from_up(CAMERA_UP.copy(), np.zeros(3), UNTRUSTED, None)


def sample_points(depth: np.ndarray, k: Intrinsics, exclude: np.ndarray | None, max_points: int) -> np.ndarray:
    """Camera-frame points of valid-depth pixels (outside `exclude`), on a regular grid."""
    free = (depth > 0) & np.isfinite(depth)
    if exclude is not None:
        free &= ~exclude
    step = max(1, int(np.sqrt(free.sum() / max_points)))
    sub = free[::step, ::step]
    ys, xs = np.nonzero(sub)
    ys, xs = ys * step, xs * step
    z = depth[ys, xs].astype(np.float64)
    return np.stack([(xs + 0.5 - k.cx) * z / k.fx, (ys + 0.5 - k.cy) * z / k.fy, z], axis=1)


def camera_pose_deg(up: np.ndarray) -> tuple[float, float]:
    """(pitch down, roll) of a camera in degrees, from the world's up in its coordinates."""
    pitch = float(np.degrees(-np.arcsin(np.clip(up[2], -1.0, 1.0))))
    roll = float(np.degrees(np.arctan2(up[0], -up[1])))
    return pitch, roll


def ransac_plane(points: np.ndarray, threshold: float, iterations: int, rng: np.random.Generator
                 ) -> tuple[np.ndarray, float, np.ndarray]:
    """(unit normal, d, inlier indices) of the plane n.p + d = 0 through three sampled points that the
    most points lie within `threshold` of. All hypotheses at once in numpy: deterministic for a seed
    (open3d's parallel RANSAC is not), and about a millisecond for 3000 points."""
    p0, p1, p2 = (points[rng.integers(0, len(points), iterations)] for _ in range(3))
    normals = np.cross(p1 - p0, p2 - p0)
    norms = np.linalg.norm(normals, axis=1)
    normals = normals / np.maximum(norms, 1e-12)[:, None]
    d = -np.einsum("ij,ij->i", normals, p0)
    judges = points[::max(1, len(points) // 1000)]  # hypotheses are ranked on ~1000 points
    counts = ((np.abs(judges @ normals.T + d) < threshold) & (norms > 1e-9)).sum(axis=0)
    best = int(np.argmax(counts))
    return normals[best], float(d[best]), np.flatnonzero(np.abs(points @ normals[best] + d[best]) < threshold)


def _refit(points: np.ndarray, normal: np.ndarray, d: float, band: float) -> tuple[np.ndarray, float, np.ndarray]:
    """Least-squares plane through the points within `band` of (normal, d); keeps the normal's side."""
    near = np.abs(points @ normal + d) < band
    sel = points[near]
    centre = sel.mean(axis=0)
    n = np.linalg.svd(sel - centre, full_matrices=False)[2][2]
    n = n if n @ normal > 0 else -n
    return n, float(-n @ centre), near


def _is_floor(normal: np.ndarray, height: float, inliers: np.ndarray, everything: np.ndarray,
              config: FrameConfig) -> bool:
    pitch, roll = camera_pose_deg(normal)
    if height <= 0 or not config.min_pitch_deg <= pitch <= config.max_pitch_deg or abs(roll) > config.max_roll_deg:
        return False
    frame = frame_from_up(normal, -height * normal, TRUSTED, height)
    ground = frame.to_canonical(inliers)[:, :2]
    spread = np.percentile(ground, 95, axis=0) - np.percentile(ground, 5, axis=0)
    if (spread < config.min_spread_m).any():
        return False
    z = frame.to_canonical(everything)[:, 2]
    below = z < -(config.below_margin_m + config.below_rel * everything[:, 2])
    return float(below.mean()) <= config.max_below_fraction


def estimate_frame(depth: np.ndarray, k: Intrinsics, object_masks: np.ndarray,
                   config: FrameConfig = FrameConfig(), seed: int = 0) -> CanonicalFrame:
    """The first RANSAC plane of the background that passes `_is_floor`; walls, ceilings and table
    tops are removed and the search repeats on the remaining points. None passes: untrusted."""
    points = sample_points(depth, k, object_masks.any(axis=0) if len(object_masks) else None, config.max_points)
    everything = sample_points(depth, k, None, config.max_points)
    total = len(points)
    need = max(config.min_inliers, config.min_inlier_fraction * total)
    rng = np.random.default_rng(seed)
    for _ in range(config.attempts):
        if len(points) < need:
            break
        normal, d, inliers = ransac_plane(points, config.distance_threshold, config.ransac_iterations, rng)
        if normal @ CAMERA_UP < 0:
            normal, d = -normal, -d
        if len(inliers) >= need:
            # d = signed height of the camera above the plane (camera at the origin)
            normal, d, near = _refit(points, normal, d, 2 * config.distance_threshold)
            if _is_floor(normal, d, points[near], everything, config):
                return frame_from_up(normal, -d * normal, TRUSTED, float(d))
        points = np.delete(points, inliers, axis=0)
    return untrusted_frame()
