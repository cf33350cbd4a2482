"""Training configuration: Spatial-LLaVA's published stage-2 hyperparameters as defaults, the batch
arithmetic that keeps the global batch fixed across GPU counts, and the generated ZeRO-3 config."""
from __future__ import annotations

import argparse
import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.atomic import write_text
from trainer.profiles import DEFAULT_PROFILE, PROFILES, get_profile

VICUNA = "lmsys/vicuna-7b-v1.5"
CLIP_336 = "openai/clip-vit-large-patch14-336"


@dataclass
class TrainConfig:
    mixture: str = field(metadata={"help": "mixture .json (LLaVA format) or its .parquet twin"})
    image_folder: str = field(metadata={"help": "the data root; record `image` paths are relative to it"})
    output_dir: str = field(metadata={"help": "checkpoints, final model, metrics"})
    model: str = field(default="assemble", metadata={
        "help": "'tiny' (random, offline), 'assemble' (llm + vision + projector), or a llava-hf checkpoint"})
    llm: str = VICUNA
    vision: str = CLIP_336
    projector: str = field(default="", metadata={"help": "stage-1 mm_projector.bin (required by --model assemble)"})
    global_batch: int = 128
    per_device_batch: int = 16
    learning_rate: float = 2e-5
    lr_scheduler: str = "cosine"
    warmup_ratio: float = 0.03
    epochs: float = 1.0
    max_steps: int = -1
    weight_decay: float = 0.0
    max_length: int = 2048
    bf16: bool = True
    gradient_checkpointing: bool = True
    zero3: bool = field(default=True, metadata={
        "help": "generate and use a ZeRO-3 config (needs the deepspeed launcher or a single process)"})
    dataloader_workers: int = 4
    logging_steps: int = 1
    save_steps: int = 500
    save_total_limit: int = 1
    seed: int = 42
    profile: str = field(default=DEFAULT_PROFILE, metadata={
        "help": f"{' | '.join(PROFILES)}: LLaVA-1.5's exact recipe, or its named improvements (docs/trainer.md)"})

    def __post_init__(self) -> None:
        get_profile(self.profile)  # a clear error now, not hours later

    def gradient_accumulation(self, world_size: int) -> int:
        """global = per-device x accumulation x world; refuse a split that would silently change it."""
        per_step = self.per_device_batch * world_size
        if self.global_batch % per_step:
            raise ValueError(f"global batch {self.global_batch} is not a multiple of per-device batch "
                             f"{self.per_device_batch} x {world_size} processes")
        return self.global_batch // per_step


# Overrides per preset: "llava-1.5-7b" is the dataclass defaults; "tiny" is a CPU smoke run of the
# same code path (random small Llava, fp32, no DeepSpeed, a few steps).
PRESETS: dict[str, dict[str, Any]] = {
    "llava-1.5-7b": {},
    "tiny": {"model": "tiny", "global_batch": 4, "per_device_batch": 2, "learning_rate": 1e-3,
             "max_steps": 4, "bf16": False, "zero3": False, "dataloader_workers": 0, "save_steps": 100},
}


def preset_config(preset: str, mixture: str, image_folder: str, output_dir: str,
                  **overrides: Any) -> TrainConfig:
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    return TrainConfig(mixture=mixture, image_folder=image_folder, output_dir=output_dir,
                       **{**PRESETS[preset], **overrides})


def zero3_config() -> dict[str, Any]:
    """LLaVA-1.5's scripts/zero3.json, but for `train_batch_size` (see below) and `gradient_clipping`,
    which is "auto" here: the HF Trainer fills it from `max_grad_norm`, 0 (no clipping, DeepSpeed's
    default and so LLaVA's) under the llava15 profile. 'auto' values come from TrainingArguments, so
    batch sizes, precision and optimizer settings have one source. Gathering 16-bit weights on save
    makes every checkpoint a plain `from_pretrained` folder."""
    return {
        "bf16": {"enabled": "auto"},
        "fp16": {"enabled": "auto"},
        "train_micro_batch_size_per_gpu": "auto",
        # No train_batch_size: DeepSpeed derives it from micro x accumulation x its own world size.
        # The HF Trainer fills an "auto" one at TrainingArguments creation, before the process group
        # exists, with world size 1 (seen on CPU with transformers 5.24), which then fails the check.
        "gradient_accumulation_steps": "auto",
        "gradient_clipping": "auto",
        "zero_optimization": {
            "stage": 3,
            "overlap_comm": True,
            "contiguous_gradients": True,
            "sub_group_size": 1e9,
            "reduce_bucket_size": "auto",
            "stage3_prefetch_bucket_size": "auto",
            "stage3_param_persistence_threshold": "auto",
            "stage3_max_live_parameters": 1e9,
            "stage3_max_reuse_distance": 1e9,
            "stage3_gather_16bit_weights_on_model_save": True,
        },
    }


def write_zero3_config(dest: Path) -> Path:
    write_text(dest, json.dumps(zero3_config(), indent=2))
    return dest


def parse_args(argv: list[str] | None = None) -> TrainConfig:
    parser = argparse.ArgumentParser(prog="python -m trainer.train", description=__doc__)
    for f in dataclasses.fields(TrainConfig):
        name = "--" + f.name
        help_text = f.metadata.get("help")
        if f.type == "bool":
            parser.add_argument(name, type=lambda v: v.lower() in ("1", "true", "yes"), default=f.default,
                                help=help_text)
        elif f.default is dataclasses.MISSING:
            parser.add_argument(name, required=True, help=help_text)
        else:
            kind = {"int": int, "float": float}.get(str(f.type), str)
            parser.add_argument(name, type=kind, default=f.default, help=help_text)
    # The deepspeed launcher appends --local_rank=N; the rank also arrives in LOCAL_RANK.
    parser.add_argument("--local_rank", type=int, default=-1, help=argparse.SUPPRESS)
    ns = vars(parser.parse_args(argv))
    ns.pop("local_rank")
    return TrainConfig(**ns)


def to_argv(config: TrainConfig) -> list[str]:
    """The inverse of parse_args, for launchers that build the command line."""
    return [f"--{k}={v}" for k, v in dataclasses.asdict(config).items()]
