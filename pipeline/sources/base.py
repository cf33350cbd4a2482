"""The source interface: what every upstream source offers, and the one report its ingest returns.

A source fetches its upstream files into the cache (`download`), then turns them into normalized
JPEGs under the data root and, where it carries text, conversation tables (`ingest`). Sources split
into shards (`shard_keys`) are ingested one shard per call, each shard a step of the step contract;
sources without static shards are ingested whole (they resume file by file inside). Everything a
source needs from outside comes in an `IngestContext`: engines never read the environment."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Protocol

from ..fetch import FetchResult
from ..layout import Layout
from ..progress import Log, default_log
from ..step import report_dict


class SourceError(ValueError):
    """An upstream that cannot be ingested as it is (wrong archive layout, an unknown pin, an incomplete
    file set): the message says what was found and what was expected; nothing has been written."""


@dataclass(frozen=True)
class IngestContext:
    layout: Layout
    mirror: str | None = None      # mirror root (folder, file:// or http://); None: the real upstream
    workers: int = 1               # processes for image work
    log: Log = default_log
    options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # per source name

    def options_for(self, source: str) -> Mapping[str, Any]:
        return self.options.get(source, {})


@dataclass
class DownloadReport:
    """What one `download` call fetched (or found complete in the cache)."""

    files: list[FetchResult]
    details: dict[str, Any] = field(default_factory=dict)  # e.g. the hub commit a branch resolved to

    @property
    def bytes(self) -> int:
        return sum(f.bytes for f in self.files)

    @property
    def fetched_now(self) -> int:
        return sum(f.downloaded for f in self.files)


@dataclass
class IngestReport:
    """What one `ingest` call did. Image counts come from the manifests; record counts from the tables."""

    source: str
    shard: str | None = None
    reused: bool = False                                   # every step was already current
    actions: Counter = field(default_factory=Counter)      # copied / reencoded / quarantined
    quarantine_reasons: Counter = field(default_factory=Counter)
    bytes_written: int = 0
    manifests: list[Path] = field(default_factory=list)
    expected_images: int | None = None                     # manifest rows the upstream listing calls for
    rows_read: int | None = None                           # upstream rows or records read (text sources)
    records: int = 0
    rejections: Counter = field(default_factory=Counter)   # records left out, by reason
    tables: dict[str, Path] = field(default_factory=dict)  # conversation table per split
    details: dict[str, Any] = field(default_factory=dict)  # source-specific numbers for the report
    seconds: float = 0.0

    @property
    def images(self) -> int:
        return sum(self.actions.values())

    def add(self, other: "IngestReport") -> None:
        """Fold another shard's report into this one (a source's total over its shards)."""
        self.reused = self.reused and other.reused
        self.actions.update(other.actions)
        self.quarantine_reasons.update(other.quarantine_reasons)
        self.bytes_written += other.bytes_written
        self.manifests += other.manifests
        if other.expected_images is not None:
            self.expected_images = (self.expected_images or 0) + other.expected_images
        if other.rows_read is not None:
            self.rows_read = (self.rows_read or 0) + other.rows_read
        self.records += other.records
        self.rejections.update(other.rejections)
        self.seconds += other.seconds

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: what a step's marker stores."""
        return report_dict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "IngestReport":
        """A stored report, read back by a re-run that found its step current."""
        return cls(**{**d, "reused": True, "actions": Counter(d["actions"]),
                      "quarantine_reasons": Counter(d["quarantine_reasons"]), "rejections": Counter(d["rejections"]),
                      "manifests": [Path(p) for p in d["manifests"]],
                      "tables": {k: Path(v) for k, v in d["tables"].items()}})


class Source(Protocol):
    """One upstream source. `tables` names the conversation tables it writes under
    `<tables_root>/<name>/` ({split: file}; empty for image-only sources); `needs` names the sources
    whose outputs it reads; `overlaps` the source its records may repeat (measured by the overlap report)."""

    name: str
    family: str                    # "images" (archives, URLs) | "hub" (Parquet on the hub) | "annotations"
    upstream: str                  # where it comes from, in one line
    shard_keys: tuple[str, ...]    # () when it is ingested whole
    tables: Mapping[str, str]
    needs: tuple[str, ...]
    overlaps: str | None

    def download(self, ctx: IngestContext) -> DownloadReport: ...

    def ingest(self, ctx: IngestContext, shard: str | None = None) -> IngestReport: ...
