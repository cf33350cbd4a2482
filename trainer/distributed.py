"""Rank and world size from torch.distributed, the one source every part of the trainer asks.

A process started by a distributed launcher (deepspeed, torchrun) joins its process group first
thing, through DeepSpeed (the backend the HF Trainer and accelerate would pick for it), so the global
batch arithmetic and rank-0 decisions know the world before the TrainingArguments exist. On CPU,
accelerate 1.15 does not see the launcher's ranks (its backend detection needs a GPU) while this
group is live, so the trainer never asks accelerate who it is."""
from __future__ import annotations

import torch.distributed as dist


def join_process_group() -> None:
    """Idempotent; a plain single process (no launcher) stays alone."""
    if dist.is_initialized() or dist.get_node_local_rank(fallback_rank=-1) < 0:
        return
    import deepspeed

    deepspeed.init_distributed()


def rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def world_size() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def local_rank() -> int:
    return dist.get_node_local_rank(fallback_rank=0)


def barrier() -> None:
    """torch.distributed directly: accelerate's wait_for_everyone is a no-op where it missed the ranks."""
    if dist.is_initialized():
        dist.barrier()
