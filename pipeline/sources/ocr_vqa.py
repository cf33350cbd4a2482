"""OCR-VQA: `dataset.json` (book id -> imageURL, questions, answers, split), then one download per
cover image. Downloads land in the cache under the book id (resumable: a finished file is never
fetched again), dead URLs go to a per-shard failure list, and every cover is saved as
`ocr_vqa/images/<book id>.jpg`, the name the LLaVA-1.5 665K uses whatever the real format."""
from __future__ import annotations

import json
import os
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pyarrow as pa

from .. import tables
from ..atomic import write_table
from ..fetch import FetchError, FetchResult, fetch, mirror_url
from ..layout import Layout
from ..progress import Log, Progress, default_log
from ..readers import DirReader
from ..shards import ImageTask, ShardReport, finished, fingerprint, run_shard, shard_of
from .remote import RemoteFile


FAILURES = pa.schema([("book_id", pa.string()), ("url", pa.string()), ("error", pa.string())])
# OCR-VQA's dataset.json is published in the authors' Google Drive folder (linked from
# https://ocr-vqa.github.io/), which has no stable direct-download URL: set this to a URL or a local
# copy. A mirror root serves it from `<mirror>/ocr-vqa.github.io/dataset.json`.
DATASET_JSON_ENV = "SPATIALMIX_OCR_VQA_DATASET_JSON"
DATASET_JSON_URL = "https://ocr-vqa.github.io/dataset.json"


def _safe_book_id(book_id: str) -> bool:
    return bool(book_id) and "/" not in book_id and "\\" not in book_id and book_id not in (".", "..")


@dataclass(frozen=True)
class OcrVqaSource:
    name: str = "ocr_vqa"
    shards: int = 8
    expected_images: int = 207_572
    download_threads: int = 16

    def dataset_json(self, layout: Layout) -> Path:
        return layout.cache(self.name) / "dataset.json"

    def download(self, layout: Layout, mirror: str | None, log: Log = default_log) -> list[FetchResult]:
        configured = os.environ.get(DATASET_JSON_ENV)
        if configured and not mirror:
            return [fetch(configured, self.dataset_json(layout), log=log)]
        return [RemoteFile(DATASET_JSON_URL).fetch(layout.cache(self.name), mirror, log)]

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
                fetch(mirror_url(url, mirror), raw_dir / name, identity=url, retries=3, backoff=0.5, timeout=30,
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

    def expected_rows(self, layout: Layout, shard: int) -> int:
        """One manifest row per book of the shard with a usable id."""
        return sum(1 for b in self.books(layout) if shard_of(b, self.shards) == shard and _safe_book_id(b))

    def ingest_shard(self, layout: Layout, shard: int, mirror: str | None, workers: int = 0,
                     log: Log = default_log) -> tuple[ShardReport, int]:
        """Returns the shard report and the number of books with unusable ids (counted, not written)."""
        key = f"{shard:03d}"
        all_books = self.books(layout)
        mine = sorted(b for b in all_books if shard_of(b, self.shards) == shard)
        fp = fingerprint([self.dataset_json(layout)], mine)
        if (done := finished(layout, self.name, key, fp)) is not None:
            return done, 0
        raw_dir = layout.cache(self.name) / "covers"
        good = [(b, all_books[b].get("imageURL") or "") for b in mine if _safe_book_id(b)]
        bad_ids = len(mine) - len(good)
        got, failures = self._download_covers([(b, u) for b, u in good if u], mirror, raw_dir, log)
        failures += [{"book_id": b, "url": "", "error": "no imageURL"} for b, u in good if not u]
        write_table(self.failures_path(layout, key), tables.to_table(failures, FAILURES))
        failed = {f["book_id"]: f["error"] for f in failures}
        tasks = [ImageTask(got.get(b, ""), f"{self.name}/images/{b}.jpg", b,
                           None if b in got else f"download_failed: {failed[b]}") for b, _ in good]
        report = run_shard(self.name, key, tasks, DirReader(raw_dir), layout, fp, workers, log)
        return report, bad_ids
