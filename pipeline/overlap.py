"""How much of the cauldron's VQAv2 and TextCaps is already inside LLaVA-1.5's 665K.

Both carry COCO (VQAv2) and TextVQA (TextCaps) pictures. A cauldron record and a 665K record overlap
when their written images are the same bytes (sha256 from the image manifests; byte-copied JPEGs keep
the upstream bytes, so the same upstream file gives the same hash) and, more strictly, when their first
questions agree after normalisation (image token, instruction suffix lines, case and punctuation
dropped). The result is one row per overlapping pair in `<tables>/overlap/cauldron_vs_665k.parquet`
(source, id, llava_665k_id, same_question): the mixture decides what to drop."""
from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from . import tables
from .atomic import write_table
from .layout import Layout
from .records import IMAGE_TOKEN
from .sources.hub_ingest import conversations_path
from .sources.hub_registry import HUB_SOURCES

LLAVA_665K = "llava_665k"
OVERLAP = pa.schema([
    ("source", pa.string()),           # the cauldron source (vqav2, textcaps)
    ("id", pa.string()),               # its record id
    ("llava_665k_id", pa.string()),    # the 665K record with the same image
    ("same_question", pa.bool_()),     # and the same normalised first question
])
_WORD = re.compile(r"[^\W_]+")  # runs of letters or digits, any script


@dataclass
class SourceOverlap:
    records: int = 0
    same_image: int = 0                # records whose image is byte-identical to a 665K record's
    same_image_and_question: int = 0   # ... and whose first question matches that record's
    same_question_any_image: int = 0   # first question asked somewhere in the 665K (weak: common questions)
    pairs: int = 0


@dataclass
class OverlapReport:
    table: Path
    records_665k: int
    by_source: dict[str, SourceOverlap] = field(default_factory=dict)


def question_key(first_turn: str) -> str:
    """The question itself: the first non-empty line without the image token, as lowercase words.

    Both datasets append instruction lines ("Answer the question using a single word or phrase.",
    "Give a very brief answer."), differently; the question is the first line in both."""
    lines = (line for line in first_turn.replace(IMAGE_TOKEN, "").splitlines() if line.strip())
    return " ".join(_WORD.findall(next(lines, "").lower()))


def _first_turns(path: Path) -> tuple[list[str], list[str | None], list[str]]:
    t = pq.read_table(path, columns=["id", "image", "conversations"])
    first = pc.struct_field(pc.list_element(t.column("conversations"), 0), "value")
    return t.column("id").to_pylist(), t.column("image").to_pylist(), first.to_pylist()


def _sha_by_path(layout: Layout) -> dict[str, str]:
    """Every written image in the tables root: path -> sha256 of the file."""
    shas: dict[str, str] = {}
    for manifest in sorted(layout.tables_root.glob("*/images/*.parquet")):
        t = pq.read_table(manifest, columns=["path", "sha256"]).to_pydict()
        shas.update((p, s) for p, s in zip(t["path"], t["sha256"]) if p)
    return shas


def cauldron_overlap(layout: Layout, sources: tuple[str, ...] = ("vqav2", "textcaps")) -> OverlapReport:
    llava_table = layout.tables(LLAVA_665K) / "conversations.parquet"
    if not llava_table.exists():
        raise FileNotFoundError(f"overlap: {llava_table} missing (build llava_665k_conversations first)")
    source_tables = {source: conversations_path(HUB_SOURCES[source], layout, "train") for source in sources}
    for source, table in source_tables.items():
        if not table.exists():
            raise FileNotFoundError(f"overlap: {table} missing (build {source}_conversations first)")
    out = layout.tables("overlap") / "cauldron_vs_665k.parquet"
    manifests = list(layout.tables_root.glob("*/images/*.parquet"))
    fp = tables.files_fingerprint([llava_table, *source_tables.values(), *manifests], ["overlap-v1", *sources])
    if tables.stored_fingerprint(out) == fp:
        meta = pq.read_schema(out).metadata
        return OverlapReport(out, int(meta[b"records_665k"]), {
            k: SourceOverlap(**v) for k, v in json.loads(meta[b"by_source"]).items()})
    shas = _sha_by_path(layout)
    ids, images, firsts = _first_turns(llava_table)
    by_sha: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for rid, image, first in zip(ids, images, firsts):
        if image and image in shas:
            by_sha[shas[image]].append((rid, question_key(first)))
    questions_665k = {question_key(f) for f in firsts}
    report = OverlapReport(out, len(ids))
    rows = []
    for source, table in source_tables.items():
        stats = report.by_source[source] = SourceOverlap()
        for rid, image, first in zip(*_first_turns(table)):
            stats.records += 1
            q = question_key(first)
            stats.same_question_any_image += q in questions_665k
            matches = by_sha.get(shas.get(image or "", ""), [])
            same_q = [lq == q for _, lq in matches]
            stats.same_image += bool(matches)
            stats.same_image_and_question += any(same_q)
            stats.pairs += len(matches)
            rows += [{"source": source, "id": rid, "llava_665k_id": lid, "same_question": s}
                     for (lid, _), s in zip(matches, same_q)]
    by_source = json.dumps({k: asdict(v) for k, v in report.by_source.items()})
    write_table(out, tables.with_fingerprint(tables.to_table(rows, OVERLAP), fp, by_source=by_source,
                                             records_665k=str(len(ids))))
    return report
