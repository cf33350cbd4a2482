"""Scenes with known geometry, rendered with open3d's CPU ray caster.

World frame = the ground-truth canonical frame: x to the viewer's right, y forward (away from the
viewer, along the camera's heading), z up, origin on the floor below the camera. A floor, a back wall
and a few named boxes/cylinders; a pinhole camera with known intrinsics, pitched down, slightly rolled.
The render gives a shaded RGB picture, exact z-depth, an instance label map and the true boxes.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import open3d as o3d

from spatialqa_gen.types import Intrinsics, Region

# Unique display names, so every rendered object is unambiguous in the text.
OBJECT_KINDS: tuple[tuple[str, str, tuple[float, float, float]], ...] = (
    ("red crate", "box", (0.80, 0.15, 0.12)), ("blue barrel", "cylinder", (0.15, 0.30, 0.80)),
    ("green cabinet", "box", (0.20, 0.60, 0.25)), ("yellow drum", "cylinder", (0.90, 0.80, 0.15)),
    ("white cube", "box", (0.90, 0.90, 0.88)), ("orange bin", "cylinder", (0.95, 0.50, 0.10)),
    ("purple chest", "box", (0.50, 0.20, 0.60)), ("cyan pillar", "cylinder", (0.20, 0.75, 0.80)),
    ("brown dresser", "box", (0.45, 0.30, 0.15)), ("pink vase", "cylinder", (0.95, 0.55, 0.70)),
    ("black speaker", "box", (0.12, 0.12, 0.14)), ("grey bucket", "cylinder", (0.55, 0.55, 0.58)),
)


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


@dataclass
class RenderedScene:
    scene_id: str
    rgb: np.ndarray  # (H, W, 3) uint8
    depth: np.ndarray  # (H, W) float32 metres along the optical axis; 0 where no surface
    labels: np.ndarray  # (H, W) uint8: 0 background, k = objects[k - 1]
    intrinsics: Intrinsics
    camera_to_world: np.ndarray  # (4, 4)
    objects: list[SceneObject]
    regions: list[Region]  # the annotated objects (visible enough); Region.key = label

    def masks(self) -> np.ndarray:
        return np.stack([self.labels == r.key for r in self.regions]) if self.regions else \
            np.zeros((0, *self.labels.shape), bool)


def _camera_pose(height: float, pitch: float, roll: float) -> np.ndarray:
    """Camera-to-world (OpenCV camera axes: x right, y down, z forward), heading along world +y."""
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


def _project(points: np.ndarray, k: Intrinsics, world_to_camera: np.ndarray) -> np.ndarray:
    cam = points @ world_to_camera[:3, :3].T + world_to_camera[:3, 3]
    return np.stack([k.fx * cam[:, 0] / cam[:, 2] + k.cx, k.fy * cam[:, 1] / cam[:, 2] + k.cy, cam[:, 2]], 1)


def _place_objects(rng: np.random.Generator, k: Intrinsics, pose: np.ndarray, width: int, height: int,
                   count: int) -> list[SceneObject]:
    """Random non-intersecting objects fully inside the frame (truncated objects have no usable box)."""
    world_to_camera = np.linalg.inv(pose)
    kinds = rng.permutation(len(OBJECT_KINDS))[:count]
    objects: list[SceneObject] = []
    footprints: list[tuple[np.ndarray, float, float]] = []  # (xy centre, radius, top)
    for idx in kinds:
        name, kind, color = OBJECT_KINDS[idx]
        for _ in range(60):
            w, d = rng.uniform(0.25, 1.1, 2)
            if kind == "cylinder":
                d = w
            h = rng.uniform(0.2, 1.1)
            y = rng.uniform(2.0, 7.5)
            x = rng.uniform(-0.5, 0.5) * y * width / k.fx
            base = np.array([x, y, 0.0])
            radius = 0.5 * np.hypot(w, d)
            stack_on = [f for f in footprints if f[1] > radius and np.linalg.norm(f[0] - base[:2]) < f[1] + radius]
            if stack_on and rng.random() < 0.5 and stack_on[0][2] + h < pose[2, 3] - 0.1:
                base = np.array([*(stack_on[0][0] + rng.uniform(-0.15, 0.15, 2)), stack_on[0][2]])  # on a bigger object
            elif any(np.linalg.norm(f[0] - base[:2]) < f[1] + radius + 0.15 for f in footprints):
                continue
            mesh = _mesh(kind, (w, d, h), rng.uniform(0, np.pi), base)
            verts = np.asarray(mesh.vertices)
            uvz = _project(verts, k, world_to_camera)
            margin = 4
            if (uvz[:, 2] < 0.5).any() or not ((uvz[:, 0] > margin) & (uvz[:, 0] < width - margin)
                                                & (uvz[:, 1] > margin) & (uvz[:, 1] < height - margin)).all():
                continue
            objects.append(SceneObject(name, kind, color, verts.copy(), np.asarray(mesh.triangles).copy()))
            footprints.append((base[:2].copy(), radius, base[2] + h))
            break
    return objects


def _cast(meshes: list[o3d.geometry.TriangleMesh], k: Intrinsics, pose: np.ndarray, width: int,
          height: int) -> tuple[dict[str, np.ndarray], list[int]]:
    scene = o3d.t.geometry.RaycastingScene()
    ids = [scene.add_triangles(o3d.t.geometry.TriangleMesh.from_legacy(m)) for m in meshes]
    rays = o3d.t.geometry.RaycastingScene.create_rays_pinhole(
        o3d.core.Tensor(k.matrix()), o3d.core.Tensor(np.linalg.inv(pose)), width, height)
    hits = {key: value.numpy() for key, value in scene.cast_rays(rays).items()}
    hits["rays"] = rays.numpy()
    return hits, ids


def make_object(name: str, kind: str, size: tuple[float, float, float], yaw: float, base: np.ndarray,
                color: tuple[float, float, float] = (0.6, 0.6, 0.6)) -> SceneObject:
    """A box (size = width, depth, height) or cylinder (diameter, -, height) standing at `base` (x, y, z)."""
    mesh = _mesh(kind, size, yaw, np.asarray(base, float))
    return SceneObject(name, kind, color, np.asarray(mesh.vertices).copy(), np.asarray(mesh.triangles).copy())


def camera(width: int, focal: float, height_m: float, pitch_deg: float, roll_deg: float,
           image_height: int) -> tuple[Intrinsics, np.ndarray]:
    k = Intrinsics(focal, focal, width / 2, image_height / 2)
    return k, _camera_pose(height_m, np.deg2rad(pitch_deg), np.deg2rad(roll_deg))


def render_scene(seed: int, width: int = 640, height: int = 480, min_visible: float = 0.7,
                 min_pixels: int = 300) -> RenderedScene:
    """One random scene (see `render`)."""
    rng = np.random.default_rng(seed)
    f = rng.uniform(0.75, 1.15) * width  # horizontal FOV between ~47 and ~67 degrees
    k = Intrinsics(f, f, width / 2 + rng.uniform(-8, 8), height / 2 + rng.uniform(-8, 8))
    pose = _camera_pose(rng.uniform(1.4, 1.9), np.deg2rad(rng.uniform(8, 28)), np.deg2rad(rng.uniform(-6, 6)))
    objects = _place_objects(rng, k, pose, width, height, int(rng.integers(3, 7)))
    return render(f"scene-{seed:06d}", objects, k, pose, width, height, rng.uniform(10.0, 14.0), rng,
                  min_visible, min_pixels)


def render(scene_id: str, objects: list[SceneObject], k: Intrinsics, pose: np.ndarray, width: int, height: int,
           wall_y: float | None = 12.0, rng: np.random.Generator | None = None, min_visible: float = 0.7,
           min_pixels: int = 300, floor: bool = True) -> RenderedScene:
    """Ray-cast the objects (plus a floor and a back wall at y = wall_y). Objects less than `min_visible`
    unoccluded or under `min_pixels` are left out of the regions (as an annotator would miss them),
    but still rendered."""
    rng = rng or np.random.default_rng(0)
    meshes = []
    if floor:
        meshes.append(o3d.geometry.TriangleMesh.create_box(40.0, 40.0, 0.02).translate((-20.0, -5.0, -0.02)))
    if wall_y is not None:
        meshes.append(o3d.geometry.TriangleMesh.create_box(40.0, 0.1, 3.0).translate((-20.0, wall_y, 0.0)))
    n_background = len(meshes)
    for obj in objects:
        meshes.append(o3d.geometry.TriangleMesh(o3d.utility.Vector3dVector(obj.vertices),
                                                o3d.utility.Vector3iVector(obj.triangles)))
    hits, ids = _cast(meshes, k, pose, width, height)
    geom = hits["geometry_ids"].astype(np.int64)
    t_hit = hits["t_hit"]
    depth = np.where(np.isfinite(t_hit), t_hit, 0.0).astype(np.float32)  # ray directions have unit z (camera)

    labels = np.zeros((height, width), np.uint8)
    for label, gid in enumerate(ids[n_background:], start=1):
        labels[geom == gid] = label

    rgb = _shade(hits, geom, ids[:n_background], ids[n_background:], objects, floor, rng)
    regions: list[Region] = []
    for label, obj in enumerate(objects, start=1):
        visible = int((labels == label).sum())
        if visible < min_pixels:
            continue
        alone, _ = _cast([meshes[n_background + label - 1]], k, pose, width, height)
        if visible < min_visible * np.isfinite(alone["t_hit"]).sum():
            continue
        ys, xs = np.nonzero(labels == label)
        regions.append(Region(obj.name, (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)),
                              obj.name, label))
    return RenderedScene(scene_id, rgb, depth, labels, k, pose, objects, regions)


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


def truth_boxes(scene: RenderedScene) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """label -> (min, max) of the true object's axis-aligned box in the canonical (world) frame."""
    return {label: (obj.box_min, obj.box_max) for label, obj in enumerate(scene.objects, start=1)}
