"""The two definition sets where they differ (docs/spatialqa.md), and the choice recorded in the facts."""
from __future__ import annotations

import numpy as np
import pytest

from spatialqa_gen.accuracy import perceive
from spatialqa_gen.analysis import AnalysisConfig, all_turns, analyse
from spatialqa_gen.definitions import clock_hour, direction_deg, measure
from spatialqa_gen.facts import ObjectFacts, surface_sample
from spatialqa_gen.scene_gen import render_scene


def solid(name: str, lo, hi, step: float = 0.05) -> ObjectFacts:
    """A box whose seen surface is its front face (y = lo[1]) and its top (z = hi[2])."""
    lo, hi = np.array(lo, float), np.array(hi, float)
    xs, ys, zs = (np.arange(lo[i], hi[i] + 1e-9, step) for i in range(3))
    front = np.stack(np.meshgrid(xs, [lo[1]], zs), -1).reshape(-1, 3)
    top = np.stack(np.meshgrid(xs, ys, [hi[2]]), -1).reshape(-1, 3)
    return ObjectFacts(name, 0, lo, hi, surface_sample(np.concatenate([front, top])))


def test_horizontal_distance_spatialrgpt_is_the_left_right_offset() -> None:
    a, b = solid("a", [0, 2, 0], [0.4, 2.4, 0.4]), solid("b", [0.3, 5, 0], [0.7, 5.4, 0.4])
    assert measure("horizontal_distance", a, b, "geometric") == pytest.approx(np.hypot(0.3, 3.0))
    assert measure("horizontal_distance", a, b, "spatialrgpt") == pytest.approx(0.3)


def test_behind_by_nearest_point_or_by_centre() -> None:
    """A long bench starts nearer than a small box but reaches far behind it."""
    bench, box = solid("bench", [0, 2.0, 0], [0.5, 6.0, 0.4]), solid("box", [1, 2.6, 0], [1.4, 3.0, 0.4])
    assert measure("behind_front", bench, box, "geometric") > 0    # its centre is farther
    assert measure("behind_front", bench, box, "spatialrgpt") < 0  # its nearest point is nearer


def test_direct_distance_between_centres_or_surfaces() -> None:
    a, b = solid("a", [0, 3, 0], [1, 4, 1]), solid("b", [1.0, 3, 0], [2, 4, 1])  # touching side by side
    assert measure("direct_distance", a, b, "geometric") == pytest.approx(1.0)
    assert measure("direct_distance", a, b, "spatialrgpt") < 0.6  # mean point-to-surface distance


def test_clock_binning() -> None:
    a = solid("a", [0, 0, 0], [0.2, 0.2, 0.2])
    right_of_ahead = solid("b", [0.35, 2, 0], [0.55, 2.2, 0.2])  # ~10 degrees clockwise
    degrees = direction_deg(a, right_of_ahead)
    assert 5 < degrees < 15
    assert clock_hour(degrees, "geometric") == 12 and clock_hour(degrees, "spatialrgpt") == 1
    assert clock_hour(350.0, "geometric") == 12 and clock_hour(350.0, "spatialrgpt") == 12
    assert clock_hour(0.0, "spatialrgpt") == 12 and clock_hour(30.0, "spatialrgpt") == 1


def test_definition_set_is_recorded_and_checked() -> None:
    p = perceive(render_scene(3), None, np.random.default_rng(0))
    facts = analyse(p, AnalysisConfig(definitions="spatialrgpt"))
    assert facts.definitions == "spatialrgpt" and all(o.surface is not None for o in facts.objects)
    assert all_turns(facts, np.random.default_rng(0))
    with pytest.raises(ValueError, match="unknown definitions"):
        analyse(p, AnalysisConfig(definitions="nearest"))
