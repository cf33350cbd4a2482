"""bench/gpu_eval.py end to end on CPU (--dry), and the engine's inference in bf16 on a GPU."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

from evaluation.inference import GenerationConfig
from evaluation.rendered import BENCHMARK, rendered_benchmark
from evaluation.run import evaluate_checkpoint
from evaluation.table import write_eval_table

BENCH = Path(__file__).resolve().parents[2] / "bench" / "gpu_eval.py"


@pytest.mark.slow
def test_dry_run_prints_both_rates_and_their_ratio(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(BENCH), "--dry", "--scenes", "1", "--max-new-tokens", "8",
                           "--workdir", str(tmp_path)], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    rates = [float(x) for x in re.findall(r"([\d.]+) samples/s", done.stdout)]
    ratio = float(re.search(r"ratio batched / one-by-one\s+([\d.]+)", done.stdout).group(1))
    assert len(rates) == 2 and all(r > 0 for r in rates)
    assert ratio == pytest.approx(rates[1] / rates[0], rel=0.02)
    assert re.search(r"new tokens per answer\s+[\d.]+ \(max 8", done.stdout)


@pytest.mark.gpu
def test_engine_answers_in_bf16_on_the_gpu(tiny_checkpoint: Path, tmp_path: Path) -> None:
    write_eval_table(tmp_path / "table", BENCHMARK, rendered_benchmark(1), [])
    report = evaluate_checkpoint(tmp_path / "table", str(tiny_checkpoint), tmp_path / "eval",
                                 GenerationConfig(batch_size=8, max_new_tokens=8), log=print)
    assert sum(s.asked for s in report.scores.categories.values()) > 0
