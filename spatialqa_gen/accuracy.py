"""Accuracy harness: generate QA on rendered scenes and score every answer against exact ground truth.

Ground truth follows SpatialRGPT-Bench: the true 3D boxes of the objects in the canonical frame (the
scene's world frame), under the same definitions as the generator (`definitions`; SpatialRGPT's set is
scored on the surface the camera would see with nothing in front, `truth`). Every object with >= 200
visible pixels is a region (as a detector would box it: hidden and cut ones too). Scoring: qualitative
right/wrong; quantitative within +-25% of the truth (and a "higher" statement must name the higher
object); direction within +-1 clock hour. Nothing is excluded after the fact: a question is either
asked (and scored) or not asked (counted by reason); an image without a verified floor is skipped
(counted). `report_md` prints the tables (python -m spatialqa_gen.accuracy)."""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from spatialqa_gen.analysis import AnalysisConfig, all_turns, analyse, skipped
from spatialqa_gen.definitions import DEFINITION_SETS, QUALITATIVE, clock_hour, measure, vertical_offset
from spatialqa_gen.facts import ObjectFacts, surface_sample
from spatialqa_gen.qa import CATEGORIES, QATurn
from spatialqa_gen.scene import RenderedScene
from spatialqa_gen.scene_gen import REPORT_SEED, scene_with_truth
from spatialqa_gen.truth import ObjectTruth
from spatialqa_gen.types import Perception

QUALITATIVE_GOAL = 0.98
QUANTITATIVE_GOAL = 0.90   # every quantitative category, direction included (within one clock hour)
MIN_SLICE_TURNS = 20  # a category's success in a slice is reported from this many turns on
CONDITIONS = ("exact", "perturbed")
# Scene slices the goals must hold on (each a property of the scene or of an object in the turn).
SLICES = ("steep pitch (>= 40°)", "few floor pixels (< 15%)", "occluded object", "truncated object",
          "thin object (< 16 cm)", "raised object")


@dataclass(frozen=True)
class Perturbation:
    """Realistic input errors: a global depth scale error, smooth and per-pixel depth noise, and each
    mask eroded or dilated by a pixel or two (as a box-prompted segmenter under- or over-covers)."""

    scale_error: float = 0.10
    smooth_noise: float = 0.03  # relative amplitude of a low-frequency warp of the depth map
    pixel_noise: float = 0.01   # relative per-pixel noise
    max_mask_px: int = 2


@dataclass
class Score:
    asked: int = 0
    correct: int = 0
    errors: list[float] = field(default_factory=list)  # relative error, or degrees for direction

    def add(self, ok: bool, error: float | None) -> None:
        self.asked += 1
        self.correct += ok
        if error is not None:
            self.errors.append(error)

    @property
    def success(self) -> float:
        return self.correct / self.asked if self.asked else float("nan")


@dataclass
class Evaluation:
    """Scores of one definition set under one input condition."""

    images: int = 0
    untrusted: int = 0                                                         # images skipped
    all: dict[str, Score] = field(default_factory=lambda: defaultdict(Score))  # every boxed object
    visible: dict[str, Score] = field(default_factory=lambda: defaultdict(Score))  # fully visible objects only
    slices: dict[str, dict[str, Score]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(Score)))
    not_asked: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))  # reason -> count
    possible: Counter = field(default_factory=Counter)  # questions the regions allow, per category


def truth_facts(truths: dict[int, ObjectTruth], definitions: str) -> dict[int, ObjectFacts]:
    """label -> facts of the true object: geometric: the whole object's box; spatialrgpt: the box of the
    surface the camera would see with nothing in front (as its pipeline measures a cloud)."""
    out = {}
    for label, t in truths.items():
        surface = surface_sample(t.surface)
        lo, hi = (t.box_min, t.box_max) if definitions == "geometric" else (t.surface.min(0), t.surface.max(0))
        out[label] = ObjectFacts(t.name, label, lo, hi, surface)
    return out


def perceive(scene: RenderedScene, perturbation: Perturbation | None, rng: np.random.Generator) -> Perception:
    depth, masks = scene.depth, scene.masks()
    if perturbation is not None:
        h, w = depth.shape
        scale = 1 + rng.choice([-1.0, 1.0]) * perturbation.scale_error * rng.uniform(0.8, 1.2)
        warp = ndimage.zoom(rng.normal(0, 1, (3, 4)), (h / 3, w / 4), order=1)[:h, :w]
        noise = 1 + perturbation.smooth_noise * np.clip(warp, -1.5, 1.5) / 1.5 \
            + rng.normal(0, perturbation.pixel_noise, depth.shape)
        depth = (depth * scale * noise).astype(np.float32)
        out = []
        for m in masks:
            px = int(rng.integers(1, perturbation.max_mask_px + 1))
            if rng.random() < 0.5:
                out.append(ndimage.binary_dilation(m, iterations=px))
            else:  # the image border is not an edge of the object: a mask cut by it stays cut by it
                out.append(ndimage.binary_erosion(m, iterations=px, border_value=1))
        masks = np.stack(out) if out else masks
    return Perception(depth, scene.intrinsics, scene.regions, masks)


