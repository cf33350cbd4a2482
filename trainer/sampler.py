"""Batches of one modality and similar length.

Every run of `per_device_batch * world_size` consecutive indices (one micro-step on every rank, as
accelerate shards batches round-robin) holds a single modality. Under ZeRO-3 this is required, not
just faster: a rank that skipped the vision tower while another ran it would issue different
parameter all-gathers and hang. Each modality is padded with repeats to whole micro-steps."""
from __future__ import annotations

from typing import Iterator, Sequence

import torch
from torch.utils.data import Sampler


class ModalityLengthGroupedSampler(Sampler[int]):
    def __init__(self, lengths: Sequence[int], has_image: Sequence[bool], per_device_batch: int,
                 world_size: int, seed: int = 0, megabatch_steps: int = 8) -> None:
        self.lengths, self.has_image = list(lengths), list(has_image)
        self.step_size = per_device_batch * world_size
        self.per_device_batch = per_device_batch
        self.megabatch = self.step_size * megabatch_steps
        self.seed, self.epoch = seed, 0
        groups = [sum(self.has_image), len(self.has_image) - sum(self.has_image)]
        self._len = sum(-(-n // self.step_size) * self.step_size for n in groups if n)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        steps: list[list[int]] = []
        for modality in (True, False):
            pool = [i for i, img in enumerate(self.has_image) if img == modality]
            if not pool:
                continue
            order = [pool[j] for j in torch.randperm(len(pool), generator=g).tolist()]
            shortfall = -len(order) % self.step_size
            order += [order[j] for j in torch.randint(len(order), (shortfall,), generator=g).tolist()]
            for start in range(0, len(order), self.megabatch):
                # Sort within a megabatch only, so lengths group without fixing the global order.
                chunk = sorted(order[start:start + self.megabatch], key=lambda i: -self.lengths[i])
                steps.extend(chunk[k:k + self.step_size] for k in range(0, len(chunk), self.step_size))
        for k in torch.randperm(len(steps), generator=g).tolist():
            yield from steps[k]
