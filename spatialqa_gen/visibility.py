"""How much of an object's outline the picture really shows: occlusion and truncation per side.

An extent is only as good as the outline it is measured from. For each side of the mask (left, right,
top, bottom) we look at the outermost mask pixel of every row (left/right) or column (top/bottom): the
side is hidden there when that pixel lies on the image border (truncation) or when, just outside it, a
surface is markedly nearer than the object just inside it (occlusion: something stands in front).
The floor never hides anything standing on it, so pixels on the ground plane are not counted as
occluders (without this, the floor in front of a far object would read as nearer at its base).

Both sides of the step are medians over `ring_px` pixels (the first inside the mask, the first outside):
robust to depth noise, and a mask that spills two pixels over the occluder, or stops two pixels short of
it, still sees the step. A pixel of another boxed object counts as an occluder when it
is nearer by a small margin (the two touch in the image: the nearer one hides the other); any other
surface must be nearer by the larger margin, above depth noise.

Image sides are not the canonical axes: looking down steeply, a vertical edge runs towards the image's
nadir, sideways near the image's borders. `along_axes` turns the sides into a hidden share per
canonical axis (x, y, z) from the direction each axis takes in the image at the object, and marks the
axis wholly hidden when either end of the outline along that direction is mostly hidden."""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from spatialqa_gen.frame import CanonicalFrame
from spatialqa_gen.types import Intrinsics, mask_bounds

SIDES = ("left", "right", "top", "bottom")
AXES = ("x", "y", "z")
_SIN_20 = float(np.sin(np.deg2rad(20.0)))  # an axis this far off an image side involves that side
_END_PX = 2.0                               # outline pixels this close to an axis's extreme make its end


@dataclass(frozen=True)
class VisibilityConfig:
    ring_px: int = 6
    nearer_abs_m: float = 0.12   # "markedly nearer": by this much ...
    nearer_rel: float = 0.04     # ... or this share of the object's depth, whichever is larger
    touching_abs_m: float = 0.03  # another boxed object hides this one when nearer by this much ...
    touching_rel: float = 0.02    # ... plus this share of the depth
    floor_abs_m: float = 0.05    # pixels this close to the ground plane are floor ...
    floor_rel: float = 0.03      # ... (or this share of their depth: depth noise grows with distance)


@dataclass(frozen=True)
class Visibility:
    """Per side (left, right, top, bottom): the share of its outermost pixels that are hidden
    (cut by the border or next to a nearer surface); over all sides, the shares occluded and cut; per
    canonical axis (x, y, z), the largest hidden share of the sides the axis runs towards (1 when an end
    along it is mostly hidden) and how many pixels the object's extent spans along it."""

    sides: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    occluded: float = 0.0
    truncated: float = 0.0
    axes: tuple[float, float, float] = (0.0, 0.0, 0.0)
    pixels: tuple[float, float, float] = (np.inf, np.inf, np.inf)  # image length of the extent along x, y, z
    # the outermost pixels of every row and column (image x, y) and whether each is hidden
    outline: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)), compare=False, repr=False)
    outline_hidden: np.ndarray = field(default_factory=lambda: np.zeros(0, bool), compare=False, repr=False)

    def hidden(self, axes: str) -> float:
        """The largest hidden share along the named canonical axes ("xz": x and z)."""
        return max(self.axes[AXES.index(a)] for a in axes)

    def resolution(self, axes: str) -> float:
        """The fewest pixels the object's extent spans along the named axes."""
        return min(self.pixels[AXES.index(a)] for a in axes)


def _extremes(mask: np.ndarray, reverse: bool) -> tuple[np.ndarray, np.ndarray]:
    """For every row holding mask pixels: the row index and the column of its first pixel (last one
    with `reverse`)."""
    rows = np.nonzero(mask.any(axis=1))[0]
    m = mask[rows]
    cols = m.shape[1] - 1 - np.argmax(m[:, ::-1], axis=1) if reverse else np.argmax(m, axis=1)
    return rows, cols


