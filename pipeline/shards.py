"""Normalize one shard of an image source over a process pool and write its manifest.

A shard is the unit of work, of resume and of a Dagster partition, and a step of the step contract
(`step.py`): its manifest (Parquet) is written atomically, then its marker, so a finished shard is
skipped by the next run and a killed one is redone from scratch (its staging folder is cleared first).
One bad member is one quarantined manifest row naming it (an invalid name, a read or write that fails
for that member alone); only an error of the environment (disk full, read-only, I/O) fails the shard.
Images the shard's previous manifest listed and it no longer writes are removed before its new
manifest replaces the old one, and the report counts them (`stale_images_removed`)."""
from __future__ import annotations

import errno
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
from .manifests import remove_stale_images
from .names import jpg_target, path_problem, target_conflicts
from .parallel import ordered_map
from .progress import Log, Progress, default_log
from .readers import Reader, TooLarge
from .sharding import shard_of
from .sources.base import IngestReport
from .step import Step

PIPELINE_VERSION = "images-v2"  # bump when normalization output changes, to redo finished shards
CHUNK = 64


@dataclass(frozen=True)
class ImageTask:
    key: str                 # what the reader reads
    rel_path: str            # destination relative to the data root (suffix forced to .jpg)
    original: str            # upstream name for the manifest
    rejection: str | None = None  # set when the task is refused before reading (e.g. unsafe name)


# Write errors that concern one name (too long, a file where a folder is needed, ...) quarantine that
# member; any other OSError (ENOSPC, EROFS, EIO, EACCES) is the environment's and fails the shard.
NAME_ERRNOS = {errno.ENAMETOOLONG, errno.ENOTDIR, errno.EISDIR, errno.EEXIST, errno.EINVAL, errno.EILSEQ}


def plan_members(source: str, members: Sequence[tuple[str, str | None]], shards: int,
                 shard: int) -> list[ImageTask]:
    """The tasks of `shard` from a whole archive listing: `(reader key, name under the image folders)`
    in archive order, the name already normalized and stripped of any alternative prefix (None for a
    name that escapes the target folder). The shard is picked from the target, so names that land on
    one file meet in one shard; duplicates and file/folder clashes are decided over the whole listing
    (`names.target_conflicts`)."""
    placed = [i for i, (_, name) in enumerate(members) if name is not None]
    targets = [jpg_target(members[i][1]) for i in placed]  # type: ignore[arg-type]
    conflicts = dict(zip(placed, target_conflicts(targets, [members[i][0] for i in placed])))
    tasks: list[ImageTask] = []
    for i, (key, name) in enumerate(members):
        if name is None:
            if shard_of(key, shards) == shard:
                tasks.append(ImageTask(key, "", key, "unsafe_path: escapes the target folder"))
        elif shard_of(target := jpg_target(name), shards) == shard:
            tasks.append(ImageTask(key, jpg_target(source, target), key, conflicts[i]))
    return tasks


def reason_category(reason: str | None) -> str:
    """'truncated: image file is truncated (...)' -> 'truncated' (the detail stays in the manifest)."""
    return (reason or "").split(":", 1)[0]


def manifest_path(layout: Layout, source: str, shard: str) -> Path:
    return layout.tables(source) / "images" / f"{shard}.parquet"


def shard_step(layout: Layout, source: str, shard: str, inputs: Sequence[Path], config: dict) -> Step:
    """An image shard's step: its marker (the report) sits beside its manifest."""
    marker = manifest_path(layout, source, shard).with_suffix(".json")
    return Step(marker, PIPELINE_VERSION, tuple(inputs), {"source": source, "shard": shard, **config})


def _quarantined(source: str, original: str, reason: str) -> ManifestRow:
    return ManifestRow(None, source, original, None, None, None, None, None, "quarantined", reason)


def _run_one(reader: Reader, t: ImageTask, data_root: Path, source: str, staging: Path) -> ManifestRow:
    if t.rejection:
        return _quarantined(source, t.original, t.rejection)
    if (problem := path_problem(t.rel_path)) is not None:
        return _quarantined(source, t.original, f"bad_name: {problem}")
    try:
        data = reader.read(t.key)
    except TooLarge as err:
        return _quarantined(source, t.original, str(err))
    except Exception as err:  # a member the archive lists but cannot inflate (CRC, bad zip)
        if isinstance(err, OSError) and err.errno is not None:
            raise  # the archive or the disk is gone: never a shard of quarantines (its old images would go)
        return _quarantined(source, t.original, f"unreadable: {type(err).__name__}: {err}")
    try:
        return normalize(data, data_root, t.rel_path, source, t.original, staging, max_bytes=reader.max_bytes)
    except OSError as err:
        if err.errno not in NAME_ERRNOS:
            raise
        return _quarantined(source, t.original, f"unwritable: {type(err).__name__}: {err.strerror}")


def _run_chunk(reader: Reader, tasks: list[ImageTask], data_root: Path, source: str,
               staging: Path) -> list[ManifestRow]:
    return [_run_one(reader, t, data_root, source, staging) for t in tasks]


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
    staging = open_staging(layout, source, shard)
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
    removed = remove_stale_images(layout.data_root, manifest, {r.path for r in rows if r.path})
    table = tables.to_table((r.as_dict() for r in rows), tables.MANIFEST)
    write_table(manifest, table.replace_schema_metadata({"source": source, "shard": shard}))
    close_staging(staging)
    report = manifest_report(source, shard, manifest, seconds=time.monotonic() - t0)
    report.expected_images = len(tasks)
    report.details["stale_images_removed"] = removed
    step.finish(report.as_dict(), [manifest])
    return report


def open_staging(layout: Layout, source: str, shard: str) -> Path:
    """The shard's empty staging folder (a killed run's leftovers are cleared first)."""
    staging = layout.staging(source, shard)
    shutil.rmtree(staging, ignore_errors=True)
    for attempt in (1, 2):
        try:
            staging.mkdir(parents=True)
            break
        except FileNotFoundError:  # another shard removed the empty parent meanwhile
            if attempt == 2:
                raise
    return staging


def close_staging(staging: Path) -> None:
    """Remove the staging folder, and its parent when no other shard is using it: LLaVA's image
    folder keeps no empty `.staging`."""
    shutil.rmtree(staging, ignore_errors=True)
    try:
        staging.parent.rmdir()
    except OSError:
        pass
