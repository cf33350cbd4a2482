"""Facts in the canonical frame: per object an axis-aligned box, per pair the relations.

Definitions (also the ground truth's, computed from the true boxes; see docs/spatialqa.md):
width = extent along the viewer's left-right axis (x), depth = along the forward axis (y),
height = along up (z); positions are box centres; distances are between box centres."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ObjectFacts:
    name: str
    key: int
    box_min: np.ndarray  # canonical frame, metres
    box_max: np.ndarray
    nearest: float = float("nan")  # smallest camera z-depth of the object's points
    top_view_deg: float = 90.0     # elevation of the camera over the object's top, seen from its centre

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


def object_facts(name: str, key: int, canonical_points: np.ndarray, camera_points: np.ndarray,
                 camera_z: float, rests_within: float | None = None) -> ObjectFacts:
    """The box of the points; with `rests_within` (a ground plane was found), an object whose lowest
    point is that close to the ground is taken to stand on it (its floor-level rim was removed).
    `camera_z` is the camera's height in the frame (the top-view angle says whether the object's
    extent in depth was seen at all: near eye level only its front face is)."""
    lo, hi = canonical_points.min(axis=0), canonical_points.max(axis=0)
    if rests_within is not None and lo[2] < rests_within:
        lo[2] = 0.0
    reach = float(np.linalg.norm((lo + hi)[:2] / 2))
    top_view = float(np.degrees(np.arctan2(camera_z - hi[2], reach)))
    return ObjectFacts(name, key, lo, hi, float(camera_points[:, 2].min()), top_view)


# Qualitative categories compare one quantity of A and B: "A is <more> B" means quantity(A) > quantity(B).
QUANTITY = {
    "left_right": lambda o: -float(o.center[0]),   # more to the left
    "above_below": lambda o: float(o.center[2]),   # higher
    "behind_front": lambda o: float(o.center[1]),  # farther from the viewer
    "big_small": lambda o: o.volume,
    "tall_short": lambda o: o.height,
    "wide_thin": lambda o: o.width,
}
RATIO_CATEGORIES = ("big_small", "tall_short", "wide_thin")  # compared by ratio, others by difference


def direct_distance(a: ObjectFacts, b: ObjectFacts) -> float:
    return float(np.linalg.norm(b.center - a.center))


def horizontal_distance(a: ObjectFacts, b: ObjectFacts) -> float:
    return float(np.linalg.norm((b.center - a.center)[:2]))


def vertical_distance(a: ObjectFacts, b: ObjectFacts) -> float:
    return float(abs(b.center[2] - a.center[2]))


def direction_deg(a: ObjectFacts, b: ObjectFacts) -> float:
    """Bearing of B from A on the ground, clockwise from straight ahead, in [0, 360)."""
    dx, dy = (b.center - a.center)[:2]
    return float(np.degrees(np.arctan2(dx, dy)) % 360.0)


def clock_hour(degrees: float) -> int:
    hour = int(np.floor(degrees / 30.0 + 0.5)) % 12
    return 12 if hour == 0 else hour


def measure(category: str, a: ObjectFacts, b: ObjectFacts | None) -> float:
    """The fact behind a question: qualitative -> quantity(A) - quantity(B) (ratio categories: log ratio),
    quantitative -> metres, direction -> degrees."""
    if category in QUANTITY:
        assert b is not None
        qa, qb = QUANTITY[category](a), QUANTITY[category](b)
        if category in RATIO_CATEGORIES:
            return float(np.log(max(qa, 1e-9) / max(qb, 1e-9)))
        return qa - qb
    if category == "width":
        return a.width
    if category == "height":
        return a.height
    assert b is not None
    return {"direct_distance": direct_distance, "horizontal_distance": horizontal_distance,
            "vertical_distance": vertical_distance, "direction": direction_deg}[category](a, b)
