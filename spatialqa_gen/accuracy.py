"""Accuracy report: generate QA on rendered scenes and score every answer against ground truth.

Ground truth follows SpatialRGPT-Bench: the true 3D boxes of the objects in the canonical frame (here
the scene's world frame: x right, y forward, z up, floor at z = 0), with the same definitions as
`facts` (centres, extents along the frame's axes). Scoring rules (the benchmark's): qualitative answers
right/wrong; quantitative success within +-25% of the truth, plus mean absolute relative error;
direction success within +-1 clock hour, plus mean error in degrees. Abstentions are counted apart and
excluded from the success rates (an abstention is neither right nor wrong).

    python -m spatialqa_gen.accuracy --scenes 200 [--seed 0] [--out report.md]
"""
from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import ndimage

from spatialqa_gen.analysis import AnalysisConfig, all_turns, analyse
from spatialqa_gen.facts import ObjectFacts, clock_hour, measure
from spatialqa_gen.qa import CATEGORIES, QUALITATIVE, QATurn
from spatialqa_gen.scene import RenderedScene, render_scene, truth_boxes
from spatialqa_gen.types import Perception

QUALITATIVE_GOAL = 0.98
QUANTITATIVE_GOAL = 0.90


@dataclass(frozen=True)
class Perturbation:
    """Realistic input errors: a global depth scale error, smooth and per-pixel depth noise, and each
    mask eroded or dilated by a few pixels (as a box-prompted segmenter under- or over-covers)."""

    scale_error: float = 0.10
    smooth_noise: float = 0.03  # relative amplitude of a low-frequency warp of the depth map
    pixel_noise: float = 0.01   # relative per-pixel noise
    max_mask_px: int = 3


@dataclass
class CategoryScore:
    asked: int = 0
    abstained: int = 0
    correct: int = 0
    errors: list[float] = field(default_factory=list)  # relative error, or degrees for direction

    def add(self, ok: bool, error: float | None) -> None:
        self.correct += ok
        if error is not None:
            self.errors.append(error)

    @property
    def answered(self) -> int:
        return self.asked - self.abstained

    @property
    def success(self) -> float:
        return self.correct / self.answered if self.answered else float("nan")


def truth_facts(scene: RenderedScene) -> dict[int, ObjectFacts]:
    return {k: ObjectFacts(scene.objects[k - 1].name, k, lo, hi) for k, (lo, hi) in truth_boxes(scene).items()}


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
            op = ndimage.binary_dilation if rng.random() < 0.5 else ndimage.binary_erosion
            out.append(op(m, iterations=px))
        masks = np.stack(out) if out else masks
    return Perception(depth, scene.intrinsics, scene.regions, masks)


def score_turn(turn: QATurn, a: ObjectFacts, b: ObjectFacts | None) -> tuple[bool, float | None]:
    """(success, error) of one answered turn against the true boxes."""
    truth = measure(turn.category, a, b)
    assert turn.said is not None
    if turn.category in QUALITATIVE:
        return bool(np.sign(truth) == np.sign(turn.said)), None
    if turn.category == "direction":
        hours = abs(int(turn.said) % 12 - clock_hour(truth) % 12)
        degrees = abs((turn.said * 30.0 - truth + 180.0) % 360.0 - 180.0)
        return min(hours, 12 - hours) <= 1, degrees
    rel = abs(turn.said - truth) / max(truth, 1e-9)
    return rel <= 0.25, rel


def evaluate(n_scenes: int, seed: int, perturbation: Perturbation | None,
             config: AnalysisConfig = AnalysisConfig()) -> dict[str, CategoryScore]:
    scores: dict[str, CategoryScore] = defaultdict(CategoryScore)
    for i in range(n_scenes):
        scene = render_scene(seed + i)
        rng = np.random.default_rng([seed, i, perturbation is not None])
        facts = analyse(perceive(scene, perturbation, rng), config, seed=i)
        truth = truth_facts(scene)
        for turn in all_turns(facts, rng, config.qa):
            key = {o.name: o.key for o in facts.objects}
            s = scores[turn.category]
            s.asked += 1
            if turn.abstained:
                s.abstained += 1
                continue
            s.add(*score_turn(turn, truth[key[turn.object_a]], truth[key[turn.object_b]] if turn.object_b else None))
    return dict(scores)


def table(scores: dict[str, CategoryScore]) -> list[dict[str, float | int | str | bool]]:
    rows = []
    for c in CATEGORIES:
        s = scores.get(c, CategoryScore())
        goal = QUALITATIVE_GOAL if c in QUALITATIVE else (None if c == "direction" else QUANTITATIVE_GOAL)
        errs = np.array(s.errors) if s.errors else np.array([np.nan])
        rows.append({"category": c, "asked": s.asked, "answered": s.answered,
                     "abstention_rate": s.abstained / s.asked if s.asked else float("nan"),
                     "success": s.success,
                     "mean_error": float(np.mean(errs)) if c not in QUALITATIVE else float("nan"),
                     "error_unit": "deg" if c == "direction" else ("rel" if c not in QUALITATIVE else ""),
                     "goal": goal if goal is not None else float("nan"),
                     "meets_goal": bool(goal is None or s.success >= goal)})
    return rows


def markdown(title: str, rows: list[dict]) -> str:
    lines = [f"### {title}", "", "| category | asked | abstained | success | mean error | goal | met |",
             "|---|---:|---:|---:|---:|---:|:---:|"]
    for r in rows:
        err = "" if np.isnan(r["mean_error"]) else (
            f"{r['mean_error']:.1f}°" if r["error_unit"] == "deg" else f"{100 * r['mean_error']:.1f}%")
        goal = "" if np.isnan(r["goal"]) else f"{100 * r['goal']:.0f}%"
        lines.append(f"| {r['category']} | {r['asked']} | {100 * r['abstention_rate']:.1f}% | "
                     f"{100 * r['success']:.1f}% | {err} | {goal} | {'yes' if r['meets_goal'] else 'NO'} |")
    qual = [r for r in rows if r["category"] in QUALITATIVE]
    correct = sum(r["success"] * r["answered"] for r in qual if r["answered"])
    answered = sum(r["answered"] for r in qual)
    asked = sum(r["asked"] for r in rows)
    abstained = sum(r["asked"] - r["answered"] for r in rows)
    lines += ["", f"qualitative overall: {100 * correct / max(answered, 1):.1f}% of {answered} answered; "
              f"abstention rate overall: {100 * abstained / max(asked, 1):.1f}% of {asked} asked", ""]
    return "\n".join(lines)


def report(n_scenes: int = 200, seed: int = 0, config: AnalysisConfig = AnalysisConfig()) -> dict[str, list[dict]]:
    return {"exact": table(evaluate(n_scenes, seed, None, config)),
            "perturbed": table(evaluate(n_scenes, seed, Perturbation(), config))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="also write the report here (.md, or .json for raw rows)")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    result = report(args.scenes, args.seed)
    text = (f"## spatialqa_gen accuracy on {args.scenes} rendered scenes (seed {args.seed})\n\n"
            + markdown("exact depth and masks", result["exact"])
            + "\n" + markdown("perturbed: depth scale ±10%, smooth ±3% + pixel 1% noise, masks ±1-3 px",
                              result["perturbed"]))
    print(text)
    print(f"({time.perf_counter() - t0:.0f} s)")
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) if args.out.suffix == ".json" else text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
