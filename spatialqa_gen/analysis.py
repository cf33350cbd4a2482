"""CPU half of the generator: perception (depth, intrinsics, masks) -> canonical facts -> QA turns."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

from spatialqa_gen.facts import ObjectFacts, object_facts
from spatialqa_gen.frame import CanonicalFrame, FrameConfig, estimate_frame
from spatialqa_gen.lifting import LiftConfig, lift_objects
from spatialqa_gen.qa import CATEGORIES, SINGLE_OBJECT, QAConfig, QATurn, askable, make_turn
from spatialqa_gen.types import Perception


@dataclass(frozen=True)
class AnalysisConfig:
    lift: LiftConfig = field(default_factory=LiftConfig)
    frame: FrameConfig = field(default_factory=FrameConfig)
    qa: QAConfig = field(default_factory=QAConfig)


@dataclass
class SceneFacts:
    frame: CanonicalFrame
    objects: list[ObjectFacts]
    categories: dict[str, str]  # object name -> class (pairs of one class are not compared)
    dropped: list[str]          # regions whose cloud did not survive cleaning


def analyse(p: Perception, config: AnalysisConfig = AnalysisConfig(), seed: int = 0) -> SceneFacts:
    frame = estimate_frame(p.depth, p.intrinsics, p.masks, config.frame, seed)
    clouds = lift_objects(p.depth, p.intrinsics, p.masks, config.lift, frame)
    rests = 2 * config.lift.ground_tolerance if frame.camera_height is not None else None
    objects, dropped = [], []
    for region, cloud in zip(p.regions, clouds):
        if len(cloud) == 0:
            dropped.append(region.name)
            continue
        objects.append(object_facts(region.name, region.key, frame.to_canonical(cloud), cloud,
                                    frame.camera_height or 0.0, rests))
    return SceneFacts(frame, objects, {r.name: r.category for r in p.regions}, dropped)


def candidates(facts: SceneFacts, category: str, config: QAConfig, rng: np.random.Generator
               ) -> list[tuple[ObjectFacts, ObjectFacts | None]]:
    """Every askable (A, B) for a category, each unordered pair once in a random order (so neither the
    larger nor the first-listed object is systematically A)."""
    objs = facts.objects
    if category in SINGLE_OBJECT:
        return [(o, None) for o in objs]
    out = []
    for a, b in combinations(objs, 2):
        if facts.categories.get(a.name) == facts.categories.get(b.name):
            continue  # "the chair on the left" vs "the chair on the right": the name gives it away
        if rng.random() < 0.5:
            a, b = b, a
        if askable(category, a, b, config):
            out.append((a, b))
    return out


def all_turns(facts: SceneFacts, rng: np.random.Generator, config: QAConfig = QAConfig()) -> list[QATurn]:
    """Every askable question of every category (the accuracy report scores them all)."""
    return [make_turn(c, a, b, rng, config) for c in CATEGORIES for a, b in candidates(facts, c, config, rng)]


def select_turns(facts: SceneFacts, n: int, rng: np.random.Generator, balance: Counter,
                 config: QAConfig = QAConfig()) -> list[QATurn]:
    """Up to n turns for one image, each time from the category least used so far in `balance`
    (updated in place), never the same category and objects twice."""
    pools = {c: candidates(facts, c, config, rng) for c in CATEGORIES}
    for pool in pools.values():
        rng.shuffle(pool)
    turns: list[QATurn] = []
    while len(turns) < n:
        open_ = [c for c in CATEGORIES if pools[c]]
        if not open_:
            break
        fewest = min(balance[c] for c in open_)
        category = str(rng.choice([c for c in open_ if balance[c] == fewest]))
        a, b = pools[category].pop()
        turns.append(make_turn(category, a, b, rng, config))
        balance[category] += 1
    return turns
