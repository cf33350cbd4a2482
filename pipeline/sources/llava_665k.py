"""LLaVA-1.5's `llava_v1_5_mix665k.json` -> conversation records checked against the data root.

Each record keeps its upstream `id` (made unique with a `#n` suffix where the file repeats one) and
its position in the file as `source_id`. Records that break the contract, or whose image did not
survive ingest (OCR-VQA has a few hundred dead covers), go to the rejection table with a reason."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import pyarrow.parquet as pq

from .. import tables
from ..atomic import write_table
from ..layout import Layout
from ..progress import Log, Progress, default_log
from ..records import check_record, exists_under, move_image_token_first
from .hub import HubFile

SOURCE = "llava_665k"
ANNOTATIONS = HubFile("liuhaotian/LLaVA-Instruct-150K", "llava_v1_5_mix665k.json", revision="main")
EXPECTED_RECORDS = 665_298


@dataclass
class ConversationReport:
    source: str
    table: Path
    records_in: int = 0
    written: int = 0
    text_only: int = 0
    by_prefix: Counter = field(default_factory=Counter)
    rejections: Counter = field(default_factory=Counter)
    fixed_image_token: int = 0
    renamed_ids: int = 0
    reused: bool = False


def annotations_path(layout: Layout) -> Path:
    return layout.cache(SOURCE) / Path(ANNOTATIONS.filename).name


def _fingerprint(json_path: Path, layout: Layout) -> str:
    """The annotation file plus every image manifest: new images can turn a rejection into a record."""
    manifests = sorted(layout.tables_root.glob("*/images/*.parquet"))
    keys = [f"{m.parent.parent.name}/{m.name}:{tables.stored_fingerprint(m)}" for m in manifests]
    return tables.files_fingerprint([json_path], ["llava665k-v1", *keys])


def _report_from(table_path: Path) -> ConversationReport:
    meta = pq.read_schema(table_path).metadata or {}
    return ConversationReport(**orjson.loads(meta[b"report"]), table=table_path, reused=True)


def build_conversations(layout: Layout, log: Log = default_log) -> ConversationReport:
    json_path = annotations_path(layout)
    if not json_path.exists():
        raise FileNotFoundError(f"{SOURCE}: {json_path} not downloaded yet")
    out = layout.tables(SOURCE) / "conversations.parquet"
    rejected_out = layout.tables(SOURCE) / "rejections.parquet"
    fp = _fingerprint(json_path, layout)
    if tables.stored_fingerprint(out) == fp:
        return _report_from(out)

    records = orjson.loads(json_path.read_bytes())
    if not isinstance(records, list):
        raise ValueError(f"{json_path}: expected a JSON list of records, got {type(records).__name__}")
    report = ConversationReport(SOURCE, out, records_in=len(records))
    exists = exists_under(layout.data_root)
    rows, rejected, seen_ids = [], [], Counter()
    progress = Progress(f"{SOURCE} records", len(records), "records", log)
    for index, rec in enumerate(records):
        progress.advance(1)
        if not isinstance(rec, dict):
            rejected.append({"source": SOURCE, "source_id": str(index), "reason": "not_a_record", "detail": ""})
            continue
        upstream_id = str(rec.get("id", index))
        source_id = f"{index}:{upstream_id}"
        image = rec.get("image")
        convs = rec.get("conversations")
        if image is not None and not isinstance(image, str):
            rejected.append({"source": SOURCE, "source_id": source_id, "reason": "bad_image_field",
                             "detail": repr(image)[:200]})
            continue
        if image and isinstance(convs, list) and move_image_token_first(convs):
            report.fixed_image_token += 1
        rejection = check_record(image, convs, exists)
        if rejection:
            rejected.append({"source": SOURCE, "source_id": source_id, "reason": rejection.reason,
                             "detail": rejection.detail})
            continue
        seen_ids[upstream_id] += 1
        rid = upstream_id if seen_ids[upstream_id] == 1 else f"{upstream_id}#{seen_ids[upstream_id]}"
        report.renamed_ids += rid != upstream_id
        report.by_prefix[image.split("/", 1)[0] if image else "text-only"] += 1
        report.text_only += not image
        rows.append({"id": rid, "image": image or None, "source": SOURCE, "source_id": source_id,
                     "conversations": [{"from": t["from"], "value": t["value"]} for t in convs]})
    progress.close()
    report.written = len(rows)
    report.rejections = Counter(r["reason"] for r in rejected)
    write_table(rejected_out, tables.to_table(rejected, tables.REJECTIONS))
    summary = {k: v for k, v in report.__dict__.items() if k not in ("table", "reused")}
    table = tables.with_fingerprint(tables.to_table(rows, tables.CONVERSATIONS), fp,
                                    report=orjson.dumps(summary).decode())
    write_table(out, table)
    return report
