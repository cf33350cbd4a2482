"""LLaVA-1.5's `llava_v1_5_mix665k.json` -> conversation records, loaded the way LLaVA loads them
(`llava_json`: LLaVA's repairs, the contract, its label masking) and checked against the data root.

A record whose image an image source could not provide (an OCR-VQA cover that failed to download or
was a placeholder, an archive member with broken bytes: the sources' own manifests say so) is
rejected as `image_unavailable_upstream`, apart from `image_missing` (an image that should be there
and is not). The report's `expected_records` is the upstream count minus the former: what the
mixture can contain given what the upstream actually served, the recipe's expectation."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Protocol

from ..atomic import write_table
from ..layout import Layout
from ..manifests import manifest_files
from ..progress import Log, default_log
from ..records import Rejection, exists_under
from ..step import Step
from .base import DownloadReport, IngestContext, IngestReport
from .hub import HubFile
from .llava_json import convert_records, load_records

SOURCE = "llava_665k"
ANNOTATIONS = HubFile("liuhaotian/LLaVA-Instruct-150K", "llava_v1_5_mix665k.json", revision="main")
EXPECTED_RECORDS = 665_298
VERSION = "llava665k-v2"  # bump when record conversion changes
UNAVAILABLE = "image_unavailable_upstream"


class ImageSource(Protocol):
    name: str

    def unavailable_images(self, layout: Layout) -> dict[str, str]: ...


def annotations_path(layout: Layout) -> Path:
    return layout.cache(SOURCE) / Path(ANNOTATIONS.filename).name


def build_conversations(layout: Layout, image_sources: tuple[ImageSource, ...],
                        log: Log = default_log) -> IngestReport:
    """The 665K records as a conversation table, checked against every image manifest written so far
    (new images can turn a rejection into a record, so the manifests are inputs of the step)."""
    from .. import tables

    json_path = annotations_path(layout)
    if not json_path.exists():
        raise FileNotFoundError(f"{SOURCE}: {json_path} not downloaded yet")
    out = layout.tables(SOURCE) / "conversations.parquet"
    rejected_out = layout.tables(SOURCE) / "rejections.parquet"
    step = Step(out.with_suffix(".json"), VERSION, [json_path, *manifest_files(layout.tables_root)],
                {"data_root": str(layout.data_root), "image_sources": [s.name for s in image_sources]})
    if (done := step.current()) is not None:
        return IngestReport.from_dict(done)
    t0 = time.monotonic()
    records = load_records(json_path)
    unavailable = {path: f"{s.name}: {why}" for s in image_sources for path, why in s.unavailable_images(layout).items()}
    exists = exists_under(layout.data_root)

    def resolve(image: str) -> str | Rejection:
        if image in unavailable:
            return Rejection(UNAVAILABLE, f"{image}: {unavailable[image]}")
        return image if exists(image) else Rejection("image_missing", image)

    converted = convert_records(records, SOURCE, resolve, log)
    write_table(rejected_out, tables.to_table(converted.rejected, tables.REJECTIONS))
    write_table(out, tables.to_table(converted.rows, tables.CONVERSATIONS))
    rejections = converted.rejections
    details: dict[str, Any] = {**converted.details(), "expected_records": len(records) - rejections[UNAVAILABLE],
                               "upstream_records": EXPECTED_RECORDS}
    report = IngestReport(SOURCE, rows_read=len(records), records=len(converted.rows), rejections=rejections,
                          tables={"train": out}, details=details, seconds=time.monotonic() - t0)
    step.finish(report.as_dict(), [out, rejected_out])
    return report


@dataclass(frozen=True)
class Llava665kSource:
    """LLaVA-1.5's instruction mixture: records only; its images come from `image_sources`."""

    image_sources: tuple[ImageSource, ...]
    name: str = SOURCE
    family: str = "annotations"
    upstream: str = f"https://huggingface.co/datasets/{ANNOTATIONS.repo_id} ({ANNOTATIONS.filename})"
    shard_keys: tuple[str, ...] = ()
    tables: Mapping[str, str] = field(default_factory=lambda: {"train": "conversations.parquet"})
    overlaps: str | None = None

    @property
    def needs(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.image_sources)

    def download(self, ctx: IngestContext) -> DownloadReport:
        result, commit = ANNOTATIONS.fetch(ctx.layout.cache(SOURCE), ctx.mirror, ctx.log)
        return DownloadReport([result], {"revision": ANNOTATIONS.revision, "commit": commit})

    def ingest(self, ctx: IngestContext, shard: str | None = None) -> IngestReport:
        if shard is not None:
            raise ValueError(f"{self.name} is ingested whole")
        return build_conversations(ctx.layout, self.image_sources, ctx.log)
