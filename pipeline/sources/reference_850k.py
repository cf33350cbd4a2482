"""`rogerxi/LLaVA-Spatial-Instruct-850K`: the published annotation of Spatial-LLaVA's final mixture, as
a source whose one table is that mixture (the `reference` recipe), validated record by record with
LLaVA's rules and the record contract (`llava_json`) and reconciled against the data root.

The repo holds one JSON annotation (its file name could not be verified offline: the repo's one
top-level `.json` is taken, or the `file` option names it). Its image paths follow the seed's layout
(`coco/train2017/...`, `vqav2/images/...`, `spatialqa/images/...`). Each referenced image is resolved
to a file of our data root, and the reconciliation reports, per top folder, how:
- `exists`: the same path exists under our data root (the 665K's image sources keep LLaVA's names);
- `by_name`: a hub source that keeps upstream file names wrote it under its own folder
  (`spatialqa/images/x.jpg` -> `spatialqa_hub/images/x.jpg`, see `NAMED_FOLDERS`);
- `by_content`: the seed's own image file, from the `reference_images` option (a folder, or a zip or
  uncompressed tar, holding files under the annotation's paths), has the same sha256 as an image one
  of our sources wrote (hub rows are named by position here, by the seed otherwise);
- `missing`: none of these. Such records are rejected (`image_missing`) and not expected.
Records keep the resolved path (ours), so the reference mixture trains on this data root; the
mapping itself is written to `image_map.parquet` (their path, ours, how)."""
from __future__ import annotations

import hashlib
import json
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Iterator, Mapping

from ..atomic import write_table, write_text
from ..layout import Layout
from ..manifests import image_hashes, manifest_files
from ..progress import Log, default_log
from ..records import Rejection, exists_under
from ..step import Step
from .base import DownloadReport, IngestContext, IngestReport
from .hub import HubFile, locked_commit
from .hub_files import list_hub, list_mirror
from .llava_json import convert_records, load_records

if TYPE_CHECKING:
    import pyarrow as pa

SOURCE = "spatial_llava_850k"
REPO_ID = "rogerxi/LLaVA-Spatial-Instruct-850K"
REVISION = "main"  # resolved to a commit at the first download and recorded
VERSION = "reference-850k-v1"
NAMED_FOLDERS = {"spatialqa/images/": "spatialqa_hub/images/"}  # seed folder -> ours, same file names
HOW = ("exists", "by_name", "by_content", "missing")


def _reference_files(path: Path) -> Iterator[tuple[str, bytes]]:
    """(relative path, bytes) of every file of the seed's own images: a folder, a zip or a tar."""
    if path.is_dir():
        for p in sorted(path.rglob("*")):
            if p.is_file():
                yield p.relative_to(path).as_posix(), p.read_bytes()
        return
    from ..readers import archive_members, archive_reader

    reader = archive_reader({path.name: path})
    for member in archive_members(path):
        yield member, reader.read(f"{path.name}:{member}")


