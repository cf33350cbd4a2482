"""The command line that starts training: plain python (one process: CPU, or one GPU without
DeepSpeed) or the `deepspeed` launcher (one process per GPU; several nodes through a hostfile). The
third launcher, `ray`, is not a command on this machine: `trainer.ray_train` runs as a Ray job and
Ray Train places the ranks on the cluster's nodes."""
from __future__ import annotations

import dataclasses
import shutil
import sys
from pathlib import Path

from trainer.config import TrainConfig, to_argv

LAUNCHERS = ("python", "deepspeed")
RAY = "ray"


def choose_launcher(config: TrainConfig, requested: str) -> str:
    """A run without ZeRO-3 (the tiny preset's CPU smoke run) is one plain process whatever was asked;
    ZeRO-3 runs use the requested launcher."""
    if requested not in LAUNCHERS:
        raise ValueError(f"launcher must be one of {LAUNCHERS}, got {requested!r}")
    return requested if config.zero3 else "python"


def training_command(config: TrainConfig, launcher: str = "deepspeed", num_gpus: int = 1,
                     hostfile: str | None = None, master_port: int = 29500) -> list[str]:
    if launcher == "python":
        if config.zero3 and num_gpus > 1:
            raise ValueError("several GPUs need the deepspeed launcher (launcher='deepspeed')")
        return [sys.executable, "-m", "trainer.train", *to_argv(config)]
    if launcher != "deepspeed":
        raise ValueError(f"launcher must be one of {LAUNCHERS}, got {launcher!r}")
    deepspeed = shutil.which("deepspeed") or str(Path(sys.executable).parent / "deepspeed")
    # With a hostfile the launcher takes every slot it lists (num_gpus would cap each node).
    where = ["--hostfile", hostfile] if hostfile else ["--num_gpus", str(num_gpus)]
    return [deepspeed, *where, "--master_port", str(master_port), "--module", "trainer.train",
            *to_argv(dataclasses.replace(config, zero3=True))]
