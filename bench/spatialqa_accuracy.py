"""Accuracy report of spatialqa_gen on >= 200 rendered scenes, exact and perturbed inputs, with the goals.

    .venv/bin/python bench/spatialqa_accuracy.py [--scenes 200] [--seed 0] [--out report.md]

Same as `python -m spatialqa_gen.accuracy`; prints both tables (success, abstention, mean error per
category, and whether each goal is met: qualitative >= 98%, quantitative >= 90% within +-25%)."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from spatialqa_gen.accuracy import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
