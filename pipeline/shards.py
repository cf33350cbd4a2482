"""Normalize one shard of an image source over a process pool and write its manifest.

A shard is the unit of work, of resume and of a Dagster partition, and a step of the step contract
(`step.py`): its manifest (Parquet) is written atomically, then its marker, so a finished shard is
skipped by the next run and a killed one is redone from scratch (its staging folder is cleared first)."""
from __future__ import annotations

import os
import shutil
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import pyarrow.parquet as pq

from . import tables
from .atomic import write_table
from .images import ManifestRow, normalize
from .layout import Layout
from .parallel import ordered_map
from .progress import Log, Progress, default_log
from .readers import Reader
from .sources.base import IngestReport
from .step import Step

PIPELINE_VERSION = "images-v1"  # bump when normalization output changes, to redo finished shards
CHUNK = 64


@dataclass(frozen=True)
class ImageTask:
    key: str                 # what the reader reads
    rel_path: str            # destination relative to the data root (suffix forced to .jpg)
    original: str            # upstream name for the manifest
    rejection: str | None = None  # set when the task is refused before reading (e.g. unsafe name)


def reason_category(reason: str | None) -> str:
    """'truncated: image file is truncated (...)' -> 'truncated' (the detail stays in the manifest)."""
    return (reason or "").split(":", 1)[0]


def manifest_path(layout: Layout, source: str, shard: str) -> Path:
    return layout.tables(source) / "images" / f"{shard}.parquet"


def shard_step(layout: Layout, source: str, shard: str, inputs: Sequence[Path], config: dict) -> Step:
    """An image shard's step: its marker (the report) sits beside its manifest."""
    marker = manifest_path(layout, source, shard).with_suffix(".json")
    return Step(marker, PIPELINE_VERSION, tuple(inputs), {"source": source, "shard": shard, **config})


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


def manifest_report(source: str, shard: str, manifest: Path, seconds: float = 0.0) -> IngestReport:
    """A shard's image counts, read from its manifest."""
    t = pq.read_table(manifest, columns=["action", "reason", "bytes"]).to_pydict()
    reasons = Counter(reason_category(r) for a, r in zip(t["action"], t["reason"]) if a == "quarantined")
    return IngestReport(source, shard, actions=Counter(t["action"]), quarantine_reasons=reasons,
                        bytes_written=sum(b or 0 for b in t["bytes"]), manifests=[manifest], seconds=seconds)


def run_shard(step: Step, tasks: Sequence[ImageTask], reader: Reader, layout: Layout, workers: int = 0,
              log: Log = default_log) -> IngestReport:
    """Normalize `tasks` into the data root, unless `step` is already current."""
    source, shard = step.config["source"], step.config["shard"]
    if (done := step.current()) is not None:
        return IngestReport.from_dict(done)
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
    write_table(manifest, table.replace_schema_metadata({"source": source, "shard": shard}))
    shutil.rmtree(staging, ignore_errors=True)
    report = manifest_report(source, shard, manifest, seconds=time.monotonic() - t0)
    report.expected_images = len(tasks)
    step.finish(report.as_dict(), [manifest])
    return report
