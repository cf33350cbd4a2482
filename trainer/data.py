"""The mixture as a torch Dataset: LLaVA JSON (a list of {id, image?, conversations}) or its Parquet twin.

Records are checked with the project's record contract and LLaVA masking rule when the dataset
opens (a mixture built elsewhere gets the same hygiene); images are decoded lazily in __getitem__. A
sample that fails there (undecodable image, too long, LLaVA's tokenization mismatch) is counted,
logged and replaced by the next good sample, so one bad file never stops a multi-day run."""
from __future__ import annotations

import json
import logging
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import orjson
import pyarrow.parquet as pq
import torch
from torch.utils.data import Dataset

from pipeline.records import LLAVA_MASKING, Rejection, check_record, llava_masking_reason
from trainer import distributed
from trainer.conversation import IGNORE_INDEX, TokenizationMismatch, TooLong, tokenize
from trainer.images import load_pixels
from trainer.profiles import DEFAULT_PROFILE

_log = logging.getLogger("spatialmix.trainer")


def read_records(path: Path) -> list[dict[str, Any]]:
    """The mixture's records from `<name>.json` or `<name>.parquet` (provenance columns ignored)."""
    if path.suffix == ".parquet" or path.is_dir():
        table = pq.read_table(path, columns=["id", "image", "conversations"])
        return table.to_pylist()
    if path.suffix == ".json":
        records = orjson.loads(path.read_bytes())
        if not isinstance(records, list):
            raise ValueError(f"{path}: expected a JSON list of LLaVA records, got {type(records).__name__}")
        return records
    raise ValueError(f"{path}: mixture must be a .json list or a .parquet table")


@dataclass
class BadSamples:
    """Rejections counted by reason; with a folder, each one is also appended to a per-process JSONL
    file (O_APPEND lines are atomic), so data-loader workers and ranks all end up in one report."""

    folder: Path | None = None
    counts: Counter = field(default_factory=Counter)

    def add(self, record_id: str, reason: str, detail: str) -> None:
        self.counts[reason] += 1
        _log.warning("bad sample %s: %s (%s)", record_id, reason, detail)
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)
            line = orjson.dumps({"id": record_id, "reason": reason, "detail": detail}) + b"\n"
            with open(self.folder / f"rank{distributed.rank()}-pid{os.getpid()}.jsonl", "ab") as f:
                f.write(line)


def read_bad_samples(folder: Path) -> Counter:
    """Distinct bad samples by reason across every process's file (a sample met by two data-loader
    workers, ranks or epochs counts once)."""
    seen: dict[str, str] = {}
    for part in sorted(folder.glob("*.jsonl")) if folder.is_dir() else []:
        for line in part.read_bytes().splitlines():
            entry = json.loads(line)
            seen[entry["id"]] = entry["reason"]
    return Counter(seen.values())


class MixtureDataset(Dataset):
    def __init__(self, path: Path, image_folder: Path, tokenizer: Any, image_processor: Any,
                 image_token_id: int, num_image_tokens: int, max_length: int = 2048,
                 bad_samples: BadSamples | None = None, profile: str = DEFAULT_PROFILE) -> None:
        self.image_folder = image_folder
        self.tokenizer, self.image_processor = tokenizer, image_processor
        self.image_token_id, self.num_image_tokens = image_token_id, num_image_tokens
        self.max_length, self.profile = max_length, profile
        self.bad = bad_samples or BadSamples()
        self.records: list[dict[str, Any]] = []
        for record in read_records(path):
            rejection = _rejection(record)
            if rejection:
                self.bad.add(str(record.get("id")), rejection.reason, rejection.detail)
            else:
                self.records.append(record)
        if not self.records:
            raise ValueError(f"{path}: no valid training sample ({dict(self.bad.counts)})")
        self._failed: set[int] = set()  # per process: known-bad samples are skipped without a retry

    def __len__(self) -> int:
        return len(self.records)

    def has_image(self, index: int) -> bool:
        return bool(self.records[index].get("image"))

    def modality_length(self, index: int) -> int:
        """LLaVA's `modality_lengths`: the words of all turns, negative for a text-only sample."""
        words = sum(len(turn["value"].split()) for turn in self.records[index]["conversations"])
        return words if self.has_image(index) else -words

    def __getitem__(self, index: int) -> dict[str, Any]:
        for offset in range(len(self.records)):
            i = (index + offset) % len(self.records)
            if i in self._failed:
                continue
            try:
                return self._sample(self.records[i])
            except (OSError, ValueError, SyntaxError) as exc:  # PIL raises all three for bad files
                reason = ("too_long" if isinstance(exc, TooLong) else
                          "tokenization_mismatch" if isinstance(exc, TokenizationMismatch) else
                          "image_missing" if isinstance(exc, FileNotFoundError) else "image_unreadable")
                self._failed.add(i)
                self.bad.add(str(self.records[i].get("id")), reason, str(exc))
        raise RuntimeError("every sample in the mixture failed to load")

    def _sample(self, record: dict[str, Any]) -> dict[str, Any]:
        tokens = tokenize(record["conversations"], self.tokenizer, self.image_token_id,
                          self.num_image_tokens if record.get("image") else 0, self.max_length, self.profile)
        if tokens.truncated:
            _log.info("sample %s truncated to %d tokens", record.get("id"), self.max_length)
        sample: dict[str, Any] = {"input_ids": torch.tensor(tokens.input_ids),
                                  "labels": torch.tensor(tokens.labels)}
        if record.get("image"):
            sample["pixel_values"] = load_pixels(self.image_folder / record["image"], self.image_processor)
        return sample


def _rejection(record: dict[str, Any]) -> Rejection | None:
    conversations = record.get("conversations")
    rejection = check_record(record.get("image"), conversations)
    if rejection is None and (reason := llava_masking_reason(conversations)) is not None:
        rejection = Rejection(LLAVA_MASKING, reason)
    return rejection


@dataclass(frozen=True)
class Collator:
    """Right-pads a batch; pixel_values holds only the batch's images, in order, as Llava expects."""

    pad_token_id: int

    def __call__(self, batch: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
        width = max(len(s["input_ids"]) for s in batch)
        ids = torch.full((len(batch), width), self.pad_token_id, dtype=torch.long)
        labels = torch.full((len(batch), width), IGNORE_INDEX, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, sample in enumerate(batch):
            n = len(sample["input_ids"])
            ids[row, :n], labels[row, :n], mask[row, :n] = sample["input_ids"], sample["labels"], 1
        out = {"input_ids": ids, "labels": labels, "attention_mask": mask}
        pixels = [s["pixel_values"] for s in batch if "pixel_values" in s]
        if pixels:
            out["pixel_values"] = torch.stack(pixels)
        return out
