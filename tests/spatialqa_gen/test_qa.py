"""QA text against ground truth and against what a model should learn: answers right on exact inputs,
every answer parses back, both orders, no non-answers, no needless viewpoint caveat, "higher" only for a
raised object, numbers as people say them, category balance."""
from __future__ import annotations

import re
from collections import Counter

import numpy as np
import pytest

from spatialqa_gen.accuracy import Perturbation, evaluate, perceive, score_turn
from spatialqa_gen.analysis import SceneFacts, all_turns, analyse, candidates, select_turns
from spatialqa_gen.definitions import QUALITATIVE
from spatialqa_gen.facts import ObjectFacts
from spatialqa_gen.frame import untrusted_frame
from spatialqa_gen.naming import name_regions
from spatialqa_gen.qa import (CATEGORIES, VIEW_DEPENDENT, QAConfig, make_turn, parse_answer, parse_order, say_length,
                              why_not)
from spatialqa_gen.scene_gen import render_scene
from spatialqa_gen.types import Region
from spatialqa_gen.visibility import Visibility


def box(name: str, lo, hi, visibility: Visibility = Visibility()) -> ObjectFacts:
    return ObjectFacts(name, 0, np.array(lo, float), np.array(hi, float), visibility=visibility)


def scene_of(*objects: ObjectFacts) -> SceneFacts:
    frame = untrusted_frame()  # the QA layer never reads the frame; analyse() would not emit this one
    return SceneFacts(frame, list(objects), {o.name: o.name for o in objects}, [])


def test_answers_on_exact_inputs_match_ground_truth() -> None:
    [(_, ev)] = evaluate(12, seed=500, definitions=("geometric",), conditions=("exact",)).items()
    assert set(ev.all) == set(CATEGORIES)
    for group, floor in ((QUALITATIVE, 0.97), (tuple(c for c in CATEGORIES if c not in QUALITATIVE), 0.9)):
        asked = sum(ev.all[c].asked for c in group)
        assert asked > 50 and sum(ev.all[c].correct for c in group) / asked >= floor, group


def test_every_answer_parses_back_to_what_it_states() -> None:
    rng = np.random.default_rng(1)
    seen = Counter()
    for seed in range(14):
        scene = render_scene(seed)
        facts = analyse(perceive(scene, None, rng))
        for t in all_turns(facts, rng):
            assert parse_answer(t.category, t.answer, t.object_a, t.object_b) == pytest.approx(t.said), t
            assert parse_order(t.answer, t.object_a, t.object_b) == t.order, t
            seen[t.category] += 1
    assert set(seen) == set(CATEGORIES)


def test_wrong_statements_do_not_parse_as_right() -> None:
    with pytest.raises(ValueError):
        parse_answer("left_right", "The red crate is taller than the blue barrel.", "red crate", "blue barrel")
    # a name holding a relation word does not confuse the parser
    assert parse_answer("left_right", "The chair on the left is to the right of the table.",
                        "chair on the left", "table") == -1.0
    assert parse_answer("width", "About 3 feet wide.", "table", "") == pytest.approx(3 * 0.3048)
    assert parse_answer("height", "The lamp is about 1 meter tall.", "lamp", "") == pytest.approx(1.0)
    assert parse_order("The lamp is about 30 cm higher than the table.", "table", "lamp") == -1


def test_both_orders_and_both_polarities_occur() -> None:
    big, small = box("big box", [0, 3, 0], [1, 4, 1]), box("small box", [2, 3, 0], [2.3, 3.3, 0.3])
    rng = np.random.default_rng(0)
    facts = scene_of(big, small)
    firsts = Counter(candidates(facts, "big_small", QAConfig(), rng)[0][0].name for _ in range(200))
    assert 60 < firsts["big box"] < 140
    answers = Counter()
    for _ in range(200):
        t = make_turn("big_small", big, small, rng)
        answers["yes" if t.answer.startswith(("Yes", "Correct")) else "no" if t.answer.startswith(("No", "Not"))
                else "which"] += 1
        assert t.said == 1.0  # the big box is always stated as the bigger one
    assert min(answers.values()) > 20


def test_too_close_to_call_is_not_asked_and_nothing_abstains() -> None:
    """A yes/no question always gets a yes or a no that states the relation; a pair too close to call in
    a category is not asked in it (the old generator answered "hard to say which")."""
    a, b = box("left pot", [0, 3, 0], [0.5, 3.5, 0.5]), box("right pot", [1, 3, 0], [1.52, 3.5, 0.51])
    for cat in ("tall_short", "above_below", "behind_front", "big_small"):
        assert why_not(cat, a, b, QAConfig()) == "too_close", cat
    assert why_not("left_right", a, b, QAConfig()) is None
    rng = np.random.default_rng(0)
    for seed in range(4):
        for t in all_turns(analyse(perceive(render_scene(seed), None, rng)), rng):
            assert not re.search(r"too close to call|hard to say", t.answer, re.IGNORECASE), t.answer
            if t.category in QUALITATIVE and t.question.startswith(("Is ", "Would ", "Can ")):
                assert t.answer.startswith(("Yes", "Correct", "No", "Not quite")), t.answer


