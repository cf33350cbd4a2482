"""Scenes with known geometry, rendered with open3d's CPU ray caster.

World frame = the ground-truth canonical frame: x to the viewer's right, y forward (away from the
viewer, along the camera's heading), z up, origin on the floor below the camera. A floor, walls (turned
about the vertical by the room's yaw: the camera's yaw relative to the room) and named boxes/cylinders;
a pinhole camera with known intrinsics, pitched down and rolled. The render gives a shaded RGB picture,
exact z-depth, an instance label map and the true meshes. Random scenes by seed: `scene_gen`."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import open3d as o3d

from spatialqa_gen.types import Intrinsics, Region


@dataclass(frozen=True)
class SceneObject:
    name: str
    kind: str  # box | cylinder
    color: tuple[float, float, float]
    vertices: np.ndarray  # (V, 3) world coordinates of the mesh
    triangles: np.ndarray  # (T, 3)

    @property
    def box_min(self) -> np.ndarray:
        return self.vertices.min(axis=0)

    @property
    def box_max(self) -> np.ndarray:
        return self.vertices.max(axis=0)

    def mesh(self) -> o3d.geometry.TriangleMesh:
        return o3d.geometry.TriangleMesh(o3d.utility.Vector3dVector(self.vertices),
                                         o3d.utility.Vector3iVector(self.triangles))


@dataclass(frozen=True)
class Room:
    """Floor (z = 0), a back wall `wall_distance` ahead of the camera and optionally a side wall at signed
    distance `side_wall` (negative: left), both turned by `yaw_deg` about the vertical through the camera."""

    wall_distance: float | None = 12.0
    side_wall: float | None = None
    yaw_deg: float = 0.0
    floor: bool = True

    def _turned(self) -> np.ndarray:
        return o3d.geometry.get_rotation_matrix_from_xyz((0.0, 0.0, np.deg2rad(self.yaw_deg)))

    def meshes(self) -> list[o3d.geometry.TriangleMesh]:
        out = []
        if self.floor:
            out.append(o3d.geometry.TriangleMesh.create_box(60.0, 60.0, 0.02).translate((-30.0, -30.0, -0.02)))
        if self.wall_distance is not None:
            wall = o3d.geometry.TriangleMesh.create_box(60.0, 0.1, 3.0).translate((-30.0, self.wall_distance, 0.0))
            out.append(wall.rotate(self._turned(), center=(0.0, 0.0, 0.0)))
        if self.side_wall is not None:
            x = self.side_wall - 0.1 if self.side_wall < 0 else self.side_wall
            wall = o3d.geometry.TriangleMesh.create_box(0.1, 60.0, 3.0).translate((x, -30.0, 0.0))
            out.append(wall.rotate(self._turned(), center=(0.0, 0.0, 0.0)))
        return out

    def inside(self, xy: np.ndarray, radius: float) -> bool:
        """Whether a footprint (centre, radius) lies in front of the walls."""
        local = self._turned()[:2, :2].T @ xy
        if self.wall_distance is not None and local[1] + radius > self.wall_distance - 0.05:
            return False
        if self.side_wall is not None and (local[0] - radius < self.side_wall + 0.05 if self.side_wall < 0
                                           else local[0] + radius > self.side_wall - 0.05):
            return False
        return True


@dataclass
class RenderedScene:
    scene_id: str
    rgb: np.ndarray  # (H, W, 3) uint8
    depth: np.ndarray  # (H, W) float32 metres along the optical axis; 0 where no surface
    labels: np.ndarray  # (H, W) uint8: 0 background, k = objects[k - 1]
    intrinsics: Intrinsics
    camera_to_world: np.ndarray  # (4, 4)
    objects: list[SceneObject]
    regions: list[Region]  # the objects a detector would box (enough visible pixels); Region.key = label
    floor_fraction: float = 0.0  # share of the image showing the floor

    def masks(self) -> np.ndarray:
        return np.stack([self.labels == r.key for r in self.regions]) if self.regions else \
            np.zeros((0, *self.labels.shape), bool)


def camera_pose(height: float, pitch: float, roll: float) -> np.ndarray:
    """Camera-to-world (OpenCV camera axes: x right, y down, z forward), heading along world +y,
    pitched down by `pitch` and rolled by `roll` (radians)."""
    forward = np.array([0.0, np.cos(pitch), -np.sin(pitch)])
    down = np.array([0.0, -np.sin(pitch), -np.cos(pitch)])
    right = np.array([1.0, 0.0, 0.0])
    right, down = np.cos(roll) * right + np.sin(roll) * down, -np.sin(roll) * right + np.cos(roll) * down
    pose = np.eye(4)
    pose[:3, :3] = np.stack([right, down, forward], axis=1)
    pose[:3, 3] = (0.0, 0.0, height)
    return pose


def _mesh(kind: str, size: tuple[float, float, float], yaw: float, base: np.ndarray) -> o3d.geometry.TriangleMesh:
    w, d, h = size
    if kind == "box":
        mesh = o3d.geometry.TriangleMesh.create_box(w, d, h).translate((-w / 2, -d / 2, 0.0))
    else:
        mesh = o3d.geometry.TriangleMesh.create_cylinder(radius=w / 2, height=h, resolution=48)
        mesh.translate((0.0, 0.0, h / 2))
    rot = o3d.geometry.get_rotation_matrix_from_xyz((0.0, 0.0, yaw))
    return mesh.rotate(rot, center=(0.0, 0.0, 0.0)).translate(base)


def make_object(name: str, kind: str, size: tuple[float, float, float], yaw: float, base: np.ndarray,
                color: tuple[float, float, float] = (0.6, 0.6, 0.6)) -> SceneObject:
    """A box (size = width, depth, height) or cylinder (diameter, -, height) standing at `base` (x, y, z)."""
    mesh = _mesh(kind, size, yaw, np.asarray(base, float))
    return SceneObject(name, kind, color, np.asarray(mesh.vertices).copy(), np.asarray(mesh.triangles).copy())


def camera(width: int, focal: float, height_m: float, pitch_deg: float, roll_deg: float,
           image_height: int) -> tuple[Intrinsics, np.ndarray]:
    k = Intrinsics(focal, focal, width / 2, image_height / 2)
    return k, camera_pose(height_m, np.deg2rad(pitch_deg), np.deg2rad(roll_deg))


def cast(meshes: list[o3d.geometry.TriangleMesh], k: Intrinsics, pose: np.ndarray, width: int,
         height: int) -> tuple[dict[str, np.ndarray], list[int]]:
    """Ray-cast the meshes through every pixel: open3d's hit arrays (plus the rays) and each mesh's id."""
    scene = o3d.t.geometry.RaycastingScene()
    ids = [scene.add_triangles(o3d.t.geometry.TriangleMesh.from_legacy(m)) for m in meshes]
    rays = o3d.t.geometry.RaycastingScene.create_rays_pinhole(
        o3d.core.Tensor(k.matrix()), o3d.core.Tensor(np.linalg.inv(pose)), width, height)
    hits = {key: value.numpy() for key, value in scene.cast_rays(rays).items()}
    hits["rays"] = rays.numpy()
    return hits, ids


def render(scene_id: str, objects: list[SceneObject], k: Intrinsics, pose: np.ndarray, width: int, height: int,
           room: Room = Room(), rng: np.random.Generator | None = None, min_pixels: int = 200) -> RenderedScene:
    """Ray-cast the room and the objects. Every object with at least `min_pixels` visible pixels is a
    region (as a detector would box it, occluded or cut by the border alike), with the box of its
    visible pixels; the others are rendered but not annotated."""
    rng = rng or np.random.default_rng(0)
    background = room.meshes()
    hits, ids = cast(background + [o.mesh() for o in objects], k, pose, width, height)
    geom = hits["geometry_ids"].astype(np.int64)
    t_hit = hits["t_hit"]
    depth = np.where(np.isfinite(t_hit), t_hit, 0.0).astype(np.float32)  # ray directions have unit z (camera)

    labels = np.zeros((height, width), np.uint8)
    for label, gid in enumerate(ids[len(background):], start=1):
        labels[geom == gid] = label

    rgb = _shade(hits, geom, ids[:len(background)], ids[len(background):], objects, room.floor, rng)
    regions: list[Region] = []
    for label, obj in enumerate(objects, start=1):
        ys, xs = np.nonzero(labels == label)
        if len(xs) < min_pixels:
            continue
        regions.append(Region(obj.name, (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)),
                              obj.name, label))
    floor = float((geom == ids[0]).mean()) if room.floor else 0.0
    return RenderedScene(scene_id, rgb, depth, labels, k, pose, objects, regions, floor)


def _shade(hits: dict[str, np.ndarray], geom: np.ndarray, background_ids: list[int], object_ids: list[int],
           objects: list[SceneObject], floor: bool, rng: np.random.Generator) -> np.ndarray:
    """Lambert shading with a checkered floor and a little sensor noise, so it reads as a photograph."""
    rays = hits["rays"]
    t = np.where(np.isfinite(hits["t_hit"]), hits["t_hit"], 0.0)[..., None]
    points = rays[..., :3] + t * rays[..., 3:]
    normals = hits["primitive_normals"]
    light = np.array([0.4, -0.5, 0.77])
    light /= np.linalg.norm(light)
    lambert = np.clip(np.abs(normals @ light), 0.0, 1.0)
    albedo = np.zeros((*geom.shape, 3))
    albedo[:] = (0.62, 0.78, 0.95)  # sky
    for i, gid in enumerate(background_ids):
        where = geom == gid
        if i == 0 and floor:
            checker = ((np.floor(points[..., 0] * 2) + np.floor(points[..., 1] * 2)) % 2)[..., None]
            albedo[where] = (0.55 + 0.1 * checker[where]) * np.array([0.85, 0.8, 0.72])
        else:
            albedo[where] = (0.75, 0.72, 0.68)
    for gid, obj in zip(object_ids, objects):
        albedo[geom == gid] = obj.color
    shade = np.where(np.isfinite(hits["t_hit"]), 0.35 + 0.65 * lambert, 1.0)[..., None]
    img = albedo * shade + rng.normal(0.0, 0.012, albedo.shape)
    return (np.clip(img, 0, 1) ** (1 / 1.1) * 255).round().astype(np.uint8)
