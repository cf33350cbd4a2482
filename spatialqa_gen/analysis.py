"""CPU half of the generator: perception (depth, intrinsics, masks) -> canonical facts -> QA turns.

Public entry (kept stable for outside evaluations): `analyse(perception, config, seed)` turns exact or
estimated inputs into `SceneFacts`, and `all_turns(facts, rng, config)` gives every askable QA turn.
An image whose floor cannot be verified gets an untrusted frame, no objects and no turns."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

from spatialqa_gen.definitions import check
from spatialqa_gen.facts import ObjectFacts, object_facts
from spatialqa_gen.frame import CanonicalFrame, FrameConfig, estimate_frame
from spatialqa_gen.lifting import LiftConfig, lift_objects
from spatialqa_gen.qa import CATEGORIES, SINGLE_OBJECT, QAConfig, QATurn, make_turn, why_not
from spatialqa_gen.types import Perception
from spatialqa_gen.visibility import VisibilityConfig, along_axes, visibility


@dataclass(frozen=True)
class AnalysisConfig:
    lift: LiftConfig = field(default_factory=LiftConfig)
    frame: FrameConfig = field(default_factory=FrameConfig)
    visibility: VisibilityConfig = field(default_factory=VisibilityConfig)
    qa: QAConfig = field(default_factory=QAConfig)
    definitions: str = "geometric"  # "geometric" | "spatialrgpt" (definitions.py)


@dataclass
class SceneFacts:
    frame: CanonicalFrame
    objects: list[ObjectFacts]
    categories: dict[str, str]  # object name -> class (pairs of one class are not compared)
    dropped: list[str]          # regions whose cloud did not survive cleaning
    definitions: str = "geometric"

    @property
    def skip_reason(self) -> str | None:
        """Why no label may be written from this image (None: labels may be written)."""
        return None if self.frame.trusted else "untrusted_frame"


def analyse(p: Perception, config: AnalysisConfig = AnalysisConfig(), seed: int = 0) -> SceneFacts:
    definitions = check(config.definitions)
    categories = {r.name: r.category for r in p.regions}
    frame = estimate_frame(p.depth, p.intrinsics, p.masks, config.frame, seed)
    if not frame.trusted:
        return SceneFacts(frame, [], categories, [], definitions)
    clouds = lift_objects(p.depth, p.intrinsics, p.masks, config.lift, frame)
    coverage = p.masks.sum(axis=0, dtype=np.int16)
    objects, dropped = [], []
    for region, mask, cloud in zip(p.regions, p.masks, clouds):
        if len(cloud) == 0:
            dropped.append(region.name)
            continue
        others = coverage > mask  # pixels of any other boxed object
        seen = visibility(p.depth, mask, p.intrinsics, frame, config.visibility, others)
        canonical = frame.to_canonical(cloud)
        size = canonical.max(axis=0) - canonical.min(axis=0)
        seen = along_axes(seen, frame, p.intrinsics, (cloud.min(axis=0) + cloud.max(axis=0)) / 2, size)
        # a lowest point just over the floor band: the object stands on the floor, its base cut off with it
        rests = config.lift.floor_band(float(cloud[:, 2].max())) + config.lift.ground_tolerance
        objects.append(object_facts(region.name, region.key, canonical, frame.camera_height or 0.0, rests, seen,
                                    with_surface=definitions == "spatialrgpt"))
    return SceneFacts(frame, objects, categories, dropped, definitions)


def _pairs(facts: SceneFacts, category: str, rng: np.random.Generator
           ) -> list[tuple[ObjectFacts, ObjectFacts | None]]:
    """Every (A, B) a category could ask about, each unordered pair once in a random order (so neither
    the larger nor the first-listed object is systematically A)."""
    if category in SINGLE_OBJECT:
        return [(o, None) for o in facts.objects]
    out = []
    for a, b in combinations(facts.objects, 2):
        if facts.categories.get(a.name) == facts.categories.get(b.name):
            continue  # "the chair on the left" vs "the chair on the right": the name gives it away
        out.append((b, a) if rng.random() < 0.5 else (a, b))
    return out


def candidates(facts: SceneFacts, category: str, config: QAConfig, rng: np.random.Generator
               ) -> list[tuple[ObjectFacts, ObjectFacts | None]]:
    """Every askable (A, B) for a category."""
    return [(a, b) for a, b in _pairs(facts, category, rng)
            if why_not(category, a, b, config, facts.definitions) is None]


def skipped(facts: SceneFacts, config: QAConfig = QAConfig()) -> dict[str, Counter]:
    """Per category, how many of the possible questions were not asked, by reason."""
    rng = np.random.default_rng(0)
    out: dict[str, Counter] = {}
    for c in CATEGORIES:
        out[c] = Counter(why_not(c, a, b, config, facts.definitions) for a, b in _pairs(facts, c, rng))
        out[c].pop(None, None)
    return out


def all_turns(facts: SceneFacts, rng: np.random.Generator, config: QAConfig = QAConfig()) -> list[QATurn]:
    """Every askable question of every category (the accuracy report scores them all)."""
    return [make_turn(c, a, b, rng, config, facts.definitions)
            for c in CATEGORIES for a, b in candidates(facts, c, config, rng)]


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
        turns.append(make_turn(category, a, b, rng, config, facts.definitions))
        balance[category] += 1
    return turns
