"""Hub Parquet sources -> JPEG images in the data root + conversation tables, one Parquet file at a time.

Each upstream Parquet file is a shard: its rows are streamed in batches; the text of a row becomes one
record (or a counted rejection) in the main process, and its image goes through the image contract
(`images.normalize`) in a process pool, batch by batch, with a bounded number of batches in flight.
Each Parquet file is a step of the step contract (`step.py`): its conversation and rejection parts
and its image manifest are written first, its marker last, so a re-run skips a finished file and a
killed one is redone from scratch. The parts of a split are then combined (a step too) into
`<tables>/<source>/conversations[-<split>].parquet` and `rejections[-<split>].parquet`.

Names are positional, `<source>/images/<split>-<file #>-<row #>.jpg`: upstream rows have no file
names, the file list is locked at the pinned revision (so position is stable across re-runs), a
name leads straight back to its row (the record's `source_id` is `<repo path>:<row>`), and it is
known before the image is decoded. Identical pictures in different rows stay separate files; the
manifest's sha256 identifies them (the overlap report uses it)."""
from __future__ import annotations

import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from .. import tables
from ..atomic import write_table
from ..images import ManifestRow, normalize
from ..layout import Layout
from ..parallel import ordered_map
from ..progress import Log, Progress, default_log
from ..records import check_record, exists_under
from ..shards import manifest_path, manifest_report, shard_step
from ..step import Step
from .base import IngestReport
from .hub_parquet import Locked, iter_batches, read_lock, row_count

if TYPE_CHECKING:
    from .hub_source import HubDataset

CONVERTER_VERSION = "hub-records-v1"  # bump when record conversion changes, to redo finished shards
COMBINE_VERSION = "hub-combine-v1"
BATCH_ROWS = 32                       # rows per streamed batch and per pool job (~a few MB of images)


def shard_key(split: str, index: int) -> str:
    return f"{split}-{index:05d}"


def conversations_path(ds: "HubDataset", layout: Layout, split: str) -> Path:
    """`conversations.parquet` for a one-split source, `conversations-<split>.parquet` otherwise."""
    suffix = "" if len(ds.splits) == 1 else f"-{split}"
    return layout.tables(ds.name) / f"conversations{suffix}.parquet"


def rejections_path(ds: "HubDataset", layout: Layout, split: str) -> Path:
    suffix = "" if len(ds.splits) == 1 else f"-{split}"
    return layout.tables(ds.name) / f"rejections{suffix}.parquet"


def _part(layout: Layout, source: str, shard: str, kind: str) -> Path:
    return layout.tables(source) / "parts" / f"{shard}.{kind}.parquet"


def _normalize_batch(jobs: list[tuple[bytes, str, str]], data_root: Path, source: str,
                     staging: Path) -> list[ManifestRow]:
    return [normalize(data, data_root, rel, source, original, staging) for data, rel, original in jobs]


@dataclass
class _ShardState:
    source: str
    exists: Callable[[str], bool]
    records: list[dict] = field(default_factory=list)
    rejected: list[dict] = field(default_factory=list)
    manifest: list[ManifestRow] = field(default_factory=list)

    def reject(self, source_id: str, reason: str, detail: str = "") -> None:
        self.rejected.append({"source": self.source, "source_id": source_id, "reason": reason, "detail": detail})

    def settle(self, pending: list[tuple[str, str, str, list]], rows: list[ManifestRow]) -> None:
        """Images of a batch are back: a quarantined image rejects its record, else the record is checked."""
        for (rid, rel, source_id, turns), row in zip(pending, rows):
            self.manifest.append(row)
            if row.action == "quarantined":
                self.reject(source_id, "image_undecodable", row.reason or "")
                continue
            rejection = check_record(row.path, turns, self.exists)
            if rejection:
                self.reject(source_id, rejection.reason, rejection.detail)
            else:
                self.records.append({"id": rid, "image": row.path, "conversations": turns,
                                     "source": self.source, "source_id": source_id})


