"""OCR-VQA: `dataset.json` (book id -> imageURL, questions, answers, split), then one download per
cover image. Downloads land in the cache under the book id (resumable: a finished file is never
fetched again), dead URLs go to a per-shard failure list, and every cover is saved as
`ocr_vqa/images/<book id>.jpg`, the name the LLaVA-1.5 665K uses whatever the real format."""
from __future__ import annotations

import json
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Mapping

from ..digests import digest
from ..fetch import Expected, FetchError, fetch, fetch_upstream
from ..layout import Layout
from ..progress import Log, Progress
from ..readers import DirReader
from ..sharding import shard_keys, shard_of
from .base import DownloadReport, IngestContext, IngestReport
from .remote import RemoteFile

# OCR-VQA's dataset.json is published in the authors' Google Drive folder (linked from
# https://ocr-vqa.github.io/), which has no stable direct-download URL: the `dataset_json` option
# names a URL or a local copy. A mirror root serves it from `<mirror>/ocr-vqa.github.io/dataset.json`.
DATASET_JSON_URL = "https://ocr-vqa.github.io/dataset.json"


def _safe_book_id(book_id: str) -> bool:
    return bool(book_id) and "/" not in book_id and "\\" not in book_id and book_id not in (".", "..")


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
    upstream: str = "dataset.json from the OCR-VQA authors' Google Drive folder; covers from their imageURLs"

    @property
    def shard_keys(self) -> tuple[str, ...]:
        return tuple(shard_keys(self.shards))

    def dataset_json(self, layout: Layout) -> Path:
        return layout.cache(self.name) / "dataset.json"

    def download(self, ctx: IngestContext) -> DownloadReport:
        """dataset.json from the `dataset_json` option (a URL or a path) or, without one, the mirror."""
        configured = ctx.options_for(self.name).get("dataset_json")
        if configured and not ctx.mirror:
            return DownloadReport([fetch(str(configured), self.dataset_json(ctx.layout), log=ctx.log)])
        return DownloadReport([RemoteFile(DATASET_JSON_URL).fetch(ctx.layout.cache(self.name), ctx.mirror, ctx.log)])

    def books(self, layout: Layout) -> dict[str, dict]:
        path = self.dataset_json(layout)
        if not path.exists():
            raise FileNotFoundError(f"{self.name}: {path} not downloaded yet")
        return json.loads(path.read_bytes())

    def _download_covers(self, books: list[tuple[str, str]], mirror: str | None, raw_dir: Path,
                         log: Log) -> tuple[dict[str, str], list[dict]]:
        """Fetch each cover into `raw_dir/<book id><ext>`; return {book id: file name} and failures."""
        progress = Progress(f"{self.name} covers", len(books), "images", log)

        def one(item: tuple[str, str]) -> tuple[str, str | None, str | None]:
            book_id, url = item
            ext = PurePosixPath(urllib.parse.urlsplit(url).path).suffix.lower() or ".jpg"
            name = f"{book_id}{ext}"
            try:
                fetch_upstream(url, raw_dir / name, Expected(), mirror, retries=3, backoff=0.5, timeout=30,
                               log=lambda _: None)
                return book_id, name, None
            except (FetchError, OSError) as err:
                return book_id, None, str(err)

        got: dict[str, str] = {}
        failures: list[dict] = []
        with ThreadPoolExecutor(self.download_threads) as pool:
            for (book_id, url), (_, name, error) in zip(books, pool.map(one, books)):
                if name:
                    got[book_id] = name
                else:
                    failures.append({"book_id": book_id, "url": url, "error": error})
                progress.advance(1)
        progress.close()
        return got, failures

    def failures_path(self, layout: Layout, shard: str) -> Path:
        return layout.tables(self.name) / "failures" / f"{shard}.parquet"

    def ingest(self, ctx: IngestContext, shard: str | None = None) -> IngestReport:
        """One shard of books: their covers downloaded (failures listed), then normalized."""
        from ..atomic import write_table
        from ..shards import ImageTask, run_shard, shard_step
        from ..tables import FAILURES, to_table

        if shard not in self.shard_keys:
            raise ValueError(f"{self.name}: shard must be one of {self.shard_keys[0]}..{self.shard_keys[-1]}")
        layout = ctx.layout
        all_books = self.books(layout)
        mine = sorted(b for b in all_books if shard_of(b, self.shards) == int(shard))
        reader = DirReader(layout.cache(self.name) / "covers", ctx.image_cap(self.name))
        step = shard_step(layout, self.name, shard, [self.dataset_json(layout)],
                          {"books": digest(mine), "max_image_bytes": reader.max_bytes})
        good = [(b, all_books[b].get("imageURL") or "") for b in mine if _safe_book_id(b)]
        if step.current() is None:
            raw_dir = layout.cache(self.name) / "covers"
            got, failures = self._download_covers([(b, u) for b, u in good if u], ctx.mirror, raw_dir, ctx.log)
            failures += [{"book_id": b, "url": "", "error": "no imageURL"} for b, u in good if not u]
            write_table(self.failures_path(layout, shard), to_table(failures, FAILURES))
            failed = {f["book_id"]: f["error"] for f in failures}
            tasks = [ImageTask(got.get(b, ""), f"{self.name}/images/{b}.jpg", b,
                               None if b in got else f"download_failed: {failed[b]}") for b, _ in good]
        else:
            tasks = []  # the step is current: run_shard returns its stored report
        report = run_shard(step, tasks, reader, layout, ctx.workers, ctx.log)
        report.details["unusable_book_ids"] = len(mine) - len(good)
        return report
