"""Hub Parquet sources -> JPEG images in the data root + conversation tables, one Parquet file at a time.

Each upstream Parquet file is a shard: its rows are streamed in batches; the text of a row becomes one
record (or a counted rejection) in the main process, and its image goes through the image contract
(`images.normalize`) in a process pool, batch by batch, with a bounded number of batches in flight.
Per shard, the conversation and rejection parts are written first and the image manifest last
(`shards.manifest_path`, carrying the shard's fingerprint): the manifest marks the shard finished,
so a re-run skips it and a killed shard is redone from scratch. The parts of a split are then
combined into `<tables>/<source>/conversations[-<split>].parquet` and `rejections[-<split>].parquet`.

Names are positional, `<source>/images/<split>-<file #>-<row #>.jpg`: upstream rows have no file
names, the file list is locked at the pinned revision (so position is stable across re-runs), a
name leads straight back to its row (the record's `source_id` is `<repo path>:<row>`), and it is
known before the image is decoded. Identical pictures in different rows stay separate files; the
manifest's sha256 identifies them (the overlap report uses it)."""
from __future__ import annotations

import hashlib
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from .. import tables
from ..atomic import write_table
from ..images import ManifestRow, normalize
from ..layout import Layout
from ..parallel import ordered_map
from ..progress import Log, Progress, default_log
from ..records import check_record, exists_under
from ..shards import ShardReport, fingerprint, finished, manifest_path
from .hub_parquet import HubDataset, Locked, iter_batches, read_lock, row_count

CONVERTER_VERSION = "hub-records-v1"  # bump when record conversion changes, to redo finished shards
BATCH_ROWS = 32                       # rows per streamed batch and per pool job (~a few MB of images)


@dataclass
class HubReport:
    source: str
    commit: str
    shards: int = 0
    reused_shards: int = 0
    rows_read: Counter = field(default_factory=Counter)        # per split
    written: Counter = field(default_factory=Counter)          # per split
    rejected: Counter = field(default_factory=Counter)         # per split
    rejections: Counter = field(default_factory=Counter)       # by reason, all splits
    image_actions: Counter = field(default_factory=Counter)    # copied / reencoded / quarantined
    quarantine_reasons: Counter = field(default_factory=Counter)
    conversations: dict[str, Path] = field(default_factory=dict)  # split -> table
    rejection_tables: dict[str, Path] = field(default_factory=dict)
    manifests: list[Path] = field(default_factory=list)
    seconds: float = 0.0


def shard_key(split: str, index: int) -> str:
    return f"{split}-{index:05d}"


def conversations_path(ds: HubDataset, layout: Layout, split: str) -> Path:
    """`conversations.parquet` for a one-split source, `conversations-<split>.parquet` otherwise."""
    suffix = "" if len(ds.splits) == 1 else f"-{split}"
    return layout.tables(ds.name) / f"conversations{suffix}.parquet"


def rejections_path(ds: HubDataset, layout: Layout, split: str) -> Path:
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


