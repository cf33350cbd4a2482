"""Normalize one shard of an image source over a process pool and write its manifest.

A shard is the unit of work, of resume and of a Dagster partition: its manifest (Parquet) is
written last and atomically, carrying a fingerprint of its inputs, so a finished shard is skipped
by the next run and a killed one is redone from scratch (its staging folder is cleared first)."""
from __future__ import annotations

import os
import shutil
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import pyarrow.parquet as pq

from . import tables
from .atomic import write_table
from .images import ManifestRow, normalize
from .layout import Layout
from .parallel import ordered_map
from .progress import Log, Progress, default_log
from .readers import Reader

PIPELINE_VERSION = "images-v1"  # bump when normalization output changes, to redo finished shards
CHUNK = 64


@dataclass(frozen=True)
class ImageTask:
    key: str                 # what the reader reads
    rel_path: str            # destination relative to the data root (suffix forced to .jpg)
    original: str            # upstream name for the manifest
    rejection: str | None = None  # set when the task is refused before reading (e.g. unsafe name)


@dataclass
class ShardReport:
    source: str
    shard: str
    manifest: Path
    images: int = 0
    actions: Counter = field(default_factory=Counter)
    reasons: Counter = field(default_factory=Counter)
    bytes_written: int = 0
    seconds: float = 0.0
    reused: bool = False

    @classmethod
    def from_manifest(cls, source: str, shard: str, manifest: Path, reused: bool,
                      seconds: float = 0.0) -> "ShardReport":
        t = pq.read_table(manifest, columns=["action", "reason", "bytes"]).to_pydict()
        reasons = Counter(reason_category(r) for a, r in zip(t["action"], t["reason"]) if a == "quarantined")
        return cls(source, shard, manifest, len(t["action"]), Counter(t["action"]), reasons,
                   sum(b or 0 for b in t["bytes"]), seconds, reused)


def reason_category(reason: str | None) -> str:
    """'truncated: image file is truncated (...)' -> 'truncated' (the detail stays in the manifest)."""
    return (reason or "").split(":", 1)[0]


def shard_of(key: str, shards: int) -> int:
    """Stable shard assignment from the upstream name alone (same on every machine and re-run)."""
    return zlib.crc32(key.encode()) % shards


def shard_keys(shards: int) -> list[str]:
    return [f"{i:03d}" for i in range(shards)]


def manifest_path(layout: Layout, source: str, shard: str) -> Path:
    return layout.tables(source) / "images" / f"{shard}.parquet"


def fingerprint(inputs: Iterable[Path], keys: Iterable[str]) -> str:
    """Identity of a shard's work: the input files (size, mtime) and the upstream keys in it."""
    return tables.files_fingerprint(inputs, [PIPELINE_VERSION, *keys])


def _run_chunk(reader: Reader, tasks: list[ImageTask], data_root: Path, source: str,
               staging: Path) -> list[ManifestRow]:
    rows = []
    for t in tasks:
        if t.rejection:
            rows.append(ManifestRow(None, source, t.original, None, None, None, None, None,
                                    "quarantined", t.rejection))
            continue
        try:
            data = reader.read(t.key)
        except Exception as err:  # a member the archive lists but cannot inflate (CRC, bad zip)
            rows.append(ManifestRow(None, source, t.original, None, None, None, None, None,
                                    "quarantined", f"unreadable: {type(err).__name__}: {err}"))
            continue
        rows.append(normalize(data, data_root, t.rel_path, source, t.original, staging))
    return rows


def finished(layout: Layout, source: str, shard: str, fp: str) -> ShardReport | None:
    """The report of this shard if it already ran on exactly these inputs."""
    manifest = manifest_path(layout, source, shard)
    if tables.stored_fingerprint(manifest) == fp:
        return ShardReport.from_manifest(source, shard, manifest, reused=True)
    return None


def run_shard(source: str, shard: str, tasks: Sequence[ImageTask], reader: Reader, layout: Layout,
              fp: str, workers: int = 0, log: Log = default_log) -> ShardReport:
    """Normalize `tasks` into the data root; skip when a shard with fingerprint `fp` is already done."""
    if (done := finished(layout, source, shard, fp)) is not None:
        return done
    manifest = manifest_path(layout, source, shard)
    t0 = time.monotonic()
    staging = layout.staging(source, shard)
    shutil.rmtree(staging, ignore_errors=True)  # leftovers of a killed run
    staging.mkdir(parents=True)
    chunks = [list(tasks[i:i + CHUNK]) for i in range(0, len(tasks), CHUNK)]
    progress = Progress(f"{source} shard {shard}", len(tasks), "images", log)
    rows: list[ManifestRow] = []
    workers = (workers or os.cpu_count() or 1) if len(chunks) > 1 else 1
    jobs = ((None, (reader, chunk, layout.data_root, source, staging)) for chunk in chunks)
    for _, chunk_rows in ordered_map(_run_chunk, jobs, workers, depth=workers * 4):
        rows += chunk_rows
        progress.advance(len(chunk_rows))
    progress.close()
    rows.sort(key=lambda r: r.original)
    table = tables.to_table((r.as_dict() for r in rows), tables.MANIFEST)
    write_table(manifest, tables.with_fingerprint(table, fp, source=source, shard=shard))
    shutil.rmtree(staging, ignore_errors=True)
    return ShardReport.from_manifest(source, shard, manifest, reused=False, seconds=time.monotonic() - t0)
