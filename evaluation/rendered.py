"""A held-out benchmark rendered by the project's own renderer, answered from the true 3D boxes.

Seeds start at HELDOUT_SEED (1e9), far from every seed that makes training data (the sample pool
renders seeds 0-23; pools a user renders for training are checked with `check_disjoint`) and from the
accuracy harness's (1,000,000+). The scenes are the harness's (`spatialqa_gen.scene_gen`): partly hidden
and border-cut objects, steep and rolled cameras, stacked, raised and thin objects. Every boxed object
may be asked about; truths come from the whole object's true box (`spatialqa_gen.definitions`, geometric
set), and pairs too close to call are not asked. Questions use their own phrasings (not the generator's
templates) and name objects by their unique display names.

The renderer is reached through one function, `heldout_scene`, which the sample's benchmark copies use too."""
from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow.parquet as pq
from PIL import Image

from evaluation.judge import DIRECTION, Truth
from evaluation.sources import RENDERED
from evaluation.table import EvalItem, build_eval_table
from spatialqa_gen import accuracy, definitions as definitions_module, qa, scene_gen, truth
from spatialqa_gen.accuracy import truth_facts
from spatialqa_gen.definitions import QUALITATIVE, clock_hour, measure
from spatialqa_gen.facts import ObjectFacts
from spatialqa_gen.qa import CATEGORIES, SINGLE_OBJECT, QAConfig, why_not
from spatialqa_gen.scene import RenderedScene
from spatialqa_gen.scene_gen import scene_with_truth

HELDOUT_SEED = 1_000_000_000
BENCHMARK = RENDERED

# Per qualitative category: (yes/no question, which-question) phrasings, each with the sign it asks
# about (+1: "does A have more", -1: "less").
QUALITATIVE_QUESTIONS: dict[str, tuple[tuple[tuple[str, int], ...], tuple[tuple[str, int], ...]]] = {
    "left_right": ((("Is {A} to the left of {B}?", 1), ("From the camera's viewpoint, is {A} right of {B}?", -1)),
                   (("Which is more to the left, {A} or {B}?", 1),
                    ("Between {A} and {B}, which is further right?", -1))),
    "above_below": ((("Is {A} higher than {B}?", 1), ("Is {A} below {B}?", -1)),
                    (("Which sits higher, {A} or {B}?", 1), ("Which is lower, {A} or {B}?", -1))),
    "behind_front": ((("Is {A} behind {B}?", 1), ("Is {A} closer to the camera than {B}?", -1)),
                     (("Which is farther from the camera, {A} or {B}?", 1), ("Which is in front, {A} or {B}?", -1))),
    "big_small": ((("Is {A} bigger than {B}?", 1), ("Is {A} smaller than {B}?", -1)),
                  (("Which is larger, {A} or {B}?", 1), ("Which is smaller, {A} or {B}?", -1))),
    "tall_short": ((("Is {A} taller than {B}?", 1), ("Is {A} shorter than {B}?", -1)),
                   (("Which is taller, {A} or {B}?", 1), ("Which is shorter, {A} or {B}?", -1))),
    "wide_thin": ((("Is {A} wider than {B}?", 1), ("Is {A} narrower than {B}?", -1)),
                  (("Which is wider, {A} or {B}?", 1), ("Which is thinner, {A} or {B}?", -1))),
}
QUANTITATIVE_QUESTIONS = {
    "direct_distance": "What is the straight-line distance between the centres of {A} and {B}?",
    "horizontal_distance": "Measured along the floor, how far apart are {A} and {B}?",
    "vertical_distance": "How big is the height difference between the centres of {A} and {B}?",
    "width": "How wide is {A}, measured from the camera's left to right?",
    "height": "How tall is {A}?",
    DIRECTION: "If you stand at {A} and face the way the camera faces, at what clock position is {B}?",
}


def heldout_scene(seed: int) -> tuple[RenderedScene, dict[int, ObjectFacts]]:
    """The one call into the renderer: a harness scene and, per object label, the facts of the true object."""
    scene, truths = scene_with_truth(seed)
    return scene, truth_facts(truths, "geometric")


def askable(category: str, a: ObjectFacts, b: ObjectFacts | None, config: QAConfig = QAConfig()) -> bool:
    """Not too close to call (the generator's own margins, on exact facts)."""
    return why_not(category, a, b, config) is None


def _the(name: str) -> str:
    return name if name.lower().startswith("the ") else f"the {name}"


