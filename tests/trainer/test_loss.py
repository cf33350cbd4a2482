"""The loss per profile, through the HF Trainer's own step on the tiny Llava: LLaVA's vocabulary and
per-micro-batch mean under `llava15`, the global token mean over the padded table under `improved`,
the blank-image term on text-only micro-batches, and the profile's TrainingArguments."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F

from trainer.config import TrainConfig, parse_args, to_argv, zero3_config
from trainer.conversation import IGNORE_INDEX, tokenize
from trainer.data import Collator
from trainer.loss import causal_lm_loss
from trainer.model import build_tiny, load_for_training
from trainer.profiles import get_profile
from trainer.train import Stage2Trainer, training_arguments

IMAGE_TURNS = [{"from": "human", "value": "<image>\nWhat colour is the square?"},
               {"from": "gpt", "value": "The square is red."},
               {"from": "human", "value": "Is it on the left or the right?"},
               {"from": "gpt", "value": "It is on the left side of the image."}]
TEXT_TURNS = [{"from": "human", "value": "What is 2 plus 3?"}, {"from": "gpt", "value": "5."}]


@pytest.fixture(scope="module")
def stage2(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return load_for_training(build_tiny(tmp_path_factory.mktemp("tiny") / "init"), torch.float32)


def batch(stage2: Any, records: list[list[dict[str, str]]], images: int) -> dict[str, torch.Tensor]:
    tok, image_id = stage2.tokenizer, stage2.model.config.image_token_id
    samples = []
    for k, turns in enumerate(records):
        has_image = k < images
        out = tokenize(turns, tok, image_id, stage2.num_image_tokens if has_image else 0, 2048)
        sample = {"input_ids": torch.tensor(out.input_ids), "labels": torch.tensor(out.labels)}
        if has_image:
            sample["pixel_values"] = torch.randn(3, 56, 56, generator=torch.Generator().manual_seed(k))
        samples.append(sample)
    return Collator(tok.pad_token_id)(samples)


def test_llava_vocabulary_loss_is_a_32000_row_models(stage2: Any) -> None:
    """Softmax over the base vocabulary only = LLaVA-1.5's model, whose LM head has only those rows:
    the same loss, the same gradient on every shared row, none on the extra rows."""
    model, base = stage2.model, stage2.base_vocab_size
    inputs = batch(stage2, [IMAGE_TURNS, TEXT_TURNS], images=1)
    assert model.lm_head.weight.shape[0] % 64 == 0 and model.lm_head.weight.shape[0] > base
    model.zero_grad()
    hidden = model.model(**{k: v for k, v in inputs.items() if k != "labels"}).last_hidden_state
    ours = causal_lm_loss(model.lm_head(hidden), inputs["labels"], base)
    ours.backward()
    grad_ours = model.lm_head.weight.grad.clone()
    llava_head = torch.nn.Parameter(model.lm_head.weight.detach()[:base].clone())
    logits = hidden.detach() @ llava_head.T  # LLaVA's LM head: the base rows only
    labels = inputs["labels"]
    llava = F.cross_entropy(logits[:, :-1].reshape(-1, base), labels[:, 1:].reshape(-1), ignore_index=IGNORE_INDEX)
    llava.backward()
    assert torch.allclose(ours, llava, rtol=0, atol=1e-6)
    assert torch.allclose(grad_ours[:base], llava_head.grad, rtol=0, atol=1e-7)
    assert torch.count_nonzero(grad_ours[base:]) == 0
    padded = causal_lm_loss(model.lm_head(hidden).detach(), labels)
    assert padded > ours  # the extra rows take probability mass under the improved profile


def trainer_for(stage2: Any, profile: str, tmp_path: Path, accumulation: int = 2) -> Stage2Trainer:
    config = TrainConfig(mixture="m.json", image_folder=".", output_dir=str(tmp_path), model="tiny",
                         global_batch=2 * accumulation, per_device_batch=2, bf16=False, zero3=False,
                         dataloader_workers=0, profile=profile)
    args = training_arguments(config, world_size=1, bf16=False)
    return Stage2Trainer(model=stage2.model, args=args, data_collator=Collator(stage2.tokenizer.pad_token_id),
                         processing_class=stage2.tokenizer, profile=get_profile(profile),
                         base_vocab_size=stage2.base_vocab_size)


@pytest.mark.parametrize("profile", ["llava15", "improved"])
def test_accumulated_gradient_follows_the_profile_reduction(stage2: Any, profile: str, tmp_path: Path) -> None:
    """Two micro-batches of one step with 63 and 8 supervised tokens: LLaVA averages the two
    micro-batch means; `improved` divides the summed loss by the step's 71 tokens."""
    model = stage2.model
    micro = [batch(stage2, [IMAGE_TURNS, IMAGE_TURNS], images=2), batch(stage2, [TEXT_TURNS, TEXT_TURNS], images=0)]
    counts = [int((m["labels"][:, 1:] != IGNORE_INDEX).sum()) for m in micro]
    assert counts[0] > 4 * counts[1]  # uneven, so the two reductions really differ
    trainer = trainer_for(stage2, profile, tmp_path)
    trainer.current_gradient_accumulation_steps = 2  # set by the Trainer's loop for each step
    model.zero_grad()
    for m in micro:
        trainer.training_step(model, dict(m), num_items_in_batch=torch.tensor(sum(counts)))
    got = model.lm_head.weight.grad.clone()

    model.zero_grad()
    vocab = None if profile == "improved" else stage2.base_vocab_size
    for m, n in zip(micro, counts):
        logits = model(**{k: v for k, v in m.items() if k != "labels"}).logits[:, :-1, :vocab].float()
        total = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), m["labels"][:, 1:].reshape(-1),
                                ignore_index=IGNORE_INDEX, reduction="sum")
        (total / (n * 2) if profile == "llava15" else total / sum(counts)).backward()
    assert torch.allclose(got, model.lm_head.weight.grad, rtol=1e-5, atol=1e-8)
    model.zero_grad()


