"""The held-out rendered benchmark: exact truths from the 3D boxes, seeds kept apart from training."""
from pathlib import Path

import numpy as np
import pytest

from evaluation.judge import judge
from evaluation.relations import asked_polarity, mentions
from evaluation.rendered import HELDOUT_SEED, check_disjoint, heldout_scene, rendered_benchmark, scene_items
from spatialqa_gen.definitions import clock_hour, measure
from spatialqa_gen.scene_pool import write_scene_pool


def test_truths_are_the_true_geometry() -> None:
    scene, items = scene_items(HELDOUT_SEED + 3)
    facts = {f.name: f for f in heldout_scene(HELDOUT_SEED + 3)[1].values()}
    visible = {r.name for r in scene.regions}
    assert len(items) >= 8
    for item in items:
        names = list(item.truth.options) or sorted((n for n in visible if n in item.question), key=item.question.index)
        objects = [facts[n.removeprefix("the ")] for n in names]
        assert {o.name for o in objects} <= visible  # only objects an annotator would see are asked about
        if item.truth.kind == "metres":
            a, b = (objects + [None])[:2] if item.category in ("width", "height") else objects
            assert item.truth.value == pytest.approx(measure(item.category, a, b), abs=1e-4)
        elif item.truth.kind == "clock":
            assert item.truth.value == clock_hour(measure("direction", *objects))
        else:  # option 0 has more of the quantity iff the fact is positive; the question asks for more or less
            first_has_more = measure(item.category, *objects) > 0
            asks_more = asked_polarity(item.question, item.category) > 0
            if item.truth.kind == "choice":
                assert item.truth.value == (0 if first_has_more == asks_more else 1), item.question
                assert len(mentions(item.answer, item.truth.options)) == 1
            else:
                assert item.truth.value == float(first_has_more == asks_more), item.question
        assert judge(item.category, item.truth, item.answer, item.question).correct, item


def test_benchmark_is_deterministic_and_covers_every_category() -> None:
    first = rendered_benchmark(6)
    again = rendered_benchmark(6)
    assert [(i.id, i.question, i.truth) for i in first] == [(i.id, i.question, i.truth) for i in again]
    assert len({i.category for i in first}) == 12
    assert all(i.image_bytes[:2] == b"\xff\xd8" for i in first)
    with pytest.raises(ValueError, match="held-out seeds"):
        rendered_benchmark(1, first_seed=0)


def test_training_pools_must_not_hold_held_out_scenes(tmp_path: Path) -> None:
    write_scene_pool(tmp_path / "train", 2, seed=0)
    check_disjoint(tmp_path / "train")
    write_scene_pool(tmp_path / "leaky", 1, seed=HELDOUT_SEED + 5)
    with pytest.raises(ValueError, match="held-out"):
        check_disjoint(tmp_path / "leaky")


def test_qualitative_answers_follow_the_sign_of_the_fact() -> None:
    """A yes/no truth is yes exactly when the asked relation holds in 3D (checked on the facts)."""
    for seed in range(HELDOUT_SEED, HELDOUT_SEED + 4):
        scene, items = scene_items(seed)
        facts = {f"the {f.name}": f for f in heldout_scene(seed)[1].values()}
        for item in (i for i in items if i.truth.kind == "yes_no"):
            a, b = (facts[o] for o in item.truth.options)
            more = measure(item.category, a, b) > 0
            asks_more = not any(w in item.question for w in ("right of", "below", "closer", "smaller",
                                                               "shorter", "narrower"))
            assert bool(item.truth.value) == (more == asks_more), item.question
            assert np.isfinite(measure(item.category, a, b))
