"""Arrow schemas of the project's tables (all stored as Parquet; see `atomic.write_table`)."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Iterable, Mapping

import pyarrow as pa
import pyarrow.parquet as pq

TURN = pa.struct([("from", pa.string()), ("value", pa.string())])

# One row per training sample (LLaVA's record plus provenance).
CONVERSATIONS = pa.schema([
    ("id", pa.string()),
    ("image", pa.string()),            # relative to the data root; null for text-only samples
    ("conversations", pa.list_(TURN)),
    ("source", pa.string()),
    ("source_id", pa.string()),        # where in the upstream the sample came from
])

# One row per record that could not become a training sample, with its reason.
REJECTIONS = pa.schema([
    ("source", pa.string()),
    ("source_id", pa.string()),
    ("reason", pa.string()),
    ("detail", pa.string()),
])

# One row per upstream image, written or quarantined.
MANIFEST = pa.schema([
    ("path", pa.string()),             # relative to the data root; null when quarantined
    ("source", pa.string()),
    ("original", pa.string()),         # upstream name or key (zip member, URL, row id)
    ("original_format", pa.string()),  # what the bytes were (JPEG, PNG, GIF, ...; null if unreadable)
    ("width", pa.int32()),
    ("height", pa.int32()),
    ("bytes", pa.int64()),             # size of the written file
    ("sha256", pa.string()),           # of the written file
    ("action", pa.string()),           # copied | reencoded | quarantined
    ("reason", pa.string()),           # why re-encoded or quarantined
])


def to_table(rows: Iterable[Mapping[str, Any]], schema: pa.Schema) -> pa.Table:
    """Rows -> table, column by column (Table.from_pylist would import pandas: ~0.3 s per process)."""
    rows = list(rows)
    return pa.table({f.name: pa.array([r.get(f.name) for r in rows], type=f.type) for f in schema}, schema=schema)


def stored_fingerprint(path: Path) -> str | None:
    """The input fingerprint a finished table carries in its schema metadata (None if absent)."""
    if not path.exists():
        return None
    return (pq.read_schema(path).metadata or {}).get(b"fingerprint", b"").decode() or None


def files_fingerprint(paths: Iterable[Path], keys: Iterable[str] = ()) -> str:
    """Identity of a step's inputs: each file's name, size and mtime, plus any keys (versions, names)."""
    h = hashlib.sha256()
    for k in keys:
        h.update(k.encode() + b"\n")
    for p in sorted(paths):
        st = p.stat()
        h.update(f"{p.name}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def with_fingerprint(table: pa.Table, fp: str, **meta: str) -> pa.Table:
    return table.replace_schema_metadata({"fingerprint": fp, **meta})


def read(path: Path, columns: list[str] | None = None) -> pa.Table:
    return pq.read_table(path, columns=columns)
