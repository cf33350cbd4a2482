"""Per-object point clouds from a depth map and masks, cleaned with open3d.

Mask edges from a segmenter bleed onto the background; those pixels back-project metres behind the
object (flying pixels). Statistical outlier removal drops isolated points and DBSCAN drops the detached
background fragment: the largest cluster stays, with every cluster within its depth range (the pieces
of an object that something in front splits in two). Both run on a voxel-averaged copy of the cloud (it
bounds the cost of the two neighbour searches: ~50 ms per image on one core), but only decide which
points stay: the cloud that is measured keeps every kept point where it was, so a 5 cm pole stays
5 cm wide whatever the voxel. Each point's depth is the median of the mask's own depths around its
pixel: per-pixel depth noise would otherwise push the outermost points out along the viewing ray."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import open3d as o3d

from spatialqa_gen.facts import voxel_means
from spatialqa_gen.frame import CanonicalFrame
from spatialqa_gen.types import Intrinsics, mask_bounds


@dataclass(frozen=True)
class LiftConfig:
    max_pixels: int = 4000        # pixels back-projected per object (uniform subsample above this)
    median_px: int = 2            # depth = median over the mask's pixels within this many pixels
    voxel_fraction: float = 1 / 32  # cleaning voxel edge as a fraction of the object's robust extent
    min_voxel: float = 0.005
    sor_neighbors: int = 8
    sor_std_ratio: float = 3.5
    dbscan_eps_voxels: float = 2.5  # DBSCAN radius in voxels (also >= 3 pixel footprints)
    dbscan_min_points: int = 4
    same_depth_m: float = 0.10      # other clusters within the largest one's depth range (plus this much,
    same_depth_rel: float = 0.05    # or this share of its depth) are pieces of the same object
    min_points: int = 20           # fewer points after cleaning: the object is dropped
    ground_tolerance: float = 0.04  # points this close to a found ground plane are floor, not object ...
    ground_tolerance_rel: float = 0.015  # ... plus this share of their depth (depth errors grow with it)

    def floor_band(self, depth: np.ndarray | float) -> np.ndarray | float:
        """Height above the ground plane under which a point at this depth is taken for floor."""
        return self.ground_tolerance + self.ground_tolerance_rel * depth


def _median_depth(depth: np.ndarray, valid: np.ndarray, ys: np.ndarray, xs: np.ndarray, r: int) -> np.ndarray:
    """Median depth over the valid pixels of the (2r+1)^2 window around each (y, x): the lower middle
    value, never an average of two (at a mask edge that spills onto the background, averaging would
    put points between the object and the background and bridge the two)."""
    if r == 0:
        return depth[ys, xs].astype(np.float64)
    h, w = depth.shape
    dy, dx = np.mgrid[-r:r + 1, -r:r + 1]
    wy = np.clip(ys[:, None] + dy.ravel(), 0, h - 1)
    wx = np.clip(xs[:, None] + dx.ravel(), 0, w - 1)
    window = np.where(valid[wy, wx], depth[wy, wx], np.inf)
    count = np.isfinite(window).sum(axis=1)  # >= 1: the centre pixel is valid
    out = np.empty(len(ys))
    full = count == window.shape[1]  # most pixels: a partial partition finds the middle in linear time
    out[full] = np.partition(window[full], window.shape[1] // 2, axis=1)[:, window.shape[1] // 2]
    edge = np.sort(window[~full], axis=1)
    out[~full] = edge[np.arange(len(edge)), (count[~full] - 1) // 2]
    return out


def backproject(depth: np.ndarray, k: Intrinsics, mask: np.ndarray, max_pixels: int,
                median_px: int = 0) -> tuple[np.ndarray, float]:
    """Camera-frame points (x right, y down, z forward) of the mask's valid-depth pixels, and the
    subsampling stride (pixels per kept point, >= 1)."""
    bounds = mask_bounds(mask)
    if bounds is None:
        return np.zeros((0, 3)), 1.0
    y0, y1, x0, x1 = bounds
    valid = np.zeros_like(mask)
    crop = depth[y0:y1, x0:x1]
    valid[y0:y1, x0:x1] = mask[y0:y1, x0:x1] & (crop > 0) & np.isfinite(crop)
    ys, xs = np.nonzero(valid[y0:y1, x0:x1])
    ys, xs = ys + y0, xs + x0
    stride = 1.0
    if len(xs) > max_pixels:
        # evenly spaced in raster order: uniform over the mask, and far cheaper than a random choice
        keep = np.linspace(0, len(xs) - 1, max_pixels).astype(np.int64)
        stride = len(xs) / max_pixels
        ys, xs = ys[keep], xs[keep]
    z = _median_depth(depth, valid, ys, xs, median_px)
    return np.stack([(xs + 0.5 - k.cx) * z / k.fx, (ys + 0.5 - k.cy) * z / k.fy, z], axis=1), stride


def _same_depth_clusters(z: np.ndarray, labels: np.ndarray, config: LiftConfig) -> np.ndarray:
    """Points of the largest cluster and of every cluster lying within its depth range: an occluder
    in front splits an object into pieces side by side, while flying pixels and background fragments
    lie behind it."""
    largest = labels == np.bincount(labels[labels >= 0]).argmax()
    lo, hi = float(z[largest].min()), float(z[largest].max())
    margin = max(config.same_depth_m, config.same_depth_rel * hi)
    keep = largest.copy()
    for label in np.unique(labels[(labels >= 0) & ~largest]):
        piece = labels == label
        if lo - margin <= float(np.median(z[piece])) <= hi + margin:
            keep |= piece
    return keep


def clean(points: np.ndarray, pixel_pitch: float, config: LiftConfig) -> np.ndarray:
    """The points kept by statistical outlier removal and DBSCAN (`_same_depth_clusters`), both decided
    on the voxel-averaged cloud (a point stays when its voxel does)."""
    if len(points) < config.min_points:
        return points[:0]
    lo, hi = np.percentile(points, [5, 95], axis=0)
    voxel = max(float(np.linalg.norm(hi - lo)) * config.voxel_fraction, config.min_voxel)
    centres, inverse = voxel_means(points, voxel)
    if len(centres) < config.min_points:
        return points[:0]
    pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(centres))
    _, inliers = pcd.remove_statistical_outlier(config.sor_neighbors, config.sor_std_ratio)
    inliers = np.asarray(inliers, dtype=np.int64)
    eps = max(config.dbscan_eps_voxels * voxel, 3.0 * pixel_pitch)
    labels = np.asarray(pcd.select_by_index(inliers).cluster_dbscan(eps, config.dbscan_min_points))
    if not (labels >= 0).any():
        return points[:0]
    kept_voxels = np.zeros(len(centres), bool)
    kept_voxels[inliers[_same_depth_clusters(centres[inliers, 2], labels, config)]] = True
    out = points[kept_voxels[inverse]]
    return out if len(out) >= config.min_points else points[:0]


def lift_objects(depth: np.ndarray, k: Intrinsics, masks: np.ndarray, config: LiftConfig = LiftConfig(),
                 frame: CanonicalFrame | None = None) -> list[np.ndarray]:
    """One cleaned camera-frame cloud per mask (empty array when too little survives). With a frame
    whose ground was found, floor pixels inside a mask (a mask spilling over the object's base) are
    removed first: they touch the object, so no clustering could separate them."""
    clouds = []
    for mask in masks:
        pts, stride = backproject(depth, k, mask, config.max_pixels, config.median_px)
        if frame is not None and frame.camera_height is not None and len(pts):
            pts = pts[frame.to_canonical(pts)[:, 2] > config.floor_band(pts[:, 2])]
        if len(pts) == 0:
            clouds.append(pts)
            continue
        # metres between neighbouring kept points at the object's depth
        pitch = float(np.median(pts[:, 2])) / k.fx * np.sqrt(stride)
        clouds.append(clean(pts, pitch, config))
    return clouds
