"""CPU part of spatialqa_gen per 640x480 image on one core: canonical frame, lifting, visibility, facts, QA.

    .venv/bin/python bench/bench_spatialqa_cpu.py [--scenes 40]

Inputs are the photo-like rendered scenes of `scene_gen` (3-7 objects, hidden, cut, thin and raised ones)
with exact depth and masks; rendering is not timed.
Prints CPU ms per image (process time: what one core spends, robust to other jobs sharing the machine)
and wall ms, median and mean over the scenes, and the ratio of the median CPU time against the 50 ms goal."""
from __future__ import annotations

import os

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"  # one core: set before numpy / open3d load their thread pools

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import open3d as o3d  # noqa: E402

from spatialqa_gen.analysis import analyse, select_turns  # noqa: E402
from spatialqa_gen.scene_gen import render_scene  # noqa: E402
from spatialqa_gen.types import Perception  # noqa: E402

GOAL_MS = 50.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=40)
    args = parser.parse_args()
    o3d.utility.set_verbosity_level(o3d.utility.VerbosityLevel.Error)
    inputs = []
    for seed in range(args.scenes):
        s = render_scene(10_000 + seed)
        inputs.append(Perception(s.depth, s.intrinsics, s.regions, s.masks()))
    analyse(inputs[0])  # warm-up: first open3d calls allocate
    cpu, wall, objects, balance = [], [], 0, Counter()
    for i, p in enumerate(inputs):
        c0, t0 = time.process_time(), time.perf_counter()
        facts = analyse(p, seed=i)
        select_turns(facts, 4, np.random.default_rng(i), balance)
        cpu.append((time.process_time() - c0) * 1000)
        wall.append((time.perf_counter() - t0) * 1000)
        objects += len(p.regions)
    median, mean = float(np.median(cpu)), float(np.mean(cpu))
    print(f"spatialqa CPU stages, 1 thread, {args.scenes} images 640x480, {objects / args.scenes:.1f} objects/image")
    print(f"CPU time: median {median:.1f} ms/image, mean {mean:.1f}, p90 {np.percentile(cpu, 90):.1f}; "
          f"wall: median {np.median(wall):.1f} ms/image (load average {os.getloadavg()[0]:.1f})")
    print(f"goal {GOAL_MS:.0f} ms/image/core: median is {median / GOAL_MS:.2f}x the goal "
          f"({'met' if median <= GOAL_MS else 'NOT met'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