def test_text_only_micro_batch_still_runs_the_vision_tower(stage2: Any, tmp_path: Path) -> None:
    """The blank image adds exactly 0 to the loss but gives the projector a (zero) gradient, so under
    ZeRO-3 every rank takes part in its parameter gathers and reductions."""
    model = stage2.model
    trainer = trainer_for(stage2, "llava15", tmp_path)
    inputs = batch(stage2, [TEXT_TURNS, TEXT_TURNS], images=0)
    model.zero_grad()
    loss = trainer.compute_loss(model, dict(inputs))
    loss.backward()
    plain = causal_lm_loss(model(**{k: v for k, v in inputs.items() if k != "labels"}).logits, inputs["labels"],
                           stage2.base_vocab_size)
    assert loss.item() == plain.item()
    grad = model.model.multi_modal_projector.linear_1.weight.grad
    assert grad is not None and torch.count_nonzero(grad) == 0
    model.zero_grad()


def test_profile_sets_clipping_optimizer_and_reduction(tmp_path: Path) -> None:
    llava15 = training_arguments(TrainConfig(mixture="m", image_folder=".", output_dir=str(tmp_path),
                                             zero3=False), world_size=1, bf16=False)
    improved = training_arguments(TrainConfig(mixture="m", image_folder=".", output_dir=str(tmp_path),
                                              zero3=False, profile="improved"), world_size=1, bf16=False)
    assert (llava15.max_grad_norm, llava15.average_tokens_across_devices) == (0.0, False)
    assert (improved.max_grad_norm, improved.average_tokens_across_devices) == (1.0, True)
    assert llava15.optim == improved.optim == "adamw_torch"  # LLaVA's, not transformers 5's fused default
    assert llava15.get_warmup_steps(5198) == 156  # ceil(0.03 x steps), as LLaVA-1.5's 665K run
    assert zero3_config()["gradient_clipping"] == "auto"  # = max_grad_norm: 0 is DeepSpeed's "none"
    with pytest.raises(ValueError, match="unknown training profile"):
        TrainConfig(mixture="m", image_folder=".", output_dir="o", profile="llava16")
    config = TrainConfig(mixture="m", image_folder=".", output_dir="o", profile="improved")
    assert parse_args(to_argv(config)) == config
    assert TrainConfig(mixture="m", image_folder=".", output_dir="o").profile == "llava15"
