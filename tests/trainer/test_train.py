"""Training on CPU with the tiny preset: a short overfit halves the loss, the entry point runs the
embedded-sample smoke job, the saved model reloads, and model assembly maps the projector keys."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import torch
from transformers import (AutoModelForCausalLM, CLIPVisionModel, LlavaForConditionalGeneration,
                          LlavaProcessor)

from trainer.config import TrainConfig, preset_config, zero3_config
from trainer.model import PROJECTOR_KEYS, assemble, load_for_training
from trainer.reporting import Reporter
from trainer.synthetic import write_synthetic_mixture
from trainer.tiny import tiny_image_processor, tiny_text_config, tiny_tokenizer, tiny_vision_config
from trainer.train import main, run


def test_overfit_few_samples_halves_loss(tmp_path: Path) -> None:
    mixture = write_synthetic_mixture(tmp_path / "data", tmp_path / "mix.json", n_image=3, n_text=1)
    config = preset_config("tiny", str(mixture), str(tmp_path / "data"), str(tmp_path / "out"),
                           global_batch=4, per_device_batch=4, max_steps=30, learning_rate=3e-3,
                           warmup_ratio=0.0, save_steps=1000)
    metrics = run(config, Reporter(None))
    losses = [loss for _, loss in metrics["loss_curve"]]
    assert metrics["steps"] == 30 and len(losses) == 30
    assert losses[-1] <= losses[0] / 2, losses
    assert metrics["tokens_per_second_per_gpu"] > 0 and metrics["bad_samples"] == {}


def test_tiny_entry_point_trains_saves_and_reloads(tmp_path: Path) -> None:
    mixture = write_synthetic_mixture(tmp_path / "data", tmp_path / "mix.json", n_image=6, n_text=2)
    out = tmp_path / "out"
    args = ["--mixture", str(mixture), "--image_folder", str(tmp_path / "data"), "--output_dir", str(out),
            "--model", "tiny", "--global_batch", "4", "--per_device_batch", "2", "--max_steps", "3",
            "--bf16", "false", "--zero3", "false", "--dataloader_workers", "0"]
    assert main(args) == 0
    metrics = json.loads((out / "train_metrics.json").read_text())
    assert metrics["steps"] == 3 and metrics["gradient_accumulation"] == 2
    assert Path(metrics["checkpoint"]) == (out / "final").resolve()
    assert not (out / ".final.partial").exists()

    model = LlavaForConditionalGeneration.from_pretrained(out / "final")
    processor = LlavaProcessor.from_pretrained(out / "final")
    trained = load_for_training(out / "final", torch.float32)
    assert trained.model.model.vision_tower.embeddings.patch_embedding.weight.requires_grad is False
    initial = LlavaForConditionalGeneration.from_pretrained(out / "init")
    # Stage 2 trains the projector and the LLM; the frozen vision tower must come back unchanged.
    assert torch.equal(model.model.vision_tower.embeddings.patch_embedding.weight,
                       initial.model.vision_tower.embeddings.patch_embedding.weight)
    assert not torch.equal(model.model.multi_modal_projector.linear_1.weight,
                           initial.model.multi_modal_projector.linear_1.weight)
    ids = processor.tokenizer("USER: hi ASSISTANT:", return_tensors="pt").input_ids
    assert model(input_ids=ids).logits.shape[-1] == model.config.text_config.vocab_size

    # A finished run is reused as it is, not trained again.
    final_mtime = (out / "final").stat().st_mtime_ns
    assert main(args) == 0
    assert json.loads((out / "train_metrics.json").read_text()) == metrics
    assert (out / "final").stat().st_mtime_ns == final_mtime

    # An interrupted run (checkpoints, no final model) resumes from its last checkpoint (its weights,
    # its step) instead of starting over.
    shutil.rmtree(out / "final")
    (out / "train_metrics.json").unlink()
    assert main(args) == 0
    again = json.loads((out / "train_metrics.json").read_text())
    assert again["steps"] >= 3 and len(again["loss_curve"]) <= 1
    assert again["loss_curve"][0][1] < metrics["loss_curve"][0][1]


def test_assemble_maps_stage1_projector_onto_llava(tmp_path: Path) -> None:
    tokenizer = tiny_tokenizer()
    vicuna = AutoModelForCausalLM.from_config(tiny_text_config(len(tokenizer)))
    clip = CLIPVisionModel(tiny_vision_config())
    vicuna.save_pretrained(tmp_path / "vicuna")
    tokenizer.save_pretrained(tmp_path / "vicuna")
    clip.save_pretrained(tmp_path / "clip")
    tiny_image_processor().save_pretrained(tmp_path / "clip")
    hidden, vision_hidden = vicuna.config.hidden_size, clip.config.hidden_size
    projector = {"model.mm_projector.0.weight": torch.randn(hidden, vision_hidden),
                 "model.mm_projector.0.bias": torch.randn(hidden),
                 "model.mm_projector.2.weight": torch.randn(hidden, hidden),
                 "model.mm_projector.2.bias": torch.randn(hidden)}
    torch.save(projector, tmp_path / "mm_projector.bin")

    dest = assemble(str(tmp_path / "vicuna"), str(tmp_path / "clip"), tmp_path / "mm_projector.bin",
                    tmp_path / "stage2-init", dtype=torch.float32)
    loaded = load_for_training(dest, torch.float32)
    proj = loaded.model.model.multi_modal_projector
    for key, target in PROJECTOR_KEYS.items():
        assert torch.equal(proj.get_parameter(target), projector[key]), key
    assert torch.equal(loaded.model.model.language_model.layers[0].mlp.up_proj.weight,
                       vicuna.model.layers[0].mlp.up_proj.weight)
    assert torch.equal(loaded.model.model.vision_tower.embeddings.patch_embedding.weight,
                       clip.embeddings.patch_embedding.weight)
    embeddings = loaded.model.get_input_embeddings().num_embeddings
    assert embeddings % 64 == 0 and embeddings >= len(tokenizer) + 2
    assert torch.equal(loaded.model.get_input_embeddings().weight[: len(tokenizer)],
                       vicuna.get_input_embeddings().weight)
    assert loaded.tokenizer.convert_tokens_to_ids("<image>") == loaded.model.config.image_token_id
    assert loaded.num_image_tokens == 16

    projector["model.mm_projector.0.weight"] = torch.randn(hidden, vision_hidden + 1)
    torch.save(projector, tmp_path / "wrong.bin")
    with pytest.raises(ValueError, match="shape"):
        assemble(str(tmp_path / "vicuna"), str(tmp_path / "clip"), tmp_path / "wrong.bin",
                 tmp_path / "other", dtype=torch.float32)
    assert not (tmp_path / "other").exists()


def test_global_batch_is_kept_across_gpu_counts() -> None:
    config = TrainConfig(mixture="m.json", image_folder=".", output_dir="out")
    assert (config.global_batch, config.learning_rate, config.warmup_ratio, config.weight_decay) == (128, 2e-5, 0.03, 0.0)
    assert [config.gradient_accumulation(w) for w in (1, 2, 4, 8)] == [8, 4, 2, 1]
    with pytest.raises(ValueError, match="not a multiple"):
        config.gradient_accumulation(3)
    ds = zero3_config()
    assert ds["zero_optimization"]["stage"] == 3
    assert ds["zero_optimization"]["stage3_gather_16bit_weights_on_model_save"] is True


def test_trainer_reads_no_environment_variable() -> None:
    """Configuration comes in as arguments; rank and world size from torch.distributed."""
    for module in (Path(__file__).resolve().parents[2] / "trainer").glob("*.py"):
        assert not re.search(r"\benviron\b|getenv", module.read_text()), module.name