def score_turn(turn: QATurn, a: ObjectFacts, b: ObjectFacts | None, definitions: str = "geometric"
               ) -> tuple[bool, float | None]:
    """(success, error) of one turn against the true objects."""
    truth = measure(turn.category, a, b, definitions)
    if turn.category in QUALITATIVE:
        return bool(np.sign(truth) == np.sign(turn.said)), None
    if turn.category == "direction":
        hours = abs(int(turn.said) % 12 - clock_hour(truth, definitions) % 12)
        degrees = abs((turn.said * 30.0 - truth + 180.0) % 360.0 - 180.0)
        return min(hours, 12 - hours) <= 1, degrees
    rel = abs(turn.said - truth) / max(truth, 1e-9)
    ordered_right = turn.order == 0 or (b is not None and np.sign(vertical_offset(a, b)) == turn.order)
    return rel <= 0.25 and ordered_right, rel


def _slices(scene: RenderedScene, objs: list[ObjectTruth]) -> list[str]:
    pitch = float(np.degrees(np.arcsin(-scene.camera_to_world[2, 2])))
    out = []
    if pitch >= 40:
        out.append(SLICES[0])
    if scene.floor_fraction < 0.15:
        out.append(SLICES[1])
    if any(o.visible_fraction < 0.9 for o in objs):
        out.append(SLICES[2])
    if any(o.truncated for o in objs):
        out.append(SLICES[3])
    if any(min((o.box_max - o.box_min)[:2]) < 0.16 for o in objs):
        out.append(SLICES[4])
    if any(o.box_min[2] > 0.05 for o in objs):
        out.append(SLICES[5])
    return out


