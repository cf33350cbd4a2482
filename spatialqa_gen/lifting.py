"""Per-object point clouds from a depth map and masks, cleaned with open3d.

Mask edges from a segmenter bleed onto the background; those pixels back-project metres behind the
object (flying pixels). Statistical outlier removal drops isolated points and the largest DBSCAN
cluster drops the detached background fragment. Voxel downsampling runs first: it bounds the cost
of the two neighbour searches (the CPU budget is ~50 ms per image) without changing the box."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import open3d as o3d

from spatialqa_gen.frame import CanonicalFrame
from spatialqa_gen.types import Intrinsics


@dataclass(frozen=True)
class LiftConfig:
    max_pixels: int = 4000        # pixels back-projected per object (uniform subsample above this)
    voxel_fraction: float = 1 / 32  # voxel edge as a fraction of the object's robust extent
    min_voxel: float = 0.005
    sor_neighbors: int = 8
    sor_std_ratio: float = 3.5
    dbscan_eps_voxels: float = 2.5  # DBSCAN radius in voxels (also >= 3 pixel footprints)
    dbscan_min_points: int = 4
    min_points: int = 20           # fewer points after cleaning: the object is dropped
    ground_tolerance: float = 0.04  # points this close to a found ground plane are floor, not object


def backproject(depth: np.ndarray, k: Intrinsics, mask: np.ndarray, max_pixels: int) -> tuple[np.ndarray, float]:
    """Camera-frame points (x right, y down, z forward) of the mask's valid-depth pixels, and the
    subsampling stride (pixels per kept point, >= 1)."""
    ys, xs = np.nonzero(mask & (depth > 0) & np.isfinite(depth))
    stride = 1.0
    if len(xs) > max_pixels:
        # evenly spaced in raster order: uniform over the mask, and far cheaper than a random choice
        keep = np.linspace(0, len(xs) - 1, max_pixels).astype(np.int64)
        stride = len(xs) / max_pixels
        ys, xs = ys[keep], xs[keep]
    z = depth[ys, xs].astype(np.float64)
    return np.stack([(xs + 0.5 - k.cx) * z / k.fx, (ys + 0.5 - k.cy) * z / k.fy, z], axis=1), stride


def clean(points: np.ndarray, pixel_pitch: float, config: LiftConfig) -> np.ndarray:
    """Voxel downsample, statistical outlier removal, then the largest DBSCAN cluster."""
    if len(points) < config.min_points:
        return points[:0]
    lo, hi = np.percentile(points, [5, 95], axis=0)
    voxel = max(float(np.linalg.norm(hi - lo)) * config.voxel_fraction, config.min_voxel)
    pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points)).voxel_down_sample(voxel)
    if len(pcd.points) < config.min_points:
        return points[:0]
    pcd, _ = pcd.remove_statistical_outlier(config.sor_neighbors, config.sor_std_ratio)
    eps = max(config.dbscan_eps_voxels * voxel, 3.0 * pixel_pitch)
    labels = np.asarray(pcd.cluster_dbscan(eps, config.dbscan_min_points))
    kept = labels >= 0
    if not kept.any():
        return points[:0]
    largest = np.bincount(labels[kept]).argmax()
    out = np.asarray(pcd.points)[labels == largest]
    return out if len(out) >= config.min_points else points[:0]


def lift_objects(depth: np.ndarray, k: Intrinsics, masks: np.ndarray, config: LiftConfig = LiftConfig(),
                 frame: CanonicalFrame | None = None) -> list[np.ndarray]:
    """One cleaned camera-frame cloud per mask (empty array when too little survives). With a frame
    whose ground was found, floor pixels inside a mask (a mask spilling over the object's base) are
    removed first: they touch the object, so no clustering could separate them."""
    clouds = []
    for mask in masks:
        pts, stride = backproject(depth, k, mask, config.max_pixels)
        if frame is not None and frame.camera_height is not None and len(pts):
            pts = pts[frame.to_canonical(pts)[:, 2] > config.ground_tolerance]
        if len(pts) == 0:
            clouds.append(pts)
            continue
        # metres between neighbouring kept points at the object's depth
        pitch = float(np.median(pts[:, 2])) / k.fx * np.sqrt(stride)
        clouds.append(clean(pts, pitch, config))
    return clouds
