"""OCR-VQA book covers, saved as `ocr_vqa/images/<book id>.jpg` (the name the 665K uses, whatever the
real format: about 900 of the 207,572 imageURLs are GIFs).

`dataset.json` (book id -> imageURL, questions, answers, split) is published only in the authors'
Google Drive folder, which has no stable direct-download URL: the `dataset_json` option names a URL
or a local copy, and wins over a mirror; a mirror serves it from its own location
`<mirror>/ocr_vqa/dataset.json` (not an upstream URL). Covers come by one of two routes:
- archive (option `covers_archive`: URL or path of a zip or uncompressed tar of `images/<id>.<ext>`,
  `ocr_vqa/images/...` accepted too), read through the same archive readers and layout guard as the
  other image sources. Community copies of the covers LLaVA used are published this way because
  most imageURLs are dead (LLaVA PR #1458, issue #1618);
- per URL (default): one download per cover into the cache (resumable: a finished file is never
  fetched again), dead URLs in a per-shard failure list; `retry_failures = true` redoes the shards
  that have failures (cached covers are reused, only the failures are fetched again).
Either route is restricted by default (`scope = "llava_665k"`) to the book ids the 665K references
(80,000 of its records, far fewer covers than 207,572); `scope = "all"` takes every book."""
from __future__ import annotations

import json
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Mapping

from ..atomic import write_text
from ..digests import digest
from ..fetch import FetchError, fetch, mirror_url
from ..layout import Layout
from ..progress import Log, Progress
from ..readers import DirReader, archive_reader
from ..sharding import shard_keys, shard_of
from .archive_layout import ArchiveLayout, select_members
from .base import DownloadReport, IngestContext, IngestReport
from .unavailable import quarantined

if TYPE_CHECKING:
    from ..shards import ImageTask

DRIVE_FOLDER = "https://drive.google.com/drive/folders/1_GYPY5UkUy7HIcR0zq3ZCFgeZN7BAfm_"
MIRROR_DATASET_JSON = "ocr_vqa/dataset.json"   # relative to a mirror root; a mirror-only location
ARCHIVE_LAYOUT = ArchiveLayout(("images/",), ("ocr_vqa/",))
SCOPES = ("llava_665k", "all")
IMAGE_PREFIX = "ocr_vqa/images/"


def _safe_book_id(book_id: str) -> bool:
    return bool(book_id) and "/" not in book_id and "\\" not in book_id and book_id not in (".", "..")


def _under_mirror(mirror: str, rel: str) -> str:
    """A mirror-relative location as a URL (folder, file:// or http:// root)."""
    if "://" not in mirror:
        return Path(mirror, rel).resolve().as_uri()
    return mirror.rstrip("/") + "/" + urllib.parse.quote(rel)


def referenced_ids(annotation: Path) -> list[str]:
    """The book ids whose cover the 665K references (`ocr_vqa/images/<id>.jpg`), sorted."""
    from .llava_json import load_records

    return sorted({PurePosixPath(r["image"]).stem for r in load_records(annotation)
                   if isinstance(r, dict) and isinstance(r.get("image"), str) and r["image"].startswith(IMAGE_PREFIX)})