@dataclass
class Reconciler:
    """Resolves the annotation's image paths to ours, once per path, counting how per top folder."""

    layout: Layout
    reference_images: Path | None
    resolved: dict[str, tuple[str | None, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.exists = exists_under(self.layout.data_root)
        self._by_content: dict[str, str] | None = None

    def by_content(self) -> dict[str, str]:
        """The seed's path -> our path, for reference files whose bytes one of our sources wrote. The
        same bytes may sit in several of our folders (TextCaps rows carry TextVQA pictures): ours in
        the seed's folder wins, then the first in manifest order."""
        if self._by_content is None:
            self._by_content = {}
            if self.reference_images is not None:
                ours: dict[str, list[str]] = defaultdict(list)
                for sha, path in image_hashes(self.layout.tables_root).select("sha256", "path").iter_rows():
                    ours[sha].append(path)
                for rel, data in _reference_files(self.reference_images):
                    paths = ours.get(hashlib.sha256(data).hexdigest(), [])
                    folder = rel.split("/", 1)[0] + "/"
                    if paths:
                        self._by_content[rel] = next((p for p in paths if p.startswith(folder)), paths[0])
        return self._by_content

    def resolve(self, image: str) -> str | Rejection:
        if image not in self.resolved:
            self.resolved[image] = self._resolve(image)
        ours, how = self.resolved[image]
        return ours if ours is not None else Rejection("image_missing", f"{image}: not in the data root, no mapping")

    def _resolve(self, image: str) -> tuple[str | None, str]:
        named = next(((theirs, folder) for theirs, folder in NAMED_FOLDERS.items() if image.startswith(theirs)), None)
        if named is not None:  # never the same path of ours: `spatialqa/images/` is the generator's folder
            ours = str(PurePosixPath(named[1], image[len(named[0]):]).with_suffix(".jpg"))
            if self.exists(ours):
                return ours, "by_name"
        elif self.exists(image):
            return image, "exists"
        ours = self.by_content().get(image)
        return (ours, "by_content") if ours and self.exists(ours) else (None, "missing")

    def by_folder(self) -> dict[str, dict[str, int]]:
        counts: dict[str, Counter] = defaultdict(Counter)
        for image, (_, how) in self.resolved.items():
            counts[image.split("/", 1)[0]][how] += 1
        return {folder: {h: c[h] for h in HOW} for folder, c in sorted(counts.items())}

    def table(self) -> "pa.Table":
        import pyarrow as pa  # here, not at module level: the Dagster definitions import this module

        items = sorted(self.resolved.items())
        schema = pa.schema([("image", pa.string()), ("ours", pa.string()), ("how", pa.string())])
        return pa.table({"image": [i for i, _ in items], "ours": [o for _, (o, _) in items],
                         "how": [h for _, (_, h) in items]}, schema=schema)


def build_reference(layout: Layout, annotation: Path, reference_images: Path | None,
                    log: Log = default_log) -> IngestReport:
    """The published annotation as a conversation table, reconciled against the data root (a step:
    the annotation, every image manifest and the seed's images are its inputs)."""
    from .. import tables

    out = layout.tables(SOURCE) / "conversations.parquet"
    outputs = [out, layout.tables(SOURCE) / "rejections.parquet", layout.tables(SOURCE) / "image_map.parquet"]
    inputs = [annotation, *manifest_files(layout.tables_root)]
    if reference_images is not None and reference_images.is_file():
        inputs.append(reference_images)
    step = Step(out.with_suffix(".json"), VERSION, inputs,
                {"data_root": str(layout.data_root), "reference_images": str(reference_images or "")})
    if (done := step.current()) is not None:
        return IngestReport.from_dict(done)
    t0 = time.monotonic()
    records = load_records(annotation)
    reconciler = Reconciler(layout, reference_images)
    converted = convert_records(records, SOURCE, reconciler.resolve, log)
    write_table(outputs[0], tables.to_table(converted.rows, tables.CONVERSATIONS))
    write_table(outputs[1], tables.to_table(converted.rejected, tables.REJECTIONS))
    write_table(outputs[2], reconciler.table())
    rejections = converted.rejections
    details: dict[str, Any] = {**converted.details(), "reconciliation": reconciler.by_folder(),
                               "expected_records": len(records) - rejections["image_missing"]}
    report = IngestReport(SOURCE, rows_read=len(records), records=len(converted.rows), rejections=rejections,
                          tables={"train": out}, details=details, seconds=time.monotonic() - t0)
    step.finish(report.as_dict(), outputs)
    return report


@dataclass(frozen=True)
class Reference850kSource:
    """The published Spatial-LLaVA mixture; it `needs` every source that writes images, whose
    manifests the reconciliation reads."""

    needs: tuple[str, ...]
    name: str = SOURCE
    repo_id: str = REPO_ID
    revision: str = REVISION
    family: str = "annotations"
    shard_keys: tuple[str, ...] = ()
    tables: Mapping[str, str] = field(default_factory=lambda: {"train": "conversations.parquet"})
    overlaps: str | None = None

    @property
    def upstream(self) -> str:
        return f"https://huggingface.co/datasets/{self.repo_id} (its one top-level .json)"

    def annotation_path(self, layout: Layout) -> Path:
        lock = layout.cache(self.name) / "annotation.json"
        if not lock.exists():
            raise FileNotFoundError(f"{self.name}: not downloaded yet ({lock} missing)")
        return layout.cache(self.name) / PurePosixPath(json.loads(lock.read_bytes())["file"]).name

    def reference_images(self, ctx: IngestContext) -> Path | None:
        """The seed's own images (option `reference_images`: a folder or archive path, or a URL fetched
        into the cache at download), or None."""
        option = ctx.options_for(self.name).get("reference_images")
        if not option:
            return None
        return Path(option) if "://" not in option else ctx.layout.cache(self.name) / PurePosixPath(option).name

    def download(self, ctx: IngestContext) -> DownloadReport:
        """The annotation (the `file` option, else the repo's one top-level .json) and, if configured,
        the seed's own images for the content mapping."""
        from ..fetch import fetch, mirror_url

        cache = ctx.layout.cache(self.name)
        name = ctx.options_for(self.name).get("file")
        if not name:
            if ctx.mirror:
                entries = list_mirror(self.repo_id, self.revision, [""], ctx.mirror, cache)
            else:
                entries = list_hub(self.repo_id, locked_commit(cache / "repo.revision.json", self.repo_id,
                                                               self.revision, log=ctx.log))
            top = sorted(e.path for e in entries if e.path.endswith(".json") and "/" not in e.path)
            if len(top) != 1:
                raise ValueError(f"{self.name}: {self.repo_id} has {len(top)} top-level JSON files {top}; name the "
                                 "annotation with [sources.spatial_llava_850k] file = \"...\"")
            name = top[0]
        result, commit = HubFile(self.repo_id, name, self.revision).fetch(cache, ctx.mirror, ctx.log)
        text = json.dumps({"file": name, "commit": commit})
        if not (cache / "annotation.json").exists() or (cache / "annotation.json").read_text() != text:
            write_text(cache / "annotation.json", text)
        files = [result]
        option = ctx.options_for(self.name).get("reference_images")
        if option and "://" in option:
            files.append(fetch(mirror_url(option, ctx.mirror), cache / PurePosixPath(option).name, identity=option,
                               log=ctx.log))
        return DownloadReport(files, {"repo_id": self.repo_id, "file": name, "revision": self.revision, "commit": commit})

    def ingest(self, ctx: IngestContext, shard: str | None = None) -> IngestReport:
        if shard is not None:
            raise ValueError(f"{self.name} is ingested whole")
        return build_reference(ctx.layout, self.annotation_path(ctx.layout), self.reference_images(ctx), ctx.log)
