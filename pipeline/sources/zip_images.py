"""Image sources distributed as zip archives (COCO, GQA, TextVQA, Visual Genome).

Members are read straight out of the archives by the worker processes; each member
`<folder>/<name>` lands at `<data_root>/<source>/<folder>/<name>.jpg`, LLaVA's layout (names
normalized, duplicates and clashes decided over the whole listing: `shards.plan_members`)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

from ..digests import digest
from ..layout import Layout
from ..readers import ZipReader, open_zip
from ..sharding import shard_keys
from .base import DownloadReport, IngestContext, IngestReport
from .remote import RemoteFile

if TYPE_CHECKING:
    from ..shards import ImageTask


@dataclass(frozen=True)
class ZipImageSource:
    name: str
    archives: tuple[RemoteFile, ...]
    folders: tuple[str, ...]   # inner folders that hold the images, e.g. "train2017/"
    shards: int
    upstream_images: int      # how many images the upstream publishes, for reports
    extras: tuple[RemoteFile, ...] = ()  # fetched beside the archives (e.g. COCO annotations)
    family: str = "images"
    tables: Mapping[str, str] = field(default_factory=dict)
    needs: tuple[str, ...] = ()
    overlaps: str | None = None

    @property
    def upstream(self) -> str:
        return ", ".join(a.url for a in self.archives)

    @property
    def shard_keys(self) -> tuple[str, ...]:
        return tuple(shard_keys(self.shards))

    def download(self, ctx: IngestContext) -> DownloadReport:
        return DownloadReport([a.fetch(ctx.layout.cache(self.name), ctx.mirror, ctx.log)
                               for a in self.archives + self.extras])

    def archive_paths(self, layout: Layout) -> dict[str, Path]:
        paths = {a.filename: layout.cache(self.name) / a.filename for a in self.archives}
        missing = [str(p) for p in paths.values() if not p.exists()]
        if missing:
            raise FileNotFoundError(f"{self.name}: archives not downloaded yet: {missing}")
        return paths

    def tasks(self, layout: Layout, shard: int) -> tuple[list["ImageTask"], int]:
        """The shard's tasks, and how many archive members were ignored (outside the image folders)."""
        from ..shards import plan_members

        entries: list[tuple[str, str]] = []
        for archive, path in self.archive_paths(layout).items():
            with open_zip(path) as zf:
                entries += [(archive, info.filename) for info in zf.infolist() if not info.is_dir()]
        return plan_members(self.name, entries, self.folders, self.shards, shard)

    def ingest(self, ctx: IngestContext, shard: str | None = None) -> IngestReport:
        """One shard: every member of the image folders whose name hashes to it, one manifest row each."""
        from ..shards import run_shard, shard_step

        if shard not in self.shard_keys:
            raise ValueError(f"{self.name}: shard must be one of {self.shard_keys[0]}..{self.shard_keys[-1]}")
        tasks, ignored = self.tasks(ctx.layout, int(shard))
        paths = self.archive_paths(ctx.layout)
        reader = ZipReader(paths, ctx.image_cap(self.name))
        step = shard_step(ctx.layout, self.name, shard, list(paths.values()),
                          {"tasks": digest(t.key for t in tasks), "max_image_bytes": reader.max_bytes})
        report = run_shard(step, tasks, reader, ctx.layout, ctx.workers, ctx.log)
        report.details["members_outside_image_folders"] = ignored
        return report
