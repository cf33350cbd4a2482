"""What each category measures, in two selectable sets (docs/spatialqa.md compares them):

* `geometric` (default): every position is the centre of the object's box in the canonical frame;
  distances are between box centres (horizontal: on the ground, x and y); bearings round to the nearest
  clock hour.
* `spatialrgpt`: the definitions of SpatialRGPT's data pipeline (osdsynth/processor/prompt.py), in our
  frame: left/right, above/below and bearings from the mean of the seen surface; behind/front from the
  nearest seen point along the forward axis; the direct distance is the mean distance from each surface
  point to the other object's surface; the horizontal distance is the left-right offset of the box centres
  alone; a bearing in (h-1, h] hours clockwise is h o'clock.

Sizes (volume, height, width) and the vertical distance (box centres) are the same in both.
Qualitative facts are quantity(A) - quantity(B) (log ratio for sizes): positive means A has more."""
from __future__ import annotations

from typing import Callable

import numpy as np
from spatialqa_gen.facts import ObjectFacts

DEFINITION_SETS = ("geometric", "spatialrgpt")
QUALITATIVE = ("left_right", "above_below", "behind_front", "big_small", "tall_short", "wide_thin")
RATIO_CATEGORIES = ("big_small", "tall_short", "wide_thin")  # compared by ratio, others by difference

_SIZES: dict[str, Callable[[ObjectFacts], float]] = {
    "big_small": lambda o: o.volume, "tall_short": lambda o: o.height, "wide_thin": lambda o: o.width}
# "A is <more> B" means quantity(A) > quantity(B): more to the left, higher, farther from the viewer, bigger...
QUANTITY: dict[str, dict[str, Callable[[ObjectFacts], float]]] = {
    "geometric": {"left_right": lambda o: -float(o.center[0]), "above_below": lambda o: float(o.center[2]),
                  "behind_front": lambda o: float(o.center[1]), **_SIZES},
    "spatialrgpt": {"left_right": lambda o: -float(o.centroid[0]), "above_below": lambda o: float(o.centroid[2]),
                    "behind_front": lambda o: o.front, **_SIZES},
}


def check(definitions: str) -> str:
    if definitions not in DEFINITION_SETS:
        raise ValueError(f"unknown definitions {definitions!r}: one of {', '.join(DEFINITION_SETS)}")
    return definitions


def position(o: ObjectFacts, definitions: str) -> np.ndarray:
    """Where an object is, for bearings."""
    return o.centroid if definitions == "spatialrgpt" else o.center


def mean_surface_distance(a: ObjectFacts, b: ObjectFacts) -> float:
    """Mean over both surfaces of each point's distance to the other surface."""
    sa, sb = (o.surface if o.surface is not None else o.center[None] for o in (a, b))
    gaps = np.linalg.norm(sa[:, None, :] - sb[None, :, :], axis=2)  # <= 400 x 400: no tree needed
    return float(np.concatenate([gaps.min(axis=1), gaps.min(axis=0)]).mean())


def vertical_offset(a: ObjectFacts, b: ObjectFacts) -> float:
    """Signed: how much higher A's box centre is than B's (both sets)."""
    return float(a.center[2] - b.center[2])


def direction_deg(a: ObjectFacts, b: ObjectFacts, definitions: str = "geometric") -> float:
    """Bearing of B from A on the ground, clockwise from straight ahead, in [0, 360)."""
    dx, dy = (position(b, definitions) - position(a, definitions))[:2]
    return float(np.degrees(np.arctan2(dx, dy)) % 360.0)


def clock_hour(degrees: float, definitions: str = "geometric") -> int:
    """geometric: the nearest hour; spatialrgpt: hour h covers (h - 1, h] hours clockwise."""
    if definitions == "spatialrgpt":
        hour = int(np.ceil(round(degrees, 9) / 30.0)) % 12
    else:
        hour = int(np.floor(degrees / 30.0 + 0.5)) % 12
    return 12 if hour == 0 else hour


def measure(category: str, a: ObjectFacts, b: ObjectFacts | None, definitions: str = "geometric") -> float:
    """The fact behind a question: qualitative -> quantity(A) - quantity(B) (ratio categories: log ratio),
    quantitative -> metres, direction -> degrees."""
    if category in QUALITATIVE:
        assert b is not None
        q = QUANTITY[definitions][category]
        qa, qb = q(a), q(b)
        if category in RATIO_CATEGORIES:
            return float(np.log(max(qa, 1e-9) / max(qb, 1e-9)))
        return qa - qb
    if category == "width":
        return a.width
    if category == "height":
        return a.height
    assert b is not None
    if category == "direct_distance":
        return mean_surface_distance(a, b) if definitions == "spatialrgpt" else \
            float(np.linalg.norm(b.center - a.center))
    if category == "horizontal_distance":
        offset = (b.center - a.center)[:1] if definitions == "spatialrgpt" else (b.center - a.center)[:2]
        return float(np.linalg.norm(offset))
    if category == "vertical_distance":
        return abs(vertical_offset(a, b))
    if category == "direction":
        return direction_deg(a, b, definitions)
    raise ValueError(f"unknown category {category!r}")
