"""QA text against ground truth: answers right on exact inputs, parse back, both orders, units, abstention."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from spatialqa_gen.accuracy import Perturbation, evaluate, perceive, score_turn, truth_facts
from spatialqa_gen.analysis import SceneFacts, all_turns, analyse, candidates
from spatialqa_gen.facts import ObjectFacts, clock_hour, direction_deg
from spatialqa_gen.frame import FrameConfig, gravity_frame
from spatialqa_gen.naming import name_regions
from spatialqa_gen.qa import (CATEGORIES, QUALITATIVE, QAConfig, make_turn, parse_answer, say_length)
from spatialqa_gen.scene import render_scene
from spatialqa_gen.types import Region


def box(name: str, lo, hi) -> ObjectFacts:
    return ObjectFacts(name, 0, np.array(lo, float), np.array(hi, float))


def test_answers_on_exact_inputs_match_ground_truth() -> None:
    scores = evaluate(12, seed=500, perturbation=None)
    assert set(scores) == set(CATEGORIES)
    qual_ok = sum(scores[c].correct for c in QUALITATIVE)
    qual_n = sum(scores[c].answered for c in QUALITATIVE)
    assert qual_n > 200 and qual_ok / qual_n >= 0.97
    for c in ("direct_distance", "horizontal_distance", "vertical_distance", "width", "height", "direction"):
        assert scores[c].answered >= 10 and scores[c].success >= 0.9, (c, scores[c].success)


def test_every_answer_parses_back_to_what_it_states() -> None:
    rng = np.random.default_rng(1)
    seen = Counter()
    for seed in range(6):
        scene = render_scene(seed)
        facts = analyse(perceive(scene, None, rng))
        for t in all_turns(facts, rng):
            assert parse_answer(t.category, t.answer, t.object_a, t.object_b) == pytest.approx(t.said) \
                if t.said is not None else parse_answer(t.category, t.answer, t.object_a, t.object_b) is None, t
            seen[t.category] += 1
    assert set(seen) == set(CATEGORIES)


def test_wrong_statements_do_not_parse_as_right() -> None:
    with pytest.raises(ValueError):
        parse_answer("left_right", "The red crate is taller than the blue barrel.", "red crate", "blue barrel")
    # a name holding a relation word does not confuse the parser
    assert parse_answer("left_right", "The chair on the left is to the right of the table.",
                        "chair on the left", "table") == -1.0
    assert parse_answer("width", "About 3 feet wide.", "table", "") == pytest.approx(3 * 0.3048)


def test_both_orders_and_both_polarities_occur() -> None:
    big, small = box("big box", [0, 3, 0], [1, 4, 1]), box("small box", [2, 3, 0], [2.3, 3.3, 0.3])
    rng = np.random.default_rng(0)
    facts = SceneFacts(gravity_frame(FrameConfig()), [big, small], {"big box": "box1", "small box": "box2"}, [])
    firsts = Counter(candidates(facts, "big_small", QAConfig(), rng)[0][0].name for _ in range(200))
    assert 60 < firsts["big box"] < 140
    answers = Counter()
    for _ in range(200):
        t = make_turn("big_small", big, small, rng)
        answers["yes" if t.answer.startswith(("Yes", "Correct")) else "no" if t.answer.startswith(("No", "Not"))
                else "which"] += 1
        assert t.said == 1.0  # the big box is always stated as the bigger one
    assert min(answers.values()) > 20


def test_abstains_when_too_close_to_call() -> None:
    a, b = box("left pot", [0, 3, 0], [0.5, 3.5, 0.5]), box("right pot", [1, 3, 0], [1.52, 3.5, 0.51])
    rng = np.random.default_rng(0)
    for cat in ("tall_short", "above_below", "behind_front", "big_small"):
        t = make_turn(cat, a, b, rng)
        assert t.said is None and parse_answer(cat, t.answer, t.object_a, t.object_b) is None, t
    assert make_turn("left_right", a, b, rng).said is not None


def test_height_is_answered_with_height_and_width_with_width() -> None:
    flat = box("bench", [0, 3, 0], [1.6, 3.4, 0.45])
    rng = np.random.default_rng(0)
    for _ in range(20):
        assert make_turn("height", flat, None, rng).said == pytest.approx(0.45, rel=0.06)
        assert make_turn("width", flat, None, rng).said == pytest.approx(1.6, rel=0.06)


def test_units_as_people_speak() -> None:
    rng = np.random.default_rng(0)
    small = {say_length(0.42, rng, QAConfig())[2] for _ in range(50)}
    large = {say_length(2.5, rng, QAConfig())[2] for _ in range(50)}
    assert small == {"cm", "centimeters", "inches"} and large == {"meters", "feet"}
    text, said, unit = say_length(0.425, np.random.default_rng(3), QAConfig())
    assert said == pytest.approx(0.425, rel=0.05) and parse_answer("width", text, "x", "") == pytest.approx(said)


def test_clock_directions() -> None:
    a = box("a", [0, 0, 0], [0.2, 0.2, 0.2])
    for (dx, dy), hour in {(0, 2): 12, (2, 0): 3, (0, -2): 6, (-2, 0): 9, (1, 1.732): 1, (-0.2, 2): 12}.items():
        b = box("b", [dx, dy, 0], [dx + 0.2, dy + 0.2, 0.2])
        assert clock_hour(direction_deg(a, b)) == hour


def test_score_turn_uses_benchmark_bands() -> None:
    a, b = box("a", [0, 0, 0], [1, 1, 1]), box("b", [3, 0, 0], [4, 1, 1])
    t = make_turn("direct_distance", a, b, np.random.default_rng(0))
    assert score_turn(t, a, b)[0]
    far = box("b", [4.5, 0, 0], [5.5, 1, 1])  # truth 4.5 m, said 3 m: -33%
    ok, rel = score_turn(t, a, far)
    assert not ok and rel == pytest.approx(1.5 / 4.5, rel=0.05)


def test_duplicate_classes_named_apart_or_skipped() -> None:
    regions = [Region("chair", (10, 10, 50, 80)), Region("chair", (200, 10, 260, 90)), Region("table", (0, 0, 5, 5)),
               Region("cup", (0, 0, 10, 10)), Region("cup", (5, 0, 15, 10))]
    names = [r.name for r in name_regions(regions)]
    assert names == ["chair on the left", "chair on the right", "table"]


def test_perturbed_inputs_stay_mostly_right() -> None:
    scores = evaluate(6, seed=900, perturbation=Perturbation())
    answered = sum(s.answered for s in scores.values())
    correct = sum(s.correct for s in scores.values())
    assert answered > 100 and correct / answered > 0.85


def test_truth_facts_are_the_true_boxes() -> None:
    scene = render_scene(4)
    truth = truth_facts(scene)
    for label, obj in enumerate(scene.objects, start=1):
        assert np.allclose(truth[label].box_min, obj.box_min) and truth[label].box_min[2] >= -1e-9
