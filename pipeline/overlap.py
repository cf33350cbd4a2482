"""Which records of the sources flagged `overlaps=<reference>` in the registry (the cauldron's VQAv2
and TextCaps) repeat a record of the reference (LLaVA-1.5's 665K). Computed once here; the mixture
reads the table and applies its recipe's policy.

Both carry COCO (VQAv2) and TextVQA (TextCaps) pictures. A record and a reference record overlap when
their written images are the same bytes (sha256 from the image manifests; byte-copied JPEGs keep the
upstream bytes, so the same upstream file gives the same hash) and, more strictly, when their first
questions agree after normalisation (image token, instruction suffix lines, case and punctuation
dropped). The result is one row per (record, reference record with the same image) in
`<tables>/overlap/cauldron_vs_665k.parquet` (source, id, llava_665k_id, same_question), in record order
then reference order, with per-source counts in its marker."""
from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import polars as pl
import pyarrow as pa

from .atomic import write_table
from .layout import Layout
from .manifests import image_hashes, manifest_files
from .records import IMAGE_TOKEN
from .sources.registry import SOURCES
from .step import Step

VERSION = "overlap-v1"
OVERLAP = pa.schema([
    ("source", pa.string()),           # the source whose record repeats the reference (vqav2, textcaps)
    ("id", pa.string()),               # its record id
    ("llava_665k_id", pa.string()),    # the reference record with the same image
    ("same_question", pa.bool_()),     # and the same normalised first question
])
_WORD = re.compile(r"[^\W_]+")  # runs of letters or digits, any script


@dataclass
class SourceOverlap:
    records: int = 0
    same_image: int = 0                # records whose image is byte-identical to a reference record's
    same_image_and_question: int = 0   # ... and whose first question matches that record's
    same_question_any_image: int = 0   # first question asked somewhere in the reference (weak: common questions)
    pairs: int = 0


@dataclass
class OverlapReport:
    table: Path
    records_665k: int
    by_source: dict[str, SourceOverlap] = field(default_factory=dict)
    reused: bool = False
    seconds: float = 0.0


def question_key(first_turn: str) -> str:
    """The question itself: the first non-empty line without the image token, as lowercase words.

    Both datasets append instruction lines ("Answer the question using a single word or phrase.",
    "Give a very brief answer."), differently; the question is the first line in both."""
    lines = (line for line in first_turn.replace(IMAGE_TOKEN, "").splitlines() if line.strip())
    return " ".join(_WORD.findall(next(lines, "").lower()))


def overlap_path(layout: Layout) -> Path:
    return layout.tables("overlap") / "cauldron_vs_665k.parquet"


def _first_questions(tables_: list[Path]) -> pl.DataFrame:
    """id, image and the normalised first question of every record of the tables, in order."""
    frame = pl.concat([pl.read_parquet(t, columns=["id", "image", "conversations"]) for t in tables_])
    first = pl.col("conversations").list.first().struct.field("value")
    return frame.select("id", "image", _q=first.map_elements(question_key, return_dtype=pl.String,
                                                              skip_nulls=True).fill_null(""))


def _tables_of(layout: Layout, source: str) -> list[Path]:
    paths = [layout.tables(source) / t for t in SOURCES[source].tables.values()]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise FileNotFoundError(f"overlap: {missing} missing (build {source}'s conversations first)")
    return paths


def cauldron_overlap(layout: Layout, sources: tuple[str, ...], reference: str = "llava_665k") -> OverlapReport:
    """Measure and record how `sources` repeat `reference` (a step: skipped when its inputs are unchanged)."""
    ref_tables = _tables_of(layout, reference)
    source_tables = {s: _tables_of(layout, s) for s in sources}
    out = overlap_path(layout)
    inputs = [*ref_tables, *(t for ts in source_tables.values() for t in ts), *manifest_files(layout.tables_root)]
    step = Step(out.with_suffix(".json"), VERSION, inputs, {"reference": reference, "sources": list(sources)})
    if (done := step.current()) is not None:
        return OverlapReport(out, done["records_665k"], {k: SourceOverlap(**v) for k, v in done["by_source"].items()},
                             reused=True, seconds=done["seconds"])
    t0 = time.monotonic()
    shas = image_hashes(layout.tables_root)
    ref = _first_questions(ref_tables).with_row_index("_ref_row")
    ref_by_sha = (ref.join(shas, left_on="image", right_on="path", how="inner")
                  .select("sha256", "_ref_row", _ref="id", _ref_q="_q"))
    asked_anywhere = ref["_q"].unique()
    report = OverlapReport(out, ref.height)
    parts = []
    for source, paths in source_tables.items():
        recs = (_first_questions(paths).with_row_index("_row")
                .join(shas, left_on="image", right_on="path", how="left"))
        pairs = (recs.join(ref_by_sha, on="sha256", how="inner").sort("_row", "_ref_row")
                 .select(source=pl.lit(source), id="id", llava_665k_id="_ref", same_question=pl.col("_q") == pl.col("_ref_q")))
        per_record = pairs.group_by("id").agg(pl.col("same_question").any())
        report.by_source[source] = SourceOverlap(
            records=recs.height, same_image=per_record.height,
            same_image_and_question=int(per_record["same_question"].sum()),
            same_question_any_image=int(recs["_q"].is_in(asked_anywhere.implode()).sum()), pairs=pairs.height)
        parts.append(pairs)
    write_table(out, pl.concat(parts).to_arrow().cast(OVERLAP) if parts else OVERLAP.empty_table())
    report.seconds = time.monotonic() - t0
    step.finish({"records_665k": report.records_665k, "seconds": report.seconds,
                 "by_source": {k: asdict(v) for k, v in report.by_source.items()}}, [out])
    return report
