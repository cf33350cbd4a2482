"""The canonical frame: right-handed, x = the viewer's right, y = forward (the camera heading
projected on the ground), z = up (normal to the ground), origin on the ground below the camera.

So "left of" is smaller x, "behind" (farther from the viewer) is larger y, "above" is larger z,
exactly as the viewer reads the picture, whatever the camera's pitch and roll."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import open3d as o3d

from spatialqa_gen.types import Intrinsics

CAMERA_UP = np.array([0.0, -1.0, 0.0])  # OpenCV camera axes: y points down
CAMERA_FORWARD = np.array([0.0, 0.0, 1.0])


@dataclass(frozen=True)
class FrameConfig:
    max_points: int = 3000
    distance_threshold: float = 0.03  # metres from the plane to count as an inlier
    ransac_iterations: int = 200
    max_tilt_deg: float = 45.0        # a ground plane's normal is within this of the camera's up
    min_inlier_fraction: float = 0.1
    attempts: int = 3                 # planes tried (walls/tables are removed and RANSAC rerun)
    fallback_pitch_deg: float = 0.0   # gravity fallback: camera assumed level, pitched down this much


@dataclass(frozen=True)
class CanonicalFrame:
    rotation: np.ndarray  # rows: right, forward, up (camera coordinates)
    origin: np.ndarray    # camera coordinates of the canonical origin
    source: str           # "ransac" | "gravity"
    camera_height: float | None  # metres above the ground (None without a ground plane)

    def to_canonical(self, points: np.ndarray) -> np.ndarray:
        return (points - self.origin) @ self.rotation.T


def frame_from_up(up: np.ndarray, origin: np.ndarray, source: str, height: float | None) -> CanonicalFrame:
    up = up / np.linalg.norm(up)
    forward = CAMERA_FORWARD - (CAMERA_FORWARD @ up) * up
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, up)  # right x forward = up: right-handed
    return CanonicalFrame(np.stack([right, forward, up]), origin, source, height)


def gravity_frame(config: FrameConfig) -> CanonicalFrame:
    p = np.deg2rad(config.fallback_pitch_deg)
    up = np.array([0.0, -np.cos(p), -np.sin(p)])  # camera pitched down by p: up tilts towards -z
    return frame_from_up(up, np.zeros(3), "gravity", None)


def ground_points(depth: np.ndarray, k: Intrinsics, object_masks: np.ndarray, max_points: int) -> np.ndarray:
    """Camera-frame points of pixels outside every object mask, on a regular grid."""
    free = (depth > 0) & np.isfinite(depth)
    if len(object_masks):
        free &= ~object_masks.any(axis=0)
    step = max(1, int(np.sqrt(free.sum() / max_points)))
    sub = free[::step, ::step]
    ys, xs = np.nonzero(sub)
    ys, xs = ys * step, xs * step
    z = depth[ys, xs].astype(np.float64)
    return np.stack([(xs + 0.5 - k.cx) * z / k.fx, (ys + 0.5 - k.cy) * z / k.fy, z], axis=1)


def estimate_frame(depth: np.ndarray, k: Intrinsics, object_masks: np.ndarray,
                   config: FrameConfig = FrameConfig(), seed: int = 0) -> CanonicalFrame:
    """RANSAC the background for a plane whose normal is near the camera's up and which lies below
    the camera; walls and ceilings are rejected and the search repeats on the remaining points."""
    points = ground_points(depth, k, object_masks, config.max_points)
    total = len(points)
    o3d.utility.random.seed(seed % 2**31)  # open3d takes a C int
    for _ in range(config.attempts):
        if len(points) < max(50, config.min_inlier_fraction * total):
            break
        pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points))
        (a, b, c, d), inliers = pcd.segment_plane(config.distance_threshold, 3, config.ransac_iterations)
        normal = np.array([a, b, c])
        scale = np.linalg.norm(normal)
        normal, d = normal / scale, d / scale
        if normal @ CAMERA_UP < 0:
            normal, d = -normal, -d
        tilt = np.degrees(np.arccos(np.clip(normal @ CAMERA_UP, -1, 1)))
        # d = signed height of the camera above the plane (camera at the origin)
        if tilt <= config.max_tilt_deg and d > 0 and len(inliers) >= config.min_inlier_fraction * total:
            return frame_from_up(normal, -d * normal, "ransac", float(d))
        points = np.delete(points, inliers, axis=0)
    return gravity_frame(config)
