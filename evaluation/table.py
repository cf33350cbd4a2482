"""The eval table: one row per benchmark question, whatever benchmark it came from.

    <folder>/eval.parquet        EVAL rows; `image` is relative to <folder>
    <folder>/images/...          the pictures (embedded hub bytes are written out here)
    <folder>/rejections.parquet  upstream rows that could not become a question, with the reason

Written atomically (images first, the table last) as one step of the step contract: the marker
`eval.json` is written after everything else and lists every output, so a folder whose marker is
current is complete, and steps downstream (predictions, scores) take the table file as an input."""
from __future__ import annotations

import hashlib
import io
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from evaluation.judge import Truth
from pipeline.atomic import write_bytes, write_table
from pipeline.digests import sha256_file
from pipeline.step import Step
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
MARKER = "eval.json"
TABLE_VERSION = "eval-table-v2"  # bump when the table written from the same inputs changes


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


def write_eval_table(folder: Path, benchmark: str, items: list[EvalItem], rejected: list[Rejected]) -> dict[Path, str]:
    """Write images, rejections, then the table; pictures of an earlier table that this one does not
    use are removed. Returns every output with its sha256 (what a step's marker lists)."""
    folder = Path(folder)
    ids = [i.id for i in items]
    if len(set(ids)) != len(ids):
        dupes = sorted({i for i in ids if ids.count(i) > 1})[:5]
        raise ValueError(f"{benchmark}: duplicate question ids {dupes}")
    outputs: dict[Path, str] = {}
    for item in items:
        path = folder / item.image
        if item.image_bytes is not None and path not in outputs:
            digest = hashlib.sha256(item.image_bytes).hexdigest()
            if not (path.is_file() and path.stat().st_size == len(item.image_bytes) and sha256_file(path) == digest):
                write_bytes(path, item.image_bytes)
            outputs[path] = digest
        elif item.image_bytes is None and path not in outputs:
            if not path.is_file():
                raise FileNotFoundError(f"{benchmark}: {item.id} refers to {path}, which does not exist")
            outputs[path] = sha256_file(path)
    for stale in (p for p in (folder / "images").glob("*") if p.is_file() and p not in outputs):
        stale.unlink()
    write_table(folder / "rejections.parquet", to_table(
        [{"source": benchmark, "source_id": r.source_id, "reason": r.reason, "detail": r.detail} for r in rejected],
        REJECTIONS))
    table = to_table([item.row(benchmark) for item in items], EVAL)
    write_table(folder / TABLE, table.replace_schema_metadata({"benchmark": benchmark}))
    return outputs | {folder / "rejections.parquet": sha256_file(folder / "rejections.parquet"),
                      folder / TABLE: sha256_file(folder / TABLE)}


Reader = Callable[[], "tuple[list[EvalItem], list[Rejected], int]"]  # -> items, rejected rows, rows read


def build_eval_table(folder: Path, benchmark: str, read: Reader, inputs: list[Path], config: dict,
                     log: Callable[[str], None] = print) -> dict:
    """The eval table of one benchmark as a step (pipeline/step.py): `read` runs only when the inputs,
    the config or TABLE_VERSION changed, or an output went missing. Returns the step's report."""
    step = Step(Path(folder) / MARKER, TABLE_VERSION, inputs, {"benchmark": benchmark, **config})
    if (done := step.current()) is not None:
        log(f"{benchmark}: eval table current ({done['questions']} questions)")
        return {**done, "reused": True}
    items, rejected, rows = read()
    outputs = write_eval_table(Path(folder), benchmark, items, rejected)
    report = {"benchmark": benchmark, "table": str(Path(folder) / TABLE), "questions": len(items),
              "rows_read": rows, "rejected": len(rejected), "rejections": dict(Counter(r.reason for r in rejected)),
              "by_category": dict(sorted(Counter(i.category for i in items).items()))}
    step.finish(report, list(outputs), known=outputs)
    log(f"{benchmark}: {len(items)} questions, {len(rejected)} rejections -> {folder}")
    return {**report, "reused": False}


def read_eval_table(folder: Path) -> pa.Table:
    path = Path(folder) / TABLE
    if not path.is_file():
        raise FileNotFoundError(f"{path} missing: build the benchmark's eval table first")
    table = pq.read_table(path)
    if table.schema.remove_metadata() != EVAL:
        raise ValueError(f"{path}: not an eval table (columns {table.column_names})")
    return table