def ingest_shard(ds: "HubDataset", layout: Layout, split: str, index: int, repo_path: str, local: Path,
                 commit: str, workers: int = 1, log: Log = default_log) -> IngestReport:
    """Stream one Parquet file into images + conversation/rejection parts, unless its step is current."""
    shard = shard_key(split, index)
    step = shard_step(layout, ds.name, shard, [local],
                      {"commit": commit, "file": repo_path, "converter": CONVERTER_VERSION})
    if (done := step.current()) is not None:
        return IngestReport.from_dict(done)
    parts = [_part(layout, ds.name, shard, k) for k in ("conversations", "rejections")]
    t0 = time.monotonic()
    staging = layout.staging(ds.name, shard)
    shutil.rmtree(staging, ignore_errors=True)  # leftovers of a killed run
    staging.mkdir(parents=True)
    state = _ShardState(ds.name, exists_under(layout.data_root))
    progress = Progress(f"{ds.name} {shard}", row_count(local), "rows", log)

    def batches() -> Iterator[tuple[list, tuple]]:
        """Per record batch: the records awaiting their image, and the normalization job for them."""
        row = 0
        for batch in iter_batches(local, [ds.image_column, ds.text_column, *ds.extra_columns], BATCH_ROWS):
            pending, jobs = [], []
            for record in batch:
                source_id = f"{repo_path}:{row}"
                rel = f"{ds.name}/images/{shard}-{row:06d}.jpg"
                rid = f"{ds.name}-{shard}-{row:06d}"
                row += 1
                turns = ds.convert(record)
                images = record.get(ds.image_column) or []
                images = [images] if isinstance(images, dict) else images  # an `Image` column, not a list
                if not isinstance(turns, list):
                    state.reject(source_id, turns.reason, turns.detail)
                elif not images:
                    state.reject(source_id, "no_image", f"{ds.image_column} is null or empty")
                elif len(images) > 1:
                    state.reject(source_id, "several_images", f"{len(images)} images; a record holds one")
                elif (rejection := check_record(rel, turns)) is not None:  # structure, before image work
                    state.reject(source_id, rejection.reason, rejection.detail)
                else:
                    pending.append((rid, rel, source_id, turns))
                    jobs.append(((images[0] or {}).get("bytes") or b"", rel, source_id))
            progress.advance(len(batch))
            yield pending, (jobs, layout.data_root, ds.name, staging)

    # Bounded: at most 2 batches per worker (plus the one being read) hold image bytes.
    for pending, rows in ordered_map(_normalize_batch, batches(), workers, depth=2 * workers + 1):
        state.settle(pending, rows)
    progress.close()
    meta = {"source": ds.name, "shard": shard, "commit": commit, "file": repo_path}
    write_table(parts[0], tables.to_table(state.records, tables.CONVERSATIONS).replace_schema_metadata(meta))
    write_table(parts[1], tables.to_table(state.rejected, tables.REJECTIONS).replace_schema_metadata(meta))
    manifest = manifest_path(layout, ds.name, shard)
    manifest_table = tables.to_table((r.as_dict() for r in state.manifest), tables.MANIFEST)
    write_table(manifest, manifest_table.replace_schema_metadata(meta))
    shutil.rmtree(staging, ignore_errors=True)
    report = manifest_report(ds.name, shard, manifest, seconds=time.monotonic() - t0)
    report.rows_read = row_count(local)
    report.records = len(state.records)
    report.rejections = Counter(r["reason"] for r in state.rejected)
    step.finish(report.as_dict(), [*parts, manifest])
    return report


def _combine(layout: Layout, ds: "HubDataset", split: str, shards: list[str]) -> dict[str, Path]:
    """Concatenate a split's parts into its conversation and rejection tables, unless current."""
    outputs = {"conversations": conversations_path(ds, layout, split), "rejections": rejections_path(ds, layout, split)}
    parts = {kind: [_part(layout, ds.name, s, kind) for s in shards] for kind in outputs}
    step = Step(outputs["conversations"].with_suffix(".json"), COMBINE_VERSION,
                parts["conversations"] + parts["rejections"], {"source": ds.name, "split": split})
    if step.current() is None:
        for kind, schema in (("conversations", tables.CONVERSATIONS), ("rejections", tables.REJECTIONS)):
            found = parts[kind]
            table = pa.concat_tables([pq.read_table(p, schema=schema) for p in found]) if found else schema.empty_table()
            write_table(outputs[kind], table)
        step.finish({"source": ds.name, "split": split, "parts": len(shards)}, list(outputs.values()))
    return outputs


def ingest(ds: "HubDataset", layout: Layout, workers: int = 1, log: Log = default_log) -> IngestReport:
    """Every file of every split (finished ones are reused), then the per-split tables."""
    t0 = time.monotonic()
    lock: Locked = read_lock(ds, layout)
    report = IngestReport(ds.name, reused=True, rows_read=0,
                          details={"commit": lock.commit, "shards": 0, "reused_shards": 0, "by_split": {}})
    for split in ds.splits:
        shards = []
        split_rows = 0
        for index, (repo_path, local) in enumerate(zip(lock.files[split], lock.local(layout, ds.name, split))):
            if not local.exists():
                raise FileNotFoundError(f"{ds.name}: {local} not downloaded yet")
            shard_report = ingest_shard(ds, layout, split, index, repo_path, local, lock.commit, workers, log)
            shards.append(shard_key(split, index))
            report.add(shard_report)
            split_rows += shard_report.rows_read or 0
            report.details["shards"] += 1
            report.details["reused_shards"] += shard_report.reused
        outputs = _combine(layout, ds, split, shards)
        report.tables[split] = outputs["conversations"]
        report.details["by_split"][split] = {"rows": split_rows,
                                             "records": pq.read_metadata(outputs["conversations"]).num_rows,
                                             "rejected": pq.read_metadata(outputs["rejections"]).num_rows,
                                             "upstream_rows": ds.expected_rows.get(split)}
    report.seconds = time.monotonic() - t0
    return report


def preview(report: IngestReport, limit: int = 3) -> list[dict]:
    """The first records of the first split, for a markdown preview."""
    first = next(iter(report.tables.values()))
    return pq.read_table(first).slice(0, limit).to_pylist()