def _median(values: np.ndarray) -> np.ndarray:
    """Per row, the median of the finite values (inf where there is none)."""
    v = np.sort(values, axis=1)
    count = np.isfinite(v).sum(axis=1)
    rows = np.arange(len(v))
    lo, hi = v[rows, np.maximum(count - 1, 0) // 2], v[rows, np.maximum(count, 1) // 2 - (count == 0)]
    return np.where(count > 0, (lo + hi) / 2, np.inf)


def _side(depth: np.ndarray, mask: np.ndarray, others: np.ndarray, k: Intrinsics, frame: CanonicalFrame | None,
          config: VisibilityConfig, transpose: bool, reverse: bool, at_border: bool
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For one side of the mask: its outermost pixels (x, y in the crop) and, for each, whether it is
    occluded and whether it is on the image border (`at_border`: this crop edge is the image's)."""
    d, m, o = (depth.T, mask.T, others.T) if transpose else (depth, mask, others)
    lines, cols = _extremes(m, reverse)
    xy = np.stack([lines, cols] if transpose else [cols, lines], axis=1).astype(np.float64)
    if len(lines) == 0:
        return xy, np.zeros(0, bool), np.zeros(0, bool)
    step = -1 if reverse else 1       # inwards
    n = m.shape[1]
    cut = ((cols == n - 1) if reverse else (cols == 0)) & at_border
    r = np.arange(1, config.ring_px + 1)
    inside = np.clip(cols[:, None] + step * (r - 1), 0, n - 1)
    outside = cols[:, None] - step * r
    valid_out = (outside >= 0) & (outside < n)
    outside = np.clip(outside, 0, n - 1)
    rows = lines[:, None]
    d_in = _median(np.where(m[rows, inside] & (d[rows, inside] > 0), d[rows, inside], np.inf))
    d_out = np.where(valid_out & ~m[rows, outside] & (d[rows, outside] > 0), d[rows, outside], np.inf)
    if frame is not None and frame.camera_height is not None:
        ys, xs = (outside, np.broadcast_to(rows, outside.shape)) if transpose else \
            (np.broadcast_to(rows, outside.shape), outside)
        z = np.where(np.isfinite(d_out), d_out, 0.0)
        cam = np.stack([(xs + 0.5 - k.cx) * z / k.fx, (ys + 0.5 - k.cy) * z / k.fy, z], axis=-1)
        height = frame.to_canonical(cam.reshape(-1, 3))[:, 2].reshape(z.shape)
        d_out = np.where(height < config.floor_abs_m + config.floor_rel * z, np.inf, d_out)
    d_in = np.where(np.isfinite(d_in), d_in, 0.0)  # no valid depth inside: nothing can be nearer
    margin = np.maximum(config.nearer_abs_m, config.nearer_rel * d_in)
    touching = config.touching_abs_m + config.touching_rel * d_in
    by_object = _median(np.where(o[rows, outside], d_out, np.inf)) < d_in - touching
    occluded = ((_median(d_out) < d_in - margin) | by_object) & ~cut
    return xy, occluded, cut


def visibility(depth: np.ndarray, mask: np.ndarray, k: Intrinsics, frame: CanonicalFrame | None = None,
               config: VisibilityConfig = VisibilityConfig(), others: np.ndarray | None = None) -> Visibility:
    """Sides of one mask; `others` marks the pixels of the other boxed objects."""
    bounds = mask_bounds(mask)
    if bounds is None:
        return Visibility((1.0, 1.0, 1.0, 1.0), 1.0, 0.0)
    h, w = mask.shape
    r = config.ring_px
    y0, y1, x0, x1 = max(bounds[0] - r, 0), min(bounds[1] + r, h), max(bounds[2] - r, 0), min(bounds[3] + r, w)
    crop = Intrinsics(k.fx, k.fy, k.cx - x0, k.cy - y0)
    d, m = depth[y0:y1, x0:x1].astype(np.float64), mask[y0:y1, x0:x1]
    o = others[y0:y1, x0:x1] if others is not None else np.zeros_like(m)
    # a crop edge that is not the image border is never the outermost pixel (the ring keeps it inside)
    border = [x0 == 0, x1 == w, y0 == 0, y1 == h]
    sides = [_side(d, m, o, crop, frame, config, transpose, reverse, at_border)
             for (transpose, reverse), at_border in zip(((False, False), (False, True), (True, False), (True, True)),
                                                        border)]
    shares = tuple(float((occ | cut).mean()) if len(occ) else 1.0 for _, occ, cut in sides)
    occluded = np.concatenate([occ for _, occ, _ in sides])
    cut = np.concatenate([c for _, _, c in sides])
    outline = np.concatenate([xy for xy, _, _ in sides]) + (x0, y0)
    # an outline pixel on the border is where the object leaves the picture, whichever side it extremes
    on_border = (outline[:, 0] == 0) | (outline[:, 0] == w - 1) | (outline[:, 1] == 0) | (outline[:, 1] == h - 1)
    return Visibility(shares, float(occluded.mean()), float(cut.mean()),
                      outline=outline, outline_hidden=occluded | on_border)


def _end_hidden(v: Visibility, direction: np.ndarray) -> bool:
    """Whether either end of the outline along an image direction is mostly hidden (a thin pole whose
    top leaves the picture has few columns there, but its top end is all on the border)."""
    if len(v.outline) == 0:
        return True
    along = v.outline @ direction
    ends = (along >= along.max() - _END_PX, along <= along.min() + _END_PX)
    return any(float(v.outline_hidden[end].mean()) > 0.5 for end in ends)


def along_axes(v: Visibility, frame: CanonicalFrame, k: Intrinsics, centre: np.ndarray, size: np.ndarray
               ) -> Visibility:
    """`v` with, per canonical axis, its hidden share and the image length of the object's extent, for an
    object whose box (canonical size `size`) is centred at `centre` (camera frame)."""
    def pixel(p: np.ndarray) -> np.ndarray:
        return np.array([k.fx * p[0] / p[2] + k.cx, k.fy * p[1] / p[2] + k.cy])

    hidden, pixels = [], []
    for axis, extent in zip(frame.rotation, size):  # right, forward, up in camera coordinates
        half = 0.5 * max(float(extent), 0.05) * axis
        tip, tail = centre + half, centre - half
        if min(tip[2], tail[2]) <= 0.05:
            hidden.append(max(v.sides))
            pixels.append(0.0)
            continue
        step = pixel(tip) - pixel(tail)
        length = float(np.linalg.norm(step))
        du, dv = step / max(length, 1e-9)
        sides = ([0, 1] if abs(du) > _SIN_20 else []) + ([2, 3] if abs(dv) > _SIN_20 else [])
        hidden.append(1.0 if _end_hidden(v, np.array([du, dv])) else max(v.sides[i] for i in sides))
        pixels.append(length * float(extent) / max(float(extent), 0.05))
    return replace(v, axes=(hidden[0], hidden[1], hidden[2]), pixels=(pixels[0], pixels[1], pixels[2]))