def ingest_shard(ds: HubDataset, layout: Layout, split: str, index: int, repo_path: str, local: Path,
                 commit: str, workers: int = 1, log: Log = default_log) -> tuple[ShardReport, bool]:
    """Stream one Parquet file into images + conversation/rejection parts; returns (report, reused)."""
    shard = shard_key(split, index)
    fp = fingerprint([local], [ds.name, commit, repo_path, CONVERTER_VERSION])
    parts = [_part(layout, ds.name, shard, k) for k in ("conversations", "rejections")]
    done = finished(layout, ds.name, shard, fp)
    if done is not None and all(tables.stored_fingerprint(p) == fp for p in parts):
        return done, True
    t0 = time.monotonic()
    staging = layout.staging(ds.name, shard)
    shutil.rmtree(staging, ignore_errors=True)  # leftovers of a killed run
    staging.mkdir(parents=True)
    state = _ShardState(ds.name, exists_under(layout.data_root))
    progress = Progress(f"{ds.name} {shard}", row_count(local), "rows", log)

    def batches() -> Iterator[tuple[list, tuple]]:
        """Per record batch: the records awaiting their image, and the normalization job for them."""
        row = 0
        for batch in iter_batches(local, [ds.image_column, ds.text_column], BATCH_ROWS):
            pending, jobs = [], []
            for record in batch:
                source_id = f"{repo_path}:{row}"
                rel = f"{ds.name}/images/{shard}-{row:06d}.jpg"
                rid = f"{ds.name}-{shard}-{row:06d}"
                row += 1
                turns = ds.convert(record)
                images = record.get(ds.image_column) or []
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
    write_table(parts[0], tables.with_fingerprint(tables.to_table(state.records, tables.CONVERSATIONS), fp, **meta))
    write_table(parts[1], tables.with_fingerprint(tables.to_table(state.rejected, tables.REJECTIONS), fp, **meta))
    manifest = manifest_path(layout, ds.name, shard)
    manifest_table = tables.to_table((r.as_dict() for r in state.manifest), tables.MANIFEST)
    write_table(manifest, tables.with_fingerprint(manifest_table, fp, **meta))  # last: marks the shard finished
    shutil.rmtree(staging, ignore_errors=True)
    return ShardReport.from_manifest(ds.name, shard, manifest, reused=False, seconds=time.monotonic() - t0), False


def _combine(parts: list[Path], out: Path, schema: pa.Schema) -> None:
    """Concatenate a split's parts into one table; skipped when it already holds exactly these parts."""
    fp = hashlib.sha256("".join(tables.stored_fingerprint(p) or "" for p in parts).encode()).hexdigest()
    if tables.stored_fingerprint(out) == fp:
        return
    table = pa.concat_tables([pq.read_table(p, schema=schema) for p in parts]) if parts else schema.empty_table()
    write_table(out, tables.with_fingerprint(table, fp, parts=str(len(parts))))


def ingest(ds: HubDataset, layout: Layout, workers: int = 1, log: Log = default_log) -> HubReport:
    """Every shard of every split (finished shards are reused), then the per-split tables."""
    t0 = time.monotonic()
    lock: Locked = read_lock(ds, layout)
    report = HubReport(ds.name, lock.commit)
    for split in ds.splits:
        conv_parts, rej_parts = [], []
        for index, (repo_path, local) in enumerate(zip(lock.files[split], lock.local(layout, ds.name, split))):
            if not local.exists():
                raise FileNotFoundError(f"{ds.name}: {local} not downloaded yet")
            shard_report, reused = ingest_shard(ds, layout, split, index, repo_path, local, lock.commit, workers, log)
            shard = shard_key(split, index)
            conv_parts.append(_part(layout, ds.name, shard, "conversations"))
            rej_parts.append(_part(layout, ds.name, shard, "rejections"))
            report.rows_read[split] += row_count(local)
            report.shards += 1
            report.reused_shards += reused
            report.image_actions.update(shard_report.actions)
            report.quarantine_reasons.update(shard_report.reasons)
            report.manifests.append(shard_report.manifest)
        report.conversations[split] = conversations_path(ds, layout, split)
        report.rejection_tables[split] = rejections_path(ds, layout, split)
        _combine(conv_parts, report.conversations[split], tables.CONVERSATIONS)
        _combine(rej_parts, report.rejection_tables[split], tables.REJECTIONS)
        report.written[split] = pq.read_metadata(report.conversations[split]).num_rows
        reasons = pq.read_table(report.rejection_tables[split], columns=["reason"]).column("reason").to_pylist()
        report.rejections.update(reasons)
        report.rejected[split] = len(reasons)
    report.seconds = time.monotonic() - t0
    return report


def preview(report: HubReport, limit: int = 3) -> list[dict]:
    """The first records of the first split, for a markdown preview."""
    first = next(iter(report.conversations.values()))
    return pq.read_table(first).slice(0, limit).to_pylist()

