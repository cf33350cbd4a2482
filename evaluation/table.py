"""The eval table: one row per benchmark question, whatever benchmark it came from.

    <folder>/eval.parquet        EVAL rows; `image` is relative to <folder>
    <folder>/images/...          the pictures (embedded hub bytes are written out here)
    <folder>/rejections.parquet  upstream rows that could not become a question, with the reason

Written atomically (images first, the table last), so a folder with eval.parquet is complete; the
table carries a fingerprint of its rows, which keys the predictions made from it."""
from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from evaluation.judge import Truth
from pipeline.atomic import write_bytes, write_table
from pipeline.tables import REJECTIONS, to_table

REGION = pa.struct([("label", pa.string()), ("box", pa.list_(pa.float64()))])  # box: x0 y0 x1 y1 pixels
EVAL = pa.schema([
    ("id", pa.string()),
    ("benchmark", pa.string()),
    ("image", pa.string()),                # relative to the table's folder
    ("question", pa.string()),             # as the model reads it, objects named in text ("Region [0]")
    ("category", pa.string()),             # one of the 12 (spatialqa_gen.qa.CATEGORIES)
    ("truth_kind", pa.string()),           # yes_no | choice | metres | clock
    ("truth_value", pa.float64()),         # 1/0, index into options, metres, clock hour
    ("options", pa.list_(pa.string())),    # the two objects of a qualitative question, in its order
    ("answer", pa.string()),               # the benchmark's reference answer, as written
    ("regions", pa.list_(REGION)),         # marks to draw on the image before inference ([] = none)
    ("source_category", pa.string()),      # the upstream's own category name
    ("source_id", pa.string()),
])
TABLE = "eval.parquet"


@dataclass
class EvalItem:
    id: str
    question: str
    category: str
    truth: Truth
    answer: str
    image: str                                     # a file name relative to the table folder
    image_bytes: bytes | None = None               # embedded upstream bytes to write to `image`
    regions: list[dict] = field(default_factory=list)
    source_category: str = ""
    source_id: str = ""

    def row(self, benchmark: str) -> dict:
        return {"id": self.id, "benchmark": benchmark, "image": self.image, "question": self.question,
                "category": self.category, "truth_kind": self.truth.kind, "truth_value": self.truth.value,
                "options": list(self.truth.options), "answer": self.answer, "regions": self.regions,
                "source_category": self.source_category, "source_id": self.source_id}


@dataclass(frozen=True)
class Rejected:
    source_id: str
    reason: str
    detail: str


def truth_of(row: dict) -> Truth:
    return Truth(row["truth_kind"], row["truth_value"], tuple(row["options"] or ()))


def image_suffix(data: bytes) -> str:
    """File suffix from the bytes themselves (hub rows carry no reliable name)."""
    with Image.open(io.BytesIO(data)) as im:
        return {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "GIF": ".gif"}.get(im.format or "", ".img")


def _fingerprint(table: pa.Table) -> str:
    h = hashlib.sha256()
    for row in table.to_pylist():
        h.update(json.dumps(row, sort_keys=True).encode())
    return h.hexdigest()


def write_eval_table(folder: Path, benchmark: str, items: list[EvalItem], rejected: list[Rejected]) -> Path:
    """Write images, rejections, then the table (idempotent: same items, same bytes and fingerprint)."""
    folder = Path(folder)
    ids = [i.id for i in items]
    if len(set(ids)) != len(ids):
        dupes = sorted({i for i in ids if ids.count(i) > 1})[:5]
        raise ValueError(f"{benchmark}: duplicate question ids {dupes}")
    for item in items:
        if item.image_bytes is not None and not (folder / item.image).is_file():
            write_bytes(folder / item.image, item.image_bytes)
    write_table(folder / "rejections.parquet", to_table(
        [{"source": benchmark, "source_id": r.source_id, "reason": r.reason, "detail": r.detail} for r in rejected],
        REJECTIONS))
    table = to_table([item.row(benchmark) for item in items], EVAL)
    meta = {"fingerprint": _fingerprint(table), "benchmark": benchmark}
    write_table(folder / TABLE, table.replace_schema_metadata(meta))
    return folder / TABLE


def read_eval_table(folder: Path) -> tuple[pa.Table, str]:
    """The table and its fingerprint."""
    path = Path(folder) / TABLE
    if not path.is_file():
        raise FileNotFoundError(f"{path} missing: build the benchmark's eval table first")
    table = pq.read_table(path)
    fingerprint = (table.schema.metadata or {}).get(b"fingerprint", b"").decode()
    if table.schema.remove_metadata() != EVAL:
        raise ValueError(f"{path}: not an eval table (columns {table.column_names})")
    return table, fingerprint
