"""GPU checks (`pytest -m gpu` on a machine with CUDA; skipped elsewhere): the real model code paths
in bf16 on the device, as the lent-GPU session runs them before `bench/gpu_check.py`."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from spatialqa_gen.models import DepthProEstimator
from tests.spatialqa_gen.test_models import tiny_depth_pro
from trainer.synthetic import write_synthetic_mixture
from trainer.train import main

pytestmark = pytest.mark.gpu


def test_tiny_llava_trains_in_bf16_on_the_gpu(tmp_path: Path) -> None:
    mixture = write_synthetic_mixture(tmp_path / "data", tmp_path / "mix.json", n_image=8, n_text=2)
    out = tmp_path / "out"
    assert main(["--mixture", str(mixture), "--image_folder", str(tmp_path / "data"), "--output_dir", str(out),
                 "--model", "tiny", "--global_batch", "4", "--per_device_batch", "2", "--max_steps", "4",
                 "--bf16", "true", "--zero3", "false", "--dataloader_workers", "0"]) == 0
    metrics = json.loads((out / "train_metrics.json").read_text())
    assert metrics["steps"] == 4 and all(np.isfinite(loss) for _, loss in metrics["loss_curve"])


def test_depth_model_runs_in_bf16_on_the_gpu() -> None:
    cpu = tiny_depth_pro()
    est = DepthProEstimator(cpu.model, cpu.processor, device="cuda", dtype=torch.bfloat16, batch_size=2)
    images = [Image.new("RGB", (80, 60), (i * 40, 90, 120)) for i in range(3)]
    for depth, k in est.estimate(images):
        assert depth.shape == (60, 80) and depth.dtype == np.float32 and np.isfinite(depth).all()