def _qualitative(category: str, a: ObjectFacts, b: ObjectFacts, rng: np.random.Generator) -> tuple[str, Truth, str]:
    a_more = measure(category, a, b) > 0
    A, B = _the(a.name), _the(b.name)
    yes_no_forms, which_forms = QUALITATIVE_QUESTIONS[category]
    if rng.random() < 0.5:
        template, sign = yes_no_forms[int(rng.integers(len(yes_no_forms)))]
        holds = a_more == (sign > 0)
        return template.format(A=A, B=B), Truth("yes_no", float(holds), (A, B)), "Yes." if holds else "No."
    template, sign = which_forms[int(rng.integers(len(which_forms)))]
    index = 0 if a_more == (sign > 0) else 1
    picked = (A, B)[index]
    return template.format(A=A, B=B), Truth("choice", float(index), (A, B)), f"{picked[:1].upper()}{picked[1:]}."


def _quantitative(category: str, a: ObjectFacts, b: ObjectFacts | None) -> tuple[str, Truth, str]:
    question = QUANTITATIVE_QUESTIONS[category].format(A=_the(a.name), B=_the(b.name) if b else "")
    fact = measure(category, a, b)
    if category == DIRECTION:
        hour = clock_hour(fact)
        return question, Truth("clock", float(hour)), f"{hour} o'clock"
    return question, Truth("metres", round(fact, 4)), f"{fact:.2f} meters"


def scene_items(seed: int, config: QAConfig = QAConfig()) -> tuple[RenderedScene, list[EvalItem]]:
    """Up to one question per category about the scene's visible (annotated) objects."""
    scene, facts = heldout_scene(seed)
    rng = np.random.default_rng([HELDOUT_SEED, seed])
    visible = [facts[r.key] for r in scene.regions]
    buf = io.BytesIO()
    Image.fromarray(scene.rgb).save(buf, "JPEG", quality=92)
    image, data = f"images/{scene.scene_id}.jpg", buf.getvalue()
    items = []
    for category in CATEGORIES:
        if category in SINGLE_OBJECT:
            candidates = [(a, None) for a in visible]
        else:
            candidates = [(a, b) for a in visible for b in visible if a.key != b.key]
        eligible = [(a, b) for a, b in candidates if askable(category, a, b, config)]
        if not eligible:
            continue
        a, b = eligible[int(rng.integers(len(eligible)))]
        question, truth, answer = _qualitative(category, a, b, rng) if category in QUALITATIVE \
            else _quantitative(category, a, b)
        items.append(EvalItem(f"{BENCHMARK}-{scene.scene_id}-{category}", question, category, truth, answer,
                              image, data, [], category, scene.scene_id))
    return scene, items


def rendered_benchmark(n_scenes: int, first_seed: int = HELDOUT_SEED) -> list[EvalItem]:
    if first_seed < HELDOUT_SEED:
        raise ValueError(f"held-out seeds start at {HELDOUT_SEED}; {first_seed} may overlap training scenes")
    return [item for seed in range(first_seed, first_seed + n_scenes) for item in scene_items(seed)[1]]


def build_rendered_table(folder: Path, n_scenes: int, log: Callable[[str], None] = print,
                         first_seed: int = HELDOUT_SEED) -> dict:
    """The held-out benchmark's eval table as a step: redone only when the scene count, the seeds or the
    code that renders and asks (this module, the renderer, the facts, the QA rules) changed."""
    code = [Path(m.__file__) for m in (sys.modules[__name__], scene_gen, truth, definitions_module, qa, accuracy)]

    def read() -> tuple[list[EvalItem], list, int]:
        return rendered_benchmark(n_scenes, first_seed), [], n_scenes

    return build_eval_table(folder, BENCHMARK, read, code, {"scenes": n_scenes, "first_seed": first_seed}, log)


def check_disjoint(pool: Path, first_seed: int = HELDOUT_SEED, n_scenes: int = 10_000) -> None:
    """Raise when a training scene pool (spatialqa_gen.scene_pool) holds any held-out scene."""
    held_out = {f"scene-{seed:06d}" for seed in range(first_seed, first_seed + n_scenes)}
    used = set(pq.read_table(Path(pool) / "scenes.parquet", columns=["scene_id"]).column("scene_id").to_pylist())
    overlap = sorted(held_out & used)
    if overlap:
        raise ValueError(f"{pool} trains on {len(overlap)} held-out scenes ({overlap[:3]} ...): "
                         f"render training pools with seeds below {first_seed}")
