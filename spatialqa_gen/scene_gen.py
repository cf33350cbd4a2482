"""Random scenes by seed, drawn to cover what photographs have: objects hidden behind others and cut by
the image border, cameras pitched 0-60° down and rolled up to ±15°, walls at any angle to the view
(camera yaw), objects stacked on others and standing on tables, thin poles and planks (4-15 cm), and
rooms whose walls are so near that little floor shows.

`render_scene(seed)` renders one (the same seed always gives the same scene); `scene_with_truth(seed)`
adds its exact ground truth per object (`truth`). Seed ranges in use (docs/spatialqa.md): scene pools
for the sample and for training from 0, the accuracy report from 1,000,000; held-out evaluation takes
seeds from 2,000,000 on."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spatialqa_gen.scene import RenderedScene, Room, SceneObject, camera_pose, make_object, render
from spatialqa_gen.truth import ObjectTruth, object_truths
from spatialqa_gen.types import Intrinsics

REPORT_SEED = 1_000_000      # first seed of the accuracy report's scenes
HELD_OUT_SEED = 2_000_000    # first seed reserved for held-out evaluation

# (display name, mesh kind, shape class, colour); names are unique, so every object is unambiguous in the text
CATALOGUE: tuple[tuple[str, str, str, tuple[float, float, float]], ...] = (
    ("red crate", "box", "solid", (0.80, 0.15, 0.12)), ("blue barrel", "cylinder", "solid", (0.15, 0.30, 0.80)),
    ("green cabinet", "box", "solid", (0.20, 0.60, 0.25)), ("yellow drum", "cylinder", "solid", (0.90, 0.80, 0.15)),
    ("white cube", "box", "solid", (0.90, 0.90, 0.88)), ("orange bin", "cylinder", "solid", (0.95, 0.50, 0.10)),
    ("purple chest", "box", "solid", (0.50, 0.20, 0.60)), ("cyan pillar", "cylinder", "solid", (0.20, 0.75, 0.80)),
    ("brown dresser", "box", "solid", (0.45, 0.30, 0.15)), ("pink vase", "cylinder", "solid", (0.95, 0.55, 0.70)),
    ("black speaker", "box", "solid", (0.12, 0.12, 0.14)), ("grey bucket", "cylinder", "solid", (0.55, 0.55, 0.58)),
    ("silver pole", "cylinder", "pole", (0.75, 0.75, 0.78)), ("black post", "box", "pole", (0.10, 0.10, 0.10)),
    ("white pipe", "cylinder", "pole", (0.95, 0.95, 0.95)), ("wooden plank", "box", "plank", (0.65, 0.45, 0.25)),
    ("grey board", "box", "plank", (0.45, 0.47, 0.50)), ("wooden table", "box", "table", (0.55, 0.35, 0.20)),
    ("grey desk", "box", "table", (0.40, 0.40, 0.42)),
)


@dataclass(frozen=True)
class _Placed:
    obj: SceneObject
    xy: np.ndarray
    radius: float
    bottom: float
    top: float
    shape: str


def _size(shape: str, kind: str, rng: np.random.Generator) -> tuple[float, float, float]:
    if shape == "pole":
        w = rng.uniform(0.04, 0.15)
        return w, w, rng.uniform(0.6, 1.9)
    if shape == "plank":
        return rng.uniform(0.4, 1.2), rng.uniform(0.04, 0.15), rng.uniform(0.4, 1.6)
    if shape == "table":
        return rng.uniform(0.8, 1.6), rng.uniform(0.6, 0.9), rng.uniform(0.7, 0.8)
    w, d = rng.uniform(0.2, 1.1, 2)
    return w, (w if kind == "cylinder" else d), rng.uniform(0.15, 1.2)


def _ground_hit(u: float, v: float, k: Intrinsics, pose: np.ndarray) -> np.ndarray | None:
    """Where the ray through pixel (u, v) meets the floor (x, y), or None above the horizon."""
    ray = pose[:3, :3] @ np.array([(u - k.cx) / k.fx, (v - k.cy) / k.fy, 1.0])
    if ray[2] > -1e-3:
        return None
    t = -pose[2, 3] / ray[2]
    return (pose[:3, 3] + t * ray)[:2]


def _in_view(obj: SceneObject, k: Intrinsics, pose: np.ndarray, width: int, height: int) -> bool:
    """In front of the camera (no vertex nearer than 0.3 m) and at least partly inside the picture."""
    cam = (obj.vertices - pose[:3, 3]) @ pose[:3, :3]
    if (cam[:, 2] < 0.3).any():
        return False
    u, v = k.fx * cam[:, 0] / cam[:, 2] + k.cx, k.fy * cam[:, 1] / cam[:, 2] + k.cy
    return bool(u.max() > 0 and u.min() < width and v.max() > 0 and v.min() < height)


def _collides(xy: np.ndarray, radius: float, bottom: float, top: float, placed: list[_Placed],
              support: _Placed | None) -> bool:
    for p in placed:
        if p is support:
            continue
        if np.linalg.norm(p.xy - xy) < p.radius + radius + 0.05 and bottom < p.top and p.bottom < top:
            return True
    return False


def _place(rng: np.random.Generator, k: Intrinsics, pose: np.ndarray, room: Room, width: int, height: int,
           entries: list[tuple[str, str, str, tuple[float, float, float]]]) -> list[SceneObject]:
    """Objects on the floor where the camera looks (the border may cut them), some behind others (so
    that they are partly hidden), some stacked on boxes and tables."""
    cam_h = float(pose[2, 3])
    placed: list[_Placed] = []
    for name, kind, shape, color in entries:
        for _ in range(80):
            w, d, h = _size(shape, kind, rng)
            radius = 0.5 * float(np.hypot(w, d))
            supports = [p for p in placed if p.shape in ("solid", "table") and p.radius > 0.6 * radius
                        and p.top + h < cam_h - 0.2]
            support = None
            mode = rng.random()
            if shape != "table" and supports and mode < 0.25:
                support = supports[int(rng.integers(len(supports)))]
                xy = support.xy + rng.uniform(-0.4, 0.4, 2) * support.radius
                bottom = support.top
            elif placed and mode < 0.45:
                ref = placed[int(rng.integers(len(placed)))]
                away = ref.xy / max(float(np.linalg.norm(ref.xy)), 1e-6)
                side = np.array([away[1], -away[0]])
                xy = ref.xy + away * (ref.radius + radius + rng.uniform(0.1, 1.2)) \
                    + side * rng.uniform(-0.6, 0.6) * (ref.radius + radius)
                bottom = 0.0
            else:
                hit = _ground_hit(rng.uniform(0.05, 0.95) * width, rng.uniform(0.4, 0.95) * height, k, pose)
                if hit is None or np.linalg.norm(hit) > 9.0:
                    continue
                xy, bottom = hit, 0.0
            top = bottom + h
            if not room.inside(xy, radius) or np.linalg.norm(xy) < radius + 1.0 or \
                    _collides(xy, radius, bottom, top, placed, support):
                continue
            obj = make_object(name, kind, (w, d, h), rng.uniform(0, np.pi), np.array([xy[0], xy[1], bottom]), color)
            if not _in_view(obj, k, pose, width, height):
                continue
            placed.append(_Placed(obj, xy, radius, bottom, top, shape))
            break
    return [p.obj for p in placed]


def render_scene(seed: int, width: int = 640, height: int = 480) -> RenderedScene:
    """One random scene: camera 1-2 m high, pitched 0-60° down (median 20°), rolled ±15°, horizontal FOV ~47-67°;
    3-7 objects (a quarter of them thin, sometimes a table first); a back wall, often a side wall,
    turned ±35° to the view, a quarter of the rooms so small that little floor shows."""
    rng = np.random.default_rng(seed)
    f = rng.uniform(0.75, 1.15) * width
    k = Intrinsics(f, f, width / 2 + rng.uniform(-8, 8), height / 2 + rng.uniform(-8, 8))
    pose = camera_pose(rng.uniform(1.0, 2.0), np.deg2rad(60.0 * rng.uniform() ** 1.6), np.deg2rad(rng.uniform(-15, 15)))
    near = rng.random() < 0.25
    room = Room(wall_distance=rng.uniform(2.0, 4.0) if near else rng.uniform(6.0, 14.0),
                side_wall=float(rng.choice([-1, 1]) * rng.uniform(1.5, 4.0)) if rng.random() < 0.5 else None,
                yaw_deg=rng.uniform(-35, 35))
    by_shape = {s: [c for c in CATALOGUE if c[2] == s] for s in ("solid", "pole", "plank", "table")}
    entries = []
    if rng.random() < 0.35:
        entries.append(by_shape["table"][int(rng.integers(len(by_shape["table"])))])
    for _ in range(int(rng.integers(3, 8)) - len(entries)):
        shape = "solid" if rng.random() < 0.75 else str(rng.choice(["pole", "plank"]))
        free = [c for c in by_shape[shape] if c not in entries] or [c for c in by_shape["solid"] if c not in entries]
        entries.append(free[int(rng.integers(len(free)))])
    objects = _place(rng, k, pose, room, width, height, entries)
    return render(f"scene-{seed:06d}", objects, k, pose, width, height, room, rng)


def scene_with_truth(seed: int, width: int = 640, height: int = 480) -> tuple[RenderedScene, dict[int, ObjectTruth]]:
    """A random scene and, per object label, its exact ground truth (box, seen surface, visibility)."""
    scene = render_scene(seed, width, height)
    return scene, object_truths(scene)
