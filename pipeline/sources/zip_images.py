"""Image sources distributed as zip archives (COCO, GQA, TextVQA, Visual Genome).

Members are read straight out of the archives by the worker processes; each member
`<folder>/<name>` lands at `<data_root>/<source>/<folder>/<name>.jpg`, LLaVA's layout."""
from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

from ..fetch import FetchResult
from ..layout import Layout
from ..progress import Log, default_log
from ..readers import ZipReader, safe_member
from ..shards import ImageTask, ShardReport, fingerprint, run_shard, shard_of
from .remote import RemoteFile


@dataclass(frozen=True)
class ZipImageSource:
    name: str
    archives: tuple[RemoteFile, ...]
    folders: tuple[str, ...]   # inner folders that hold the images, e.g. "train2017/"
    shards: int
    expected_images: int      # upstream count, for reports
    extras: tuple[RemoteFile, ...] = ()  # fetched beside the archives (e.g. COCO annotations)

    def download(self, layout: Layout, mirror: str | None, log: Log = default_log) -> list[FetchResult]:
        return [a.fetch(layout.cache(self.name), mirror, log) for a in self.archives + self.extras]

    def archive_paths(self, layout: Layout) -> dict[str, Path]:
        paths = {a.filename: layout.cache(self.name) / a.filename for a in self.archives}
        missing = [str(p) for p in paths.values() if not p.exists()]
        if missing:
            raise FileNotFoundError(f"{self.name}: archives not downloaded yet: {missing}")
        return paths

    def tasks(self, layout: Layout, shard: int) -> tuple[list[ImageTask], int]:
        """The shard's tasks, and how many archive members were ignored (outside the image folders)."""
        tasks: list[ImageTask] = []
        taken: set[str] = set()
        ignored = 0
        for archive, path in self.archive_paths(layout).items():
            with zipfile.ZipFile(path) as zf:
                for info in zf.infolist():
                    name = info.filename
                    if info.is_dir() or shard_of(name, self.shards) != shard:
                        continue
                    key = f"{archive}:{name}"
                    if not safe_member(name):
                        tasks.append(ImageTask(key, "", f"{archive}:{name}", "unsafe_path: escapes the target folder"))
                    elif not name.startswith(self.folders):
                        ignored += 1
                    else:
                        rel = str(Path(self.name, name).with_suffix(".jpg"))
                        dup = "duplicate_name: another member maps to the same .jpg" if rel in taken else None
                        taken.add(rel)
                        tasks.append(ImageTask(key, rel, key, dup))
        return tasks, ignored

    def expected_rows(self, layout: Layout, shard: int) -> int:
        """How many manifest rows the shard must have: one per archive member in its image folders."""
        return len(self.tasks(layout, shard)[0])

    def ingest_shard(self, layout: Layout, shard: int, mirror: str | None = None, workers: int = 0,
                     log: Log = default_log) -> tuple[ShardReport, int]:
        """Returns the report and how many archive members lay outside the image folders (skipped)."""
        tasks, ignored = self.tasks(layout, shard)
        paths = self.archive_paths(layout)
        fp = fingerprint(paths.values(), (t.key for t in tasks))
        report = run_shard(self.name, f"{shard:03d}", tasks, ZipReader(paths), layout, fp, workers, log)
        return report, ignored
