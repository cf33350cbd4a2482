"""Arrow schemas of the project's tables (all stored as Parquet; see `atomic.write_table`)."""
from __future__ import annotations

from typing import Any, Iterable, Mapping

import pyarrow as pa

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


# OCR-VQA: one row per cover that could not be downloaded.
FAILURES = pa.schema([("book_id", pa.string()), ("url", pa.string()), ("error", pa.string())])

# COCO instances: one row per annotated object, the regions spatial QA starts from.
INSTANCES = pa.schema([
    ("image", pa.string()),               # relative to the data root, e.g. coco/train2017/x.jpg
    ("width", pa.int32()),
    ("height", pa.int32()),
    ("category", pa.string()),
    ("bbox", pa.list_(pa.float64())),     # [x, y, w, h] in pixels, as COCO stores it
    ("iscrowd", pa.bool_()),
])


def to_table(rows: Iterable[Mapping[str, Any]], schema: pa.Schema) -> pa.Table:
    """Rows -> table, column by column (Table.from_pylist would import pandas: ~0.3 s per process)."""
    rows = list(rows)
    return pa.table({f.name: pa.array([r.get(f.name) for r in rows], type=f.type) for f in schema}, schema=schema)