@dataclass(frozen=True)
class OcrVqaSource:
    name: str = "ocr_vqa"
    shards: int = 8
    upstream_images: int = 207_572
    download_threads: int = 16
    family: str = "images"
    tables: Mapping[str, str] = field(default_factory=dict)
    needs: tuple[str, ...] = ()
    overlaps: str | None = None
    upstream: str = (f"dataset.json from the authors' Google Drive folder ({DRIVE_FOLDER}); covers from its "
                     "imageURLs or a covers archive")

    @property
    def shard_keys(self) -> tuple[str, ...]:
        return tuple(shard_keys(self.shards))

    def dataset_json(self, layout: Layout) -> Path:
        return layout.cache(self.name) / "dataset.json"

    def archive_path(self, layout: Layout, archive: str) -> Path:
        return layout.cache(self.name) / "archive" / PurePosixPath(urllib.parse.urlsplit(archive).path).name

    def referenced_path(self, layout: Layout) -> Path:
        return layout.cache(self.name) / "referenced_ids.json"

    def _scope(self, ctx: IngestContext) -> str:
        scope = ctx.options_for(self.name).get("scope", "llava_665k")
        if scope not in SCOPES:
            raise ValueError(f"{self.name}: option scope must be one of {SCOPES}, got {scope!r}")
        return scope

    def _archive(self, ctx: IngestContext) -> str | None:
        return ctx.options_for(self.name).get("covers_archive") or None

    def download(self, ctx: IngestContext) -> DownloadReport:
        """dataset.json (the option wins over a mirror), the covers archive if configured, and for the
        default scope the 665K annotation (shared with the llava_665k source's cache)."""
        configured = ctx.options_for(self.name).get("dataset_json")
        if configured:
            origin = str(configured)
            files = [fetch(origin, self.dataset_json(ctx.layout), log=ctx.log)]
        elif ctx.mirror:
            origin = _under_mirror(ctx.mirror, MIRROR_DATASET_JSON)
            files = [fetch(origin, self.dataset_json(ctx.layout), identity=f"mirror:{MIRROR_DATASET_JSON}", log=ctx.log)]
        else:
            raise FileNotFoundError(
                f"{self.name}: dataset.json has no public direct-download URL. Download it from {DRIVE_FOLDER} and "
                "name it in the settings file: [sources.ocr_vqa] dataset_json = \"/path/to/dataset.json\"")
        details = {"dataset_json": origin, "scope": self._scope(ctx), "route": "archive" if self._archive(ctx) else "urls"}
        if archive := self._archive(ctx):
            files.append(fetch(mirror_url(archive, ctx.mirror) if "://" in archive else archive,
                               self.archive_path(ctx.layout, archive), identity=archive, log=ctx.log))
        if details["scope"] == "llava_665k":
            from .llava_665k import ANNOTATIONS

            result, details["llava_665k_revision"] = ANNOTATIONS.fetch(ctx.layout.cache("llava_665k"), ctx.mirror, ctx.log)
            files.append(result)
            ids = referenced_ids(result.path)
            text, path = json.dumps(ids), self.referenced_path(ctx.layout)
            if not path.exists() or path.read_text() != text:  # a re-run rewrites nothing
                write_text(path, text)
            details["referenced_ids"] = len(ids)
        return DownloadReport(files, details)

    def books(self, layout: Layout) -> dict[str, dict]:
        path = self.dataset_json(layout)
        if not path.exists():
            raise FileNotFoundError(f"{self.name}: {path} not downloaded yet")
        return json.loads(path.read_bytes())

    def failures_path(self, layout: Layout, shard: str) -> Path:
        return layout.tables(self.name) / "failures" / f"{shard}.parquet"

    def _wanted(self, ctx: IngestContext, shard: str) -> tuple[dict[str, dict], list[str], list[Path], dict]:
        """The shard's book ids in scope, the step's input files, and numbers for the report."""
        layout = ctx.layout
        books = self.books(layout)
        inputs = [self.dataset_json(layout)]
        ids = set(books)
        details: dict = {"scope": self._scope(ctx)}
        if details["scope"] == "llava_665k":
            path = self.referenced_path(layout)
            if not path.exists():
                raise FileNotFoundError(f"{self.name}: {path} missing: run the download first")
            referenced = set(json.loads(path.read_bytes()))
            details["referenced_not_in_dataset_json"] = len(referenced - ids)
            ids &= referenced
            inputs.append(path)
        mine = sorted(b for b in ids if shard_of(b, self.shards) == int(shard))
        details["unusable_book_ids"] = sum(not _safe_book_id(b) for b in mine)
        return books, [b for b in mine if _safe_book_id(b)], inputs, details

    def ingest(self, ctx: IngestContext, shard: str | None = None) -> IngestReport:
        """One shard of books: their covers from the archive or their URLs, then normalized."""
        from ..shards import run_shard, shard_step

        if shard not in self.shard_keys:
            raise ValueError(f"{self.name}: shard must be one of {self.shard_keys[0]}..{self.shard_keys[-1]}")
        books, mine, inputs, details = self._wanted(ctx, shard)
        if archive := self._archive(ctx):
            path = self.archive_path(ctx.layout, archive)
            if not path.exists():
                raise FileNotFoundError(f"{self.name}: covers archive {archive} not downloaded yet ({path})")
            paths = {path.name: path}
            step = shard_step(ctx.layout, self.name, shard, [*inputs, *paths.values()],
                              {"books": digest(mine), "route": "archive"})
            tasks = self._archive_tasks(paths, mine) if step.current() is None else []
            reader = archive_reader(paths)
        else:
            step = shard_step(ctx.layout, self.name, shard, inputs, {"books": digest(mine), "route": "urls"})
            if ctx.options_for(self.name).get("retry_failures") and self._has_failures(ctx.layout, shard):
                step.marker.unlink(missing_ok=True)  # redo: cached covers are reused, failures fetched again
            tasks = self._url_tasks(ctx, shard, books, mine) if step.current() is None else []
            reader = DirReader(ctx.layout.cache(self.name) / "covers")
        report = run_shard(step, tasks, reader, ctx.layout, ctx.workers, ctx.log)
        report.details.update(details, route="archive" if archive else "urls")
        return report

    def _archive_tasks(self, paths: dict[str, Path], mine: list[str]) -> list["ImageTask"]:
        from ..shards import ImageTask

        by_id: dict[str, list[str]] = {}
        for m in select_members(self.name, paths, ARCHIVE_LAYOUT).members:
            if m.placed is not None:
                by_id.setdefault(PurePosixPath(m.placed).stem, []).append(f"{m.archive}:{m.name}")
        tasks = []
        for book in mine:
            keys = by_id.get(book, [])
            rejection = (None if len(keys) == 1 else "not_in_archive: no images/<id>.* member" if not keys
                         else f"duplicate_name: {len(keys)} members for one book id")
            tasks.append(ImageTask(keys[0] if keys else "", f"{self.name}/images/{book}.jpg", book, rejection))
        return tasks

    def _has_failures(self, layout: Layout, shard: str) -> bool:
        import pyarrow.parquet as pq

        path = self.failures_path(layout, shard)
        return path.exists() and pq.read_metadata(path).num_rows > 0

    def _url_tasks(self, ctx: IngestContext, shard: str, books: dict[str, dict], mine: list[str]) -> list["ImageTask"]:
        """Download the shard's covers (failures listed), then one task per book."""
        from ..atomic import write_table
        from ..shards import ImageTask
        from ..tables import FAILURES, to_table

        urls = [(b, books[b].get("imageURL") or "") for b in mine]
        got, failures = self._download_covers([(b, u) for b, u in urls if u], ctx.mirror,
                                              ctx.layout.cache(self.name) / "covers", ctx.log)
        failures += [{"book_id": b, "url": "", "error": "no imageURL"} for b, u in urls if not u]
        write_table(self.failures_path(ctx.layout, shard), to_table(failures, FAILURES))
        failed = {f["book_id"]: f["error"] for f in failures}
        return [ImageTask(got.get(b, ""), f"{self.name}/images/{b}.jpg", b,
                          None if b in got else f"download_failed: {failed[b]}") for b, _ in urls]

    def _download_covers(self, books: list[tuple[str, str]], mirror: str | None, raw_dir: Path,
                         log: Log) -> tuple[dict[str, str], list[dict]]:
        """Fetch each cover into `raw_dir/<book id><ext>`; return {book id: file name} and failures."""
        progress = Progress(f"{self.name} covers", len(books), "images", log)

        def one(item: tuple[str, str]) -> tuple[str | None, str | None]:
            book_id, url = item
            ext = PurePosixPath(urllib.parse.urlsplit(url).path).suffix.lower() or ".jpg"
            name = f"{book_id}{ext}"
            try:
                fetch(mirror_url(url, mirror), raw_dir / name, identity=url, retries=3, backoff=0.5, timeout=30,
                      log=lambda _: None)
                return name, None
            except (FetchError, OSError) as err:
                return None, str(err)

        got: dict[str, str] = {}
        failures: list[dict] = []
        with ThreadPoolExecutor(self.download_threads) as pool:
            for (book_id, url), (name, error) in zip(books, pool.map(one, books)):
                if name:
                    got[book_id] = name
                else:
                    failures.append({"book_id": book_id, "url": url, "error": error})
                progress.advance(1)
        progress.close()
        return got, failures

    def unavailable_images(self, layout: Layout) -> dict[str, str]:
        """Data-root path -> reason for every book whose cover could not be had (failure list, dead or
        placeholder images, missing from the archive): the manifests' quarantined rows."""
        return {f"{self.name}/images/{book}.jpg": reason for book, reason in quarantined(layout, self.name).items()}