def _possible(n_regions: int) -> dict[str, int]:
    return {c: n_regions if c in ("width", "height") else n_regions * (n_regions - 1) // 2 for c in CATEGORIES}


def evaluate(n_scenes: int, seed: int = REPORT_SEED, perturbation: Perturbation = Perturbation(),
             config: AnalysisConfig = AnalysisConfig(), definitions: tuple[str, ...] = DEFINITION_SETS,
             conditions: tuple[str, ...] = CONDITIONS) -> dict[tuple[str, str], Evaluation]:
    """(definitions, condition) -> scores, over scenes seed .. seed + n_scenes - 1."""
    results = {(d, c): Evaluation() for d in definitions for c in conditions}
    for i in range(n_scenes):
        scene, truths = scene_with_truth(seed + i)
        truth = {d: truth_facts(truths, d) for d in definitions}
        for condition in conditions:
            rng = np.random.default_rng([seed + i, CONDITIONS.index(condition)])
            p = perceive(scene, perturbation if condition == "perturbed" else None, rng)
            for d in definitions:
                ev = results[(d, condition)]
                ev.images += 1
                ev.possible.update(_possible(len(p.regions)))
                facts = analyse(p, AnalysisConfig(config.lift, config.frame, config.visibility, config.qa, d), i)
                if facts.skip_reason:
                    ev.untrusted += 1
                    continue
                for c, reasons in skipped(facts, config.qa).items():
                    ev.not_asked[c].update(reasons)
                    ev.not_asked[c]["dropped"] += _possible(len(p.regions))[c] - _possible(len(facts.objects))[c]
                keys = {o.name: o.key for o in facts.objects}
                for turn in all_turns(facts, rng, config.qa):
                    labels = [keys[turn.object_a]] + ([keys[turn.object_b]] if turn.object_b else [])
                    b = truth[d][labels[1]] if len(labels) == 2 else None
                    ok, err = score_turn(turn, truth[d][labels[0]], b, d)
                    ev.all[turn.category].add(ok, err)
                    objs = [truths[k] for k in labels]
                    if all(o.fully_visible for o in objs):
                        ev.visible[turn.category].add(ok, err)
                    for s in _slices(scene, objs):
                        ev.slices[s][turn.category].add(ok, err)
    return results


def goal(category: str) -> float:
    return QUALITATIVE_GOAL if category in QUALITATIVE else QUANTITATIVE_GOAL


def goals_met(ev: Evaluation) -> dict[str, bool]:
    """Per category: success over every boxed object meets its goal."""
    return {c: bool(ev.all[c].asked and ev.all[c].success >= goal(c)) for c in CATEGORIES}


def _pct(x: float) -> str:
    return "–" if np.isnan(x) else f"{100 * x:.1f}%"


def _error(c: str, s: Score) -> str:
    if c in QUALITATIVE or not s.errors:
        return ""
    return f"{np.mean(s.errors):.1f}°" if c == "direction" else f"{100 * np.mean(s.errors):.1f}%"


def markdown(results: dict[tuple[str, str], Evaluation], n_scenes: int, seed: int) -> str:
    exact0 = results[("geometric", "exact")]
    lines = [f"## spatialqa_gen accuracy on {n_scenes} rendered scenes (seeds {seed}..{seed + n_scenes - 1})", "",
             "Every object with >= 200 visible pixels is asked about (hidden and cut ones too) unless a rule "
             "below leaves it out; no turn abstains (abstention 0% in every category).", ""]
    for d in DEFINITION_SETS:
        ex, pe = results[(d, "exact")], results[(d, "perturbed")]
        lines += [f"### definitions: {d}{' (default)' if d == 'geometric' else ''}", "",
                  f"Images skipped without a verified floor: exact {ex.untrusted} of {ex.images}, "
                  f"perturbed {pe.untrusted} of {pe.images}.", "",
                  "| category | goal | asked (exact / pert.) | all objects: exact | perturbed | visible-only: exact "
                  "| perturbed | mean error (exact / pert.) | not asked (exact) | goal met |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|:---:|"]
        met_ex, met_pe = goals_met(ex), goals_met(pe)
        for c in CATEGORIES:
            not_asked = sum(ex.not_asked[c].values()) / max(ex.possible[c], 1)
            lines.append(f"| {c} | {100 * goal(c):.0f}% | {ex.all[c].asked} / {pe.all[c].asked} | "
                         f"{_pct(ex.all[c].success)} | {_pct(pe.all[c].success)} | {_pct(ex.visible[c].success)} | "
                         f"{_pct(pe.visible[c].success)} | {_error(c, ex.all[c])} / {_error(c, pe.all[c])} | "
                         f"{_pct(not_asked)} | {'yes' if met_ex[c] and met_pe[c] else 'NO'} |")
        reasons = sorted({r for cond in (ex, pe) for counter in cond.not_asked.values() for r in counter})
        lines += ["", "Questions not asked, by reason (share of the possible ones, exact / perturbed):", "",
                  "| category | " + " | ".join(reasons) + " |", "|---|" + "---:|" * len(reasons)]
        for c in CATEGORIES:
            cells = [f"{_pct(ex.not_asked[c][r] / max(ex.possible[c], 1))} / "
                     f"{_pct(pe.not_asked[c][r] / max(pe.possible[c], 1))}" for r in reasons]
            lines.append(f"| {c} | " + " | ".join(cells) + " |")
        lines += ["", f"Per scene slice (turns involving such an object or scene; all objects; quantitative "
                  f"categories with >= {MIN_SLICE_TURNS} turns in the slice, turns in brackets):", "",
                  "| slice | turns (exact / pert.) | qualitative (exact / pert.) | worst quantitative, exact | "
                  "worst quantitative, perturbed |", "|---|---:|---:|---|---|"]
        for s in SLICES:
            cells = []
            for ev in (ex, pe):
                sc = ev.slices[s]
                qual = [sc[c] for c in QUALITATIVE]
                asked = sum(x.asked for x in qual)
                quant = [(sc[c].success, c, sc[c].asked) for c in CATEGORIES
                         if c not in QUALITATIVE and sc[c].asked >= MIN_SLICE_TURNS]
                worst = min(quant) if quant else (float("nan"), "", 0)
                cells.append((sum(x.asked for x in sc.values()), sum(x.correct for x in qual) / max(asked, 1),
                              f"{_pct(worst[0])} {worst[1]} ({worst[2]})"))
            lines.append(f"| {s} | {cells[0][0]} / {cells[1][0]} | {_pct(cells[0][1])} / {_pct(cells[1][1])} | "
                         f"{cells[0][2]} | {cells[1][2]} |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import argparse
    import json
    import time
    from pathlib import Path

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=400)
    parser.add_argument("--seed", type=int, default=REPORT_SEED)
    parser.add_argument("--out", type=Path, help="also write the report here (.md, or .json for the goal flags)")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    results = evaluate(args.scenes, args.seed)
    text = markdown(results, args.scenes, args.seed)
    print(text)
    print(f"({time.perf_counter() - t0:.0f} s)")
    if args.out:
        flags = {f"{d}/{c}": goals_met(ev) for (d, c), ev in results.items()}
        args.out.write_text(json.dumps(flags, indent=1) if args.out.suffix == ".json" else text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
