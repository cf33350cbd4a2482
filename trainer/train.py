"""Stage-2 finetune entry point: `python -m trainer.train ...` or `deepspeed -m trainer.train ...`.

One process per GPU under the deepspeed launcher (multi-node: `deepspeed --hostfile hostfile`).
Resumes from the newest checkpoint in the output folder; the final model is written to
`<output_dir>/final` (a transformers `from_pretrained` folder) by rename, so it is complete or absent."""
from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Callable

import torch
from transformers import Trainer, TrainerCallback, TrainingArguments
from transformers.trainer_utils import get_last_checkpoint
from transformers.utils import is_torch_tf32_available

from pipeline.atomic import write_text
from trainer import distributed
from trainer.config import TrainConfig, parse_args, write_zero3_config
from trainer.data import BadSamples, Collator, MixtureDataset, read_bad_samples
from trainer.loss import blank_image_term, causal_lm_loss
from trainer.model import assemble, build_tiny, load_for_training
from trainer.profiles import Profile, get_profile
from trainer.reporting import ProgressCallback, Reporter, is_rank_zero, open_reporter
from trainer.sampler import LengthGroupedSampler

_log = logging.getLogger("spatialmix.trainer")
_WAIT_FOR_INIT_S = 4 * 3600


class Stage2Trainer(Trainer):
    """The HF Trainer with LLaVA-1.5's sampler, the profile's loss, the vision tower on every
    micro-step, and a non-padding token count (for tokens/s per GPU).

    Tokens are counted here rather than with `include_num_input_tokens_seen`, whose per-step gather
    of a 0-d tensor fails on the gloo backend (CPU runs); this sums once per log line instead."""

    def __init__(self, *args: Any, profile: Profile, base_vocab_size: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.profile, self.base_vocab_size = profile, base_vocab_size
        # The Trainer divides an unscaled (per-micro-batch) mean by the accumulation steps itself.
        self.loss_is_scaled_for_ga = profile.global_token_mean
        self._local_tokens = torch.zeros(1, dtype=torch.int64, device=self.args.device)

    def compute_loss(self, model: Any, inputs: dict[str, Any], return_outputs: bool = False,
                     num_items_in_batch: Any = None) -> Any:
        self._local_tokens += inputs["attention_mask"].sum()
        outputs = model(**{k: v for k, v in inputs.items() if k != "labels"})
        vocab = None if self.profile.padded_vocab_softmax else self.base_vocab_size
        if self.profile.global_token_mean and num_items_in_batch is not None:
            # The global batch's token count; x ranks undoes the gradient averaging across ranks.
            loss = causal_lm_loss(outputs.logits, inputs["labels"], vocab, num_items_in_batch)
            loss = loss * self.accelerator.num_processes
        else:
            loss = causal_lm_loss(outputs.logits, inputs["labels"], vocab)
        if "pixel_values" not in inputs:
            loss = loss + blank_image_term(self.accelerator.unwrap_model(model))
        return (loss, outputs) if return_outputs else loss

    def tokens_seen(self) -> int:
        """All ranks' tokens since start; a collective, so every rank must call it together."""
        total = self._local_tokens.clone()
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.all_reduce(total)
        return int(total.item())

    def _get_train_sampler(self, train_dataset: Any = None) -> LengthGroupedSampler:
        ds: MixtureDataset = train_dataset if train_dataset is not None else self.train_dataset
        # LLaVA: mega-batches of one global step, one chunk per micro-batch of it.
        return LengthGroupedSampler([ds.modality_length(i) for i in range(len(ds))],
                                    self.args.per_device_train_batch_size,
                                    self.args.world_size * self.args.gradient_accumulation_steps, seed=self.args.seed)


def _once_per_node(dest: Path, build: Callable[[], Path]) -> Path:
    """Local rank 0 builds the starting checkpoint; the node's other ranks wait for its rename."""
    if distributed.local_rank() == 0:
        return build()
    deadline = time.monotonic() + _WAIT_FOR_INIT_S
    while not (dest / "config.json").is_file():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{dest} did not appear; did local rank 0 fail?")
        time.sleep(5)
    return dest


def resolve_model(config: TrainConfig) -> Path:
    init = Path(config.output_dir) / "init"
    if config.model == "tiny":
        return _once_per_node(init, lambda: build_tiny(init, seed=config.seed))
    if config.model == "assemble":
        if not config.projector:
            raise ValueError("--model assemble needs --projector: the stage-1 mm_projector.bin "
                             "(stage 2 starts from a pretrained projector, not a random one)")
        return _once_per_node(init, lambda: assemble(config.llm, config.vision, Path(config.projector), init))
    return Path(config.model)


def training_arguments(config: TrainConfig, world_size: int, bf16: bool) -> TrainingArguments:
    """LLaVA-1.5's finetune.sh settings from `config`; the profile sets clipping and the loss reduction."""
    out = Path(config.output_dir)
    profile = get_profile(config.profile)
    deepspeed = str(write_zero3_config(out / "ds_zero3.json")) if config.zero3 else None
    return TrainingArguments(
        output_dir=str(out), per_device_train_batch_size=config.per_device_batch,
        gradient_accumulation_steps=config.gradient_accumulation(world_size),
        learning_rate=config.learning_rate, lr_scheduler_type=config.lr_scheduler,
        warmup_steps=config.warmup_ratio, num_train_epochs=config.epochs, max_steps=config.max_steps,
        weight_decay=config.weight_decay, bf16=bf16, optim="adamw_torch",  # LLaVA's; v5 defaults to fused
        max_grad_norm=profile.max_grad_norm, tf32=True if is_torch_tf32_available() else None,
        average_tokens_across_devices=profile.global_token_mean,
        activation_checkpointing=config.gradient_checkpointing,
        activation_checkpointing_kwargs={"use_reentrant": False}, deepspeed=deepspeed,
        logging_steps=config.logging_steps, save_strategy="steps", save_steps=config.save_steps,
        save_total_limit=config.save_total_limit, report_to="none", remove_unused_columns=False,
        dataloader_num_workers=config.dataloader_workers,
        dataloader_pin_memory=torch.cuda.is_available(),
        seed=config.seed, disable_tqdm=True)


def _publish_final(trainer: Trainer, stage2: Any, out: Path) -> Path:
    """Every rank joins save_model (ZeRO-3 gathers the 16-bit weights); rank 0 renames."""
    partial, final = out / ".final.partial", out / "final"
    if is_rank_zero():
        shutil.rmtree(partial, ignore_errors=True)
    distributed.barrier()
    # Non-writer ranks also list the folder inside save_pretrained (ZeRO-3 gather), so it must
    # exist on every node, not only on rank 0's.
    partial.mkdir(parents=True, exist_ok=True)
    trainer.save_model(str(partial))
    distributed.barrier()
    if is_rank_zero():
        stage2.processor.save_pretrained(partial)
        shutil.rmtree(final, ignore_errors=True)
        os.replace(partial, final)
    return final


def run(config: TrainConfig, reporter: Reporter, callbacks: list[TrainerCallback] | None = None) -> dict[str, Any]:
    distributed.join_process_group()
    world_size = distributed.world_size()
    out = Path(config.output_dir)
    finished = out / "train_metrics.json"
    if (out / "final").is_dir() and finished.is_file():
        # The output folder is keyed by the mixture's content: a finished run is not trained again.
        metrics = json.loads(finished.read_text())
        reporter.info(f"{out} already holds a finished run; reusing it (delete the folder to retrain)")
        reporter.final(metrics)
        return metrics
    bf16 = config.bf16 and torch.cuda.is_available()
    if config.bf16 and not bf16:
        reporter.info("no CUDA device: training in fp32 (bf16 needs a GPU here)")
    # Build/assemble the starting checkpoint before the TrainingArguments exist: once they do, ZeRO-3
    # hooks every model construction into partitioned init, which this one-rank step must not enter.
    model_path = resolve_model(config)
    args = training_arguments(config, world_size, bf16)  # before loading: ZeRO-3 init hooks in here
    if is_rank_zero():
        shutil.rmtree(out / "bad_samples", ignore_errors=True)
    last = get_last_checkpoint(str(out)) if out.is_dir() else None
    # Without DeepSpeed, the Trainer resumes by load_state_dict on the checkpoint file, which
    # transformers 5 writes with llava's legacy key names: the keys miss and the weights silently
    # stay at init. from_pretrained converts them, so the resumed weights are loaded here instead.
    stage2 = load_for_training(model_path, torch.bfloat16 if bf16 else torch.float32,
                               weights=last if last and not config.zero3 else None)
    dataset = MixtureDataset(Path(config.mixture), Path(config.image_folder), stage2.tokenizer,
                             stage2.image_processor, stage2.model.config.image_token_id,
                             stage2.num_image_tokens, config.max_length, profile=config.profile)
    rejected_at_open = dict(dataset.bad.counts)
    dataset.bad = BadSamples(out / "bad_samples")
    reporter.info(f"{len(dataset)} samples ({sum(map(dataset.has_image, range(len(dataset))))} with image), "
                  f"rejected {rejected_at_open}; world {world_size}, per-device {config.per_device_batch}, "
                  f"accumulation {args.gradient_accumulation_steps}, global batch {config.global_batch}, "
                  f"profile {config.profile}")
    trainer = Stage2Trainer(model=stage2.model, args=args, train_dataset=dataset,
                            data_collator=Collator(stage2.tokenizer.pad_token_id),
                            processing_class=stage2.tokenizer, profile=get_profile(config.profile),
                            base_vocab_size=stage2.base_vocab_size)
    progress = ProgressCallback(reporter, world_size, trainer.tokens_seen)
    for callback in [progress, *(callbacks or [])]:
        if hasattr(callback, "bind_token_counter"):  # e.g. the GPU check's step timer
            callback.bind_token_counter(trainer.tokens_seen)
        trainer.add_callback(callback)
    if last:
        reporter.info(f"resuming from {last}")
    result = trainer.train(resume_from_checkpoint=last)
    final = _publish_final(trainer, stage2, out)
    runtime = result.metrics["train_runtime"]
    tokens = trainer.tokens_seen()
    bad = dict(rejected_at_open)
    for reason, n in read_bad_samples(out / "bad_samples").items():
        bad[reason] = bad.get(reason, 0) + n
    metrics = {
        "steps": trainer.state.global_step, "train_loss": result.training_loss,
        "final_loss": progress.loss_curve[-1][1] if progress.loss_curve else None,
        "loss_curve": [[step, loss] for step, loss in progress.loss_curve],
        "train_runtime_s": runtime, "tokens_seen": tokens,
        "tokens_per_second_per_gpu": tokens / runtime / world_size if runtime else None,
        "samples": len(dataset), "world_size": world_size, "global_batch": config.global_batch,
        "profile": config.profile,
        "gradient_accumulation": args.gradient_accumulation_steps, "bad_samples": bad,
        "checkpoint": str(final.resolve()),
    }
    if is_rank_zero():
        write_text(out / "train_metrics.json", json.dumps(metrics, indent=2))
    reporter.final(metrics)
    return metrics


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stdout)
    config = parse_args(argv)
    distributed.join_process_group()  # before the reporter: only rank 0 may open Dagster Pipes
    with open_reporter() as reporter:
        run(config, reporter)
    return 0


if __name__ == "__main__":
    sys.exit(main())
