"""A real DeepSpeed ZeRO-3 run through the `deepspeed` launcher: two CPU processes, a few steps of the
tiny Llava, gathered 16-bit weights saved as a from_pretrained folder. The first run builds
DeepSpeed's shared-memory op (minutes)."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import torch
from transformers import LlavaForConditionalGeneration

from trainer.config import TrainConfig
from trainer.launch import training_command
from trainer.synthetic import write_synthetic_mixture

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_zero3_through_deepspeed_launcher(tmp_path: Path) -> None:
    mixture = write_synthetic_mixture(tmp_path / "data", tmp_path / "mix.json", n_image=8, n_text=4)
    config = TrainConfig(mixture=str(mixture), image_folder=str(tmp_path / "data"),
                         output_dir=str(tmp_path / "out"), model="tiny", global_batch=4, per_device_batch=1,
                         max_steps=3, learning_rate=1e-3, bf16=False, dataloader_workers=0)
    command = training_command(config, "deepspeed", num_gpus=2, master_port=29613)
    env = {**os.environ, "DS_ACCELERATOR": "cpu",
           "PATH": f"{Path(command[0]).parent}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": str(PROJECT_ROOT)}
    done = subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=1700)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "world_size=2" in done.stdout and "zero_optimization" in (tmp_path / "out/ds_zero3.json").read_text()
    metrics = json.loads((tmp_path / "out/train_metrics.json").read_text())
    assert metrics["steps"] == 3 and metrics["world_size"] == 2 and metrics["gradient_accumulation"] == 2
    final = LlavaForConditionalGeneration.from_pretrained(tmp_path / "out/final")
    initial = LlavaForConditionalGeneration.from_pretrained(tmp_path / "out/init")
    # Gathered (not partition-sized) weights, trained projector, untouched frozen vision tower.
    proj, proj0 = final.model.multi_modal_projector.linear_1.weight, initial.model.multi_modal_projector.linear_1.weight
    assert proj.shape == proj0.shape and not torch.equal(proj, proj0)
    assert torch.equal(final.model.vision_tower.embeddings.patch_embedding.weight,
                       initial.model.vision_tower.embeddings.patch_embedding.weight)