def test_viewpoint_caveat_only_where_the_definition_depends_on_the_view() -> None:
    a, b = box("red crate", [-1, 3, 0], [0, 4, 1.2]), box("blue barrel", [1, 5, 0], [1.4, 5.4, 0.4])
    rng = np.random.default_rng(0)
    caveats = Counter()
    for _ in range(300):
        for cat in QUALITATIVE:
            t = make_turn(cat, a, b, rng)
            caveats[cat] += bool(re.search(r"viewpoint|seen from the camera", t.answer))
    assert all(caveats[c] == 0 for c in QUALITATIVE if c not in VIEW_DEPENDENT), caveats
    assert all(caveats[c] > 0 for c in VIEW_DEPENDENT), caveats


def test_higher_only_of_a_raised_object_and_from_one_signed_fact() -> None:
    floor_a, floor_b = box("tall cabinet", [0, 3, 0], [0.6, 3.5, 1.4]), box("low crate", [1, 3, 0], [1.5, 3.5, 0.4])
    shelf = box("vase on a shelf", [2, 3, 1.0], [2.2, 3.2, 1.3])
    rng = np.random.default_rng(0)
    for _ in range(100):
        t = make_turn("vertical_distance", floor_a, floor_b, rng)  # both stand on the floor
        assert t.order == 0 and "higher" not in t.answer, t.answer
    ordered = [make_turn("vertical_distance", floor_b, shelf, rng) for _ in range(100)]
    ordered = [t for t in ordered if t.order]
    assert ordered, "a raised vase gets 'how much higher' questions"
    for t in ordered:
        assert t.order == -1 and t.answer.startswith("The vase on a shelf")  # B (the vase) is the higher one
        assert t.said == pytest.approx(abs(t.fact), abs=0.01)
        assert parse_order(t.answer, t.object_a, t.object_b) == t.order


def test_numbers_as_people_say_them() -> None:
    rng = np.random.default_rng(0)
    said = Counter()
    for metres in np.linspace(0.05, 12.0, 400):
        for _ in range(3):
            text, value, unit = say_length(float(metres), rng, QAConfig())
            said[text] += 1
            unspoken = r"\.0 |(?<![\d.])1 (meters|feet|inches|centimeters)\b|\b100 (cm|centimeters)"
            assert not re.search(unspoken, text), text
            assert value == pytest.approx(metres, rel=0.06, abs=0.013), (metres, text)
            assert parse_answer("width", f"About {text} wide.", "x", "") == pytest.approx(value)
    assert "1 meter" in said and any(t.endswith("inches") for t in said) and any(t.endswith("feet") for t in said)
    small = {say_length(0.42, rng, QAConfig())[2] for _ in range(50)}
    large = {say_length(2.5, rng, QAConfig())[2] for _ in range(50)}
    assert small == {"cm", "centimeters", "inches"} and large == {"meters", "feet"}


def test_qualitative_categories_within_2x_of_each_other() -> None:
    """big/small used to be asked for 138 of 1,096 pairs: now a hidden part excludes only the object
    it could make look smaller, and the category balance holds over a shard."""
    balance: Counter = Counter()
    for seed in range(30):
        facts = analyse(perceive(render_scene(seed), None, np.random.default_rng(seed)), seed=seed)
        select_turns(facts, 4, np.random.default_rng(seed), balance)
    counts = [balance[c] for c in QUALITATIVE]
    assert min(counts) > 0 and max(counts) <= 2 * min(counts), balance


def test_hidden_outline_rules() -> None:
    hidden_right = Visibility(axes=(0.4, 0.0, 0.0))
    whole, cut = box("crate", [0, 3, 0], [1, 4, 1]), box("post", [2, 3, 0], [2.3, 3.3, 1.5], hidden_right)
    assert why_not("width", cut, None, QAConfig()) == "hidden"
    assert why_not("height", cut, None, QAConfig()) is None
    assert why_not("left_right", whole, cut, QAConfig()) is None
    # a hidden part only hides extent: the cut post, already wider-looking, may be compared...
    wide_cut = box("bench", [2, 3, 0], [4, 3.3, 0.5], hidden_right)
    assert why_not("wide_thin", whole, wide_cut, QAConfig()) is None
    # ...but not when it is the one that looks narrower
    assert why_not("wide_thin", whole, cut, QAConfig()) == "hidden"


def test_clock_directions_and_score_bands() -> None:
    from spatialqa_gen.definitions import clock_hour, direction_deg

    a = box("a", [0, 0, 0], [0.2, 0.2, 0.2])
    for (dx, dy), hour in {(0, 2): 12, (2, 0): 3, (0, -2): 6, (-2, 0): 9, (1, 1.732): 1, (-0.2, 2): 12}.items():
        b = box("b", [dx, dy, 0], [dx + 0.2, dy + 0.2, 0.2])
        assert clock_hour(direction_deg(a, b)) == hour
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
    [(_, ev)] = evaluate(6, seed=900, perturbation=Perturbation(), definitions=("geometric",),
                         conditions=("perturbed",)).items()
    asked = sum(s.asked for s in ev.all.values())
    correct = sum(s.correct for s in ev.all.values())
    assert asked > 30 and correct / asked > 0.9
