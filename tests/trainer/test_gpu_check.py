"""bench/gpu_check.py: its FLOPs arithmetic against hand-derived LLaVA-1.5-7B numbers, and a full
--dry run on CPU (the GPU run itself needs a lent H100/H200)."""
from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench/gpu_check.py"
_SPEC = importlib.util.spec_from_file_location("gpu_check", BENCH)
gpu_check = importlib.util.module_from_spec(_SPEC)
sys.modules["gpu_check"] = gpu_check
_SPEC.loader.exec_module(gpu_check)


def test_flops_match_llava_7b_by_hand() -> None:
    # Llama-7B: 32 x (4*4096^2 + 3*4096*11008) = 6.477e9 matmul weights, + LM head 4096 x 32064.
    n = gpu_check.text_params(32, 4096, 11008, 32064)
    assert n == pytest.approx(6.477e9 + 1.313e8, rel=1e-3)
    # Attention term for a 1000-token sample: 6 * 32 * 4096 * 1000 per token.
    assert gpu_check.train_flops_per_token(32, 4096, 11008, 32064, 1000) == pytest.approx(6 * n + 7.864e8, rel=1e-3)
    # CLIP ViT-L/14-336: 24 x 12.58M tower weights x 577 tokens x 2 (frozen: forward only) = 3.485e11,
    # plus the trained projector (1024*4096 + 4096^2) x 576 tokens x 6 = 7.25e10.
    per_image = gpu_check.vision_flops_per_image(gpu_check.CLIP_L336, 4096)
    assert per_image == pytest.approx(3.485e11 + 7.25e10, rel=2e-3)


@pytest.mark.slow
def test_dry_run_prints_throughput_mfu_and_estimate(tmp_path: Path) -> None:
    # A separate process, as on the GPU machine: the run sets up torch/accelerate process state.
    done = subprocess.run([sys.executable, str(BENCH), "--dry", "--workdir", str(tmp_path)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    tokens = float(re.search(r"tokens/s per GPU\s+([\d,.]+)", out).group(1).replace(",", ""))
    mfu = float(re.search(r"MFU\s+([\d.e-]+)", out).group(1))
    hours = float(re.search(r"850K on 8 GPUs \(est\.\)\s+([\d.]+) h", out).group(1))
    assert tokens > 0 and 0 < mfu < 1 and hours > 0
    assert "ratio to Spatial-LLaVA's published 18 h" in out
