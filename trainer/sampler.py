"""LLaVA-1.5's `group_by_modality_length` sampler (llava/train/llava_trainer.py), re-implemented.

Per modality, a random permutation is cut into mega-batches of one global step (per-device batch x
world size x accumulation), each sorted longest first and dealt into per-device batches of even total
length (`split_to_even_chunks`). The single-modality mega-batches are shuffled; the two leftover ones
(one per modality) are merged, index-sorted, into the last mixed one. A micro-step may therefore mix
images and text across ranks; the trainer runs the vision tower on every rank regardless.

Lengths follow LLaVA's `modality_lengths`: the words of all turns, negative for text-only samples.
LLaVA draws from the global torch RNG; here one generator seeded with seed + epoch makes the three
draws (image permutation, text permutation, mega-batch order) in LLaVA's order."""
from __future__ import annotations

from typing import Iterator, Sequence

import torch
from torch.utils.data import Sampler


def split_to_even_chunks(indices: list[int], lengths: Sequence[int], num_chunks: int) -> list[list[int]]:
    """Deal `indices` (longest first) into `num_chunks` equal-size chunks, each to the shortest so far;
    round-robin when they do not divide evenly."""
    if len(indices) % num_chunks:
        return [indices[i::num_chunks] for i in range(num_chunks)]
    per_chunk = len(indices) // num_chunks
    chunks: list[list[int]] = [[] for _ in range(num_chunks)]
    totals: list[float] = [0] * num_chunks
    for index in indices:
        shortest = totals.index(min(totals))
        chunks[shortest].append(index)
        totals[shortest] += lengths[index]
        if len(chunks[shortest]) == per_chunk:
            totals[shortest] = float("inf")
    return chunks


def length_grouped_indices(lengths: Sequence[int], batch_size: int, num_chunks: int,
                           generator: torch.Generator) -> list[int]:
    order = torch.randperm(len(lengths), generator=generator).tolist()
    step = batch_size * num_chunks
    out: list[int] = []
    for start in range(0, len(lengths), step):
        megabatch = sorted(order[start:start + step], key=lambda i: lengths[i], reverse=True)
        for chunk in split_to_even_chunks(megabatch, lengths, num_chunks):
            out.extend(chunk)
    return out


def modality_length_grouped_indices(lengths: Sequence[int], batch_size: int, num_chunks: int,
                                    generator: torch.Generator) -> list[int]:
    if any(length == 0 for length in lengths):
        raise ValueError("a sample has no words: LLaVA's sampler needs a non-zero length per sample")
    if all(length > 0 for length in lengths) or all(length < 0 for length in lengths):
        return length_grouped_indices(lengths, batch_size, num_chunks, generator)
    image = [i for i, length in enumerate(lengths) if length > 0]
    text = [i for i, length in enumerate(lengths) if length < 0]
    step = batch_size * num_chunks
    megabatches: list[list[list[int]]] = []
    for pool in (image, text):
        grouped = length_grouped_indices([abs(lengths[i]) for i in pool], batch_size, num_chunks, generator)
        shuffled = [pool[i] for i in grouped]
        megabatches.append([shuffled[k:k + step] for k in range(0, len(shuffled), step)])
    (*image_full, image_last), (*text_full, text_last) = megabatches
    full = image_full + text_full
    ordered = [full[i] for i in torch.randperm(len(full), generator=generator).tolist()]
    leftover = sorted(image_last + text_last)
    return [i for megabatch in [*ordered, leftover] for i in megabatch]


class LengthGroupedSampler(Sampler[int]):
    """`num_chunks` is LLaVA's `world_size * gradient_accumulation_steps`: one chunk per micro-batch
    of the global step."""

    def __init__(self, lengths: Sequence[int], per_device_batch: int, num_chunks: int, seed: int = 0) -> None:
        self.lengths = list(lengths)
        self.per_device_batch, self.num_chunks = per_device_batch, num_chunks
        self.seed, self.epoch = seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        return iter(modality_length_grouped_indices(self.lengths, self.per_device_batch, self.num_chunks, generator))
