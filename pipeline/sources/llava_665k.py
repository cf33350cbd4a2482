"""LLaVA-1.5's `llava_v1_5_mix665k.json` -> conversation records checked against the data root.

Each record keeps its upstream `id` (made unique with a `#n` suffix where the file repeats one) and
its position in the file as `source_id`. Records that break the contract, or whose image did not
survive ingest (OCR-VQA has a few hundred dead covers), go to the rejection table with a reason."""
from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from ..atomic import write_table
from ..layout import Layout
from ..progress import Log, Progress, default_log
from ..jsonfile import load_records
from ..manifests import image_exists
from ..records import Rejection, check_record, move_image_token_first, record_id
from ..step import Step
from .base import DownloadReport, IngestContext, IngestReport
from .hub import HubFile

SOURCE = "llava_665k"
ANNOTATIONS = HubFile("liuhaotian/LLaVA-Instruct-150K", "llava_v1_5_mix665k.json", revision="main")
EXPECTED_RECORDS = 665_298
VERSION = "llava665k-v2"  # bump when record conversion changes


def annotations_path(layout: Layout) -> Path:
    return layout.cache(SOURCE) / Path(ANNOTATIONS.filename).name


def build_conversations(layout: Layout, log: Log = default_log) -> IngestReport:
    """The 665K records as a conversation table, checked against every image manifest written so far
    (new images can turn a rejection into a record, so the manifests are inputs of the step)."""
    from .. import tables

    json_path = annotations_path(layout)
    if not json_path.exists():
        raise FileNotFoundError(f"{SOURCE}: {json_path} not downloaded yet")
    out = layout.tables(SOURCE) / "conversations.parquet"
    rejected_out = layout.tables(SOURCE) / "rejections.parquet"
    manifests = sorted(layout.tables_root.glob("*/images/*.parquet"))
    step = Step(out.with_suffix(".json"), VERSION, [json_path, *manifests], {"data_root": str(layout.data_root)})
    if (done := step.current()) is not None:
        return IngestReport.from_dict(done)
    t0 = time.monotonic()
    records = load_records(json_path)
    if not isinstance(records, list):
        raise ValueError(f"{json_path}: expected a JSON list of records, got {type(records).__name__}")
    exists = image_exists(layout.data_root, layout.tables_root)
    rows, rejected, seen_ids = [], [], Counter()
    details: Counter = Counter()
    by_prefix: Counter = Counter()
    progress = Progress(f"{SOURCE} records", len(records), "records", log)
    for index, rec in enumerate(records):
        progress.advance(1)
        if not isinstance(rec, dict):
            why = rec if isinstance(rec, Rejection) else Rejection("not_a_record")
            rejected.append({"source": SOURCE, "source_id": str(index), "reason": why.reason, "detail": why.detail})
            continue
        upstream_id = record_id(rec.get("id"))
        source_id = f"{index}:{upstream_id if isinstance(upstream_id, str) else ''}"
        image = rec.get("image")
        convs = rec.get("conversations")
        if image is not None and not isinstance(image, str):
            rejected.append({"source": SOURCE, "source_id": source_id, "reason": "bad_image_field",
                             "detail": repr(image)[:200]})
            continue
        if image and isinstance(convs, list) and move_image_token_first(convs):
            details["image_token_moved_to_start"] += 1
        rejection = upstream_id if isinstance(upstream_id, Rejection) else check_record(image, convs, exists)
        if rejection:
            rejected.append({"source": SOURCE, "source_id": source_id, "reason": rejection.reason,
                             "detail": rejection.detail})
            continue
        seen_ids[upstream_id] += 1
        rid = upstream_id if seen_ids[upstream_id] == 1 else f"{upstream_id}#{seen_ids[upstream_id]}"
        details["renamed_duplicate_ids"] += rid != upstream_id
        by_prefix[image.split("/", 1)[0] if image else "text-only"] += 1
        details["text_only"] += not image
        rows.append({"id": rid, "image": image or None, "source": SOURCE, "source_id": source_id,
                     "conversations": [{"from": t["from"], "value": t["value"]} for t in convs]})
    progress.close()
    write_table(rejected_out, tables.to_table(rejected, tables.REJECTIONS))
    write_table(out, tables.to_table(rows, tables.CONVERSATIONS))
    report = IngestReport(SOURCE, rows_read=len(records), records=len(rows),
                          rejections=Counter(r["reason"] for r in rejected), tables={"train": out},
                          details={**{k: details[k] for k in ("text_only", "image_token_moved_to_start",
                                                              "renamed_duplicate_ids")},
                                   "by_image_folder": dict(by_prefix)},
                          seconds=time.monotonic() - t0)
    step.finish(report.as_dict(), [out, rejected_out])
    return report


@dataclass(frozen=True)
class Llava665kSource:
    """LLaVA-1.5's instruction mixture: records only; its images come from the image sources it `needs`."""

    needs: tuple[str, ...]
    name: str = SOURCE
    family: str = "annotations"
    upstream: str = f"https://huggingface.co/datasets/{ANNOTATIONS.repo_id} ({ANNOTATIONS.filename})"
    shard_keys: tuple[str, ...] = ()
    tables: Mapping[str, str] = field(default_factory=lambda: {"train": "conversations.parquet"})
    overlaps: str | None = None

    def download(self, ctx: IngestContext) -> DownloadReport:
        result, commit = ANNOTATIONS.fetch(ctx.layout.cache(SOURCE), ctx.mirror, ctx.log)
        return DownloadReport([result], {"revision": commit})

    def ingest(self, ctx: IngestContext, shard: str | None = None) -> IngestReport:
        if shard is not None:
            raise ValueError(f"{self.name} is ingested whole")
        return build_conversations(ctx.layout, ctx.log)
