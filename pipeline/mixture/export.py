"""Writing the outputs: the LLaVA JSON and its Parquet copy (streamed, hashed as written), other
tables, and re-reading a written JSON to count its records."""
from __future__ import annotations

import contextlib
import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO, Iterator

import orjson
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline import atomic, tables
from pipeline.digests import sha256_file

BATCH_ROWS = 16_384  # records per JSON / Parquet write: bounds the memory of the export
# The Parquet copy is a by-product beside the JSON: zstd's fast negative levels compress its text
# ~1.5x less than level 1 but encode it ~1.5x faster, and its encoding is the export's longest thread.
PARQUET_COMPRESSION, PARQUET_LEVEL = "zstd", -1


def _encode_json(batch: pl.DataFrame) -> pl.Series:
    """One LLaVA JSON document per record (polars' encoder, no Python objects per record). A
    text-only record has no `image` key at all: LLaVA decides the modality by the key's presence."""
    lines = batch.select(pl.struct("id", "image", "conversations").struct.json_encode()).to_series()
    text_only = batch["image"].is_null().arg_true()
    if text_only.len():
        # `"image":null,` can only be the key itself: inside a JSON string every `"` is escaped
        stripped = lines.gather(text_only).str.replace('"image":null,', "", literal=True, n=1)
        lines = lines.scatter(text_only, stripped)
    return lines


class _HashingFile:
    """Write-through file wrapper that hashes and counts what passes (polars and pyarrow write into it)."""

    closed = False  # pyarrow checks it before writing

    def __init__(self, f: BinaryIO) -> None:
        self.f, self.sha, self.size = f, hashlib.sha256(), 0

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        self.size += len(data)
        return self.f.write(data)

    def flush(self) -> None:
        self.f.flush()


def _batches(records: pl.DataFrame, order: pl.DataFrame) -> Iterator[pl.DataFrame]:
    """The output records in output order, BATCH_ROWS at a time: `order` holds each record's row in
    `records` (`_uid`) and its final id. Gathering per batch keeps every batch compact, so converting
    it (to JSON, to Arrow) costs only its own rows and the memory of one batch."""
    columns = records.select(tables.CONVERSATIONS.names)
    for start in range(0, order.height, BATCH_ROWS):
        part = order.slice(start, BATCH_ROWS)
        yield columns[part["_uid"].to_numpy()].with_columns(id=part["id"])


def _write_lines(f: _HashingFile, lines: pl.DataFrame, last: bool) -> None:
    """One JSON record per line, each followed by a comma except the very last one."""
    lines[: -1 if last else None].write_csv(f, include_header=False, quote_style="never", line_terminator=",\n")
    if last:
        f.write(lines[-1, 0].encode() + b"\n")


def _write_row_group(writer: pq.ParquetWriter, batch: pl.DataFrame) -> None:
    writer.write_table(batch.to_arrow().cast(tables.CONVERSATIONS))


def _close_json(f: _HashingFile, raw: BinaryIO) -> None:
    f.write(b"]\n")
    raw.flush()
    os.fsync(raw.fileno())


def export(records: pl.DataFrame, order: pl.DataFrame, json_dest: Path,
           parquet_dest: Path | None) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Write the LLaVA JSON (a list, one record per line, streamed) and the Parquet copy with
    provenance, both atomic and in the same order; returns size/sha256 of each (hashed as written).
    The main thread gathers and encodes batch n+1 while one thread writes and hashes the JSON of
    batch n and another converts and encodes it to Parquet (polars, pyarrow, hashlib and file writes
    release the GIL). Each thread has one job queued at most, so memory stays a few batches."""
    schema = tables.CONVERSATIONS
    with contextlib.ExitStack() as stack:
        raw = stack.enter_context(stack.enter_context(atomic.atomic_path(json_dest)).open("wb"))
        f = _HashingFile(raw)
        writer, pq_file = None, None
        if parquet_dest is not None:
            pq_raw = stack.enter_context(stack.enter_context(atomic.atomic_path(parquet_dest)).open("wb"))
            pq_file = _HashingFile(pq_raw)
            # no dictionaries or statistics: free text of high cardinality gains nothing from them
            writer = stack.enter_context(pq.ParquetWriter(
                pq_file, schema, compression=PARQUET_COMPRESSION, compression_level=PARQUET_LEVEL,
                use_dictionary=["source"], write_statistics=False))
        # entered last, so they exit first: no write outlives its file
        json_pool = stack.enter_context(ThreadPoolExecutor(max_workers=1))
        parquet_pool = stack.enter_context(ThreadPoolExecutor(max_workers=1))
        f.write(b"[\n")
        json_job = parquet_job = None
        written = 0
        for batch in _batches(records, order):
            if writer:
                if parquet_job:
                    parquet_job.result()
                parquet_job = parquet_pool.submit(_write_row_group, writer, batch)
            lines = _encode_json(batch).to_frame()
            written += batch.height
            if json_job:
                json_job.result()
            json_job = json_pool.submit(_write_lines, f, lines, written == order.height)
        for job in (json_job, parquet_job):
            if job:
                job.result()
        closing = json_pool.submit(_close_json, f, raw)  # the fsync overlaps the Parquet footer
        if writer:
            writer.close()
        closing.result()
        json_out = {"file": json_dest.name, "bytes": f.size, "sha256": f.sha.hexdigest()}
    parquet_out = None if pq_file is None else {
        "file": parquet_dest.name, "bytes": pq_file.size, "sha256": pq_file.sha.hexdigest(), "rows": order.height}
    return json_out, parquet_out


def write_llava_json(records: pl.DataFrame, dest: Path) -> dict[str, Any]:
    """Only the JSON of `records` (CONVERSATIONS columns), in their order."""
    order = records.select(_uid=pl.int_range(pl.len(), dtype=pl.Int64), id="id")
    return export(records, order, dest, None)[0]


def export_table(table: pl.DataFrame, dest: Path, schema: pa.Schema) -> dict[str, Any]:
    atomic.write_table(dest, table.to_arrow().cast(schema))
    return {"file": dest.name, "bytes": dest.stat().st_size, "sha256": sha256_file(dest), "rows": table.height}


def count_json_records(path: Path) -> int:
    """Re-read a mixture JSON written by `write_llava_json` and count its records without loading the
    whole list: every line between `[` and `]` must parse as one JSON object followed by a comma
    (except the last), which is exactly a valid JSON list. Raises ValueError otherwise."""
    count = 0
    with path.open("rb") as f:
        if f.readline() != b"[\n":
            raise ValueError(f"{path}: does not start with a '[' line")
        pending: bytes | None = None  # the previous record line, judged once we see what follows it
        for raw in f:
            line = raw.rstrip(b"\n")
            if line == b"]":
                if pending is not None:
                    _parse_record(pending, path, count)
                    count += 1
                if f.read(2) not in (b"", b"\n"):
                    raise ValueError(f"{path}: data after the closing ']'")
                return count
            if pending is not None:
                if not pending.endswith(b","):
                    raise ValueError(f"{path}: record {count} is not followed by a comma")
                _parse_record(pending[:-1], path, count)
                count += 1
            pending = line
    raise ValueError(f"{path}: truncated, no closing ']' line")


def _parse_record(line: bytes, path: Path, index: int) -> None:
    try:
        rec = orjson.loads(line)
    except orjson.JSONDecodeError as e:
        raise ValueError(f"{path}: record {index} is not valid JSON: {e}") from e
    if not isinstance(rec, dict) or "conversations" not in rec:
        raise ValueError(f"{path}: record {index} is not a LLaVA record")
