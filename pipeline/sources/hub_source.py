"""A source backed by Parquet files of a Hugging Face hub dataset repo (the_cauldron configs, OpenSpaces).

Each split is a glob over repo files; the file list is locked at the first download (`hub_parquet`),
and every file is ingested as its own step (`hub_ingest`)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from ..records import Rejection
from .base import DownloadReport, IngestContext, IngestReport
from .hub import HubRepoFiles

# A row converter: the Parquet row (a dict) -> LLaVA turns ("<image>\n" already on the first human turn)
# or the reason it cannot become a record.
Converter = Callable[[dict[str, Any]], "list[dict[str, str]] | Rejection"]


@dataclass(frozen=True)
class HubDataset(HubRepoFiles):
    """One source backed by Parquet files of a hub dataset repo."""

    name: str                    # our source name: data root folder, tables folder, asset prefix
    repo_id: str
    revision: str                # commit sha to pin; a branch is resolved once and locked at download
    splits: dict[str, str]       # split -> glob over repo paths (the README `configs:` data_files)
    text_column: str             # "texts" (the_cauldron) or "messages" (OpenSpaces)
    convert: Converter
    expected_rows: dict[str, int]  # upstream row counts per split, for reports
    image_column: str = "images"  # a list of `datasets` Image structs, or one
    extra_columns: tuple[str, ...] = ()  # other columns the converter reads (e.g. `answer` beside `question`)
    overlaps: str | None = None  # the source its records may repeat (the overlap report measures it)
    family: str = "hub"
    needs: tuple[str, ...] = ()
    shard_keys: tuple[str, ...] = ()  # ingested whole: the shard count is only known after listing

    @property
    def upstream(self) -> str:
        return f"https://huggingface.co/datasets/{self.repo_id} ({', '.join(self.splits.values())})"

    @property
    def tables(self) -> Mapping[str, str]:
        """`conversations.parquet` for a one-split source, `conversations-<split>.parquet` otherwise."""
        if len(self.splits) == 1:
            return {split: "conversations.parquet" for split in self.splits}
        return {split: f"conversations-{split}.parquet" for split in self.splits}

    def download(self, ctx: IngestContext) -> DownloadReport:
        from . import hub_parquet

        lock, results = hub_parquet.download(self, ctx.layout, ctx.mirror, ctx.log)
        return DownloadReport(results, {"repo_id": self.repo_id, "revision": self.revision, "commit": lock.commit,
                                        "files": [f for split in self.splits for f in lock.files[split]]})

    def ingest(self, ctx: IngestContext, shard: str | None = None) -> IngestReport:
        if shard is not None:
            raise ValueError(f"{self.name} is ingested whole (its files are its shards)")
        from . import hub_ingest

        return hub_ingest.ingest(self, ctx.layout, ctx.workers, ctx.log, ctx.image_cap(self.name))
