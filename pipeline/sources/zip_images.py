"""Image sources distributed as archives (COCO, GQA, TextVQA, Visual Genome): zip, or uncompressed tar.

Members are read straight out of the archives by the worker processes; each member
`<folder>/<name>` lands at `<data_root>/<source>/<folder>/<name>.jpg`, LLaVA's layout. Before any shard
writes, the whole listing is checked (`archive_layout`): an archive whose images all sit outside the
expected folders fails loudly, known alternative prefixes are stripped, and the image count is
compared with the upstream's (enforced for the real upstream, or when the settings state a count)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

from ..digests import digest
from ..layout import Layout
from ..readers import archive_reader
from ..sharding import shard_keys, shard_of
from .archive_layout import ArchiveLayout, Selection, check_count, select_members
from .base import DownloadReport, IngestContext, IngestReport
from .remote import RemoteFile
from .unavailable import quarantined

if TYPE_CHECKING:
    from ..shards import ImageTask

COUNT_TOLERANCE = 0.005  # published counts are exact; 0.5% allows for a re-packed archive


@dataclass(frozen=True)
class ZipImageSource:
    name: str
    archives: tuple[RemoteFile, ...]
    folders: tuple[str, ...]   # inner folders that hold the images, e.g. "train2017/"
    shards: int
    upstream_images: int      # how many images the upstream publishes (the count guard's reference)
    extras: tuple[RemoteFile, ...] = ()  # fetched beside the archives (e.g. COCO annotations)
    strip_prefixes: tuple[str, ...] = ()  # known alternative leading folders, e.g. "train_val_images/"
    count_tolerance: float = COUNT_TOLERANCE
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

    @property
    def layout(self) -> ArchiveLayout:
        return ArchiveLayout(self.folders, self.strip_prefixes)

    def download(self, ctx: IngestContext) -> DownloadReport:
        return DownloadReport([a.fetch(ctx.layout.cache(self.name), ctx.mirror, ctx.log)
                               for a in self.archives + self.extras])

    def archive_paths(self, layout: Layout) -> dict[str, Path]:
        paths = {a.filename: layout.cache(self.name) / a.filename for a in self.archives}
        missing = [str(p) for p in paths.values() if not p.exists()]
        if missing:
            raise FileNotFoundError(f"{self.name}: archives not downloaded yet: {missing}")
        return paths

    def rel_path(self, placed: str) -> str:
        return str(Path(self.name, placed).with_suffix(".jpg"))

    def tasks(self, selection: Selection, shard: int) -> list["ImageTask"]:
        """The shard's tasks: members hashed to it, unsafe names quarantined, name clashes refused."""
        from ..shards import ImageTask

        tasks: list[ImageTask] = []
        taken: set[str] = set()
        for m in selection.members:
            if shard_of(m.name, self.shards) != shard:
                continue
            key = f"{m.archive}:{m.name}"
            if m.placed is None:
                tasks.append(ImageTask(key, "", key, "unsafe_path: escapes the target folder"))
                continue
            rel = self.rel_path(m.placed)
            dup = "duplicate_name: another member maps to the same .jpg" if rel in taken else None
            taken.add(rel)
            tasks.append(ImageTask(key, rel, key, dup))
        return tasks

    def ingest(self, ctx: IngestContext, shard: str | None = None) -> IngestReport:
        """One shard: every member of the image folders whose name hashes to it, one manifest row each."""
        from ..shards import run_shard, shard_step

        if shard not in self.shard_keys:
            raise ValueError(f"{self.name}: shard must be one of {self.shard_keys[0]}..{self.shard_keys[-1]}")
        paths = self.archive_paths(ctx.layout)
        selection = select_members(self.name, paths, self.layout)
        stated = ctx.options_for(self.name).get("upstream_images")
        counts = check_count(self.name, selection.images, int(stated or self.upstream_images), self.count_tolerance,
                             enforced=ctx.mirror is None or stated is not None)
        tasks = self.tasks(selection, int(shard))
        step = shard_step(ctx.layout, self.name, shard, list(paths.values()), {"tasks": digest(t.key for t in tasks)})
        report = run_shard(step, tasks, archive_reader(paths), ctx.layout, ctx.workers, ctx.log)
        report.details.update(counts, members_outside_image_folders=selection.outside,
                              alternative_prefix_stripped=selection.stripped)
        return report

    def unavailable_images(self, layout: Layout) -> dict[str, str]:
        """Data-root path -> reason, for every member the shards quarantined (the upstream's own bytes
        were broken); keys of unsafe names have no path and are left out."""
        out = {}
        for original, reason in quarantined(layout, self.name).items():
            placed = self.layout.place(original.split(":", 1)[1])
            if placed is not None:
                out[self.rel_path(placed)] = reason
        return out
