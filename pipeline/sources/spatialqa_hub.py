"""`rogerxi/SpatialQA`: the 14K spatial QA Spatial-LLaVA published with its images, as a source.

Its repo layout could not be verified offline (docs/sources.md), so the reader accepts the plausible
shapes, decided from the repo's file list at download and recorded in the lock:
- `parquet`: Parquet files with an image column (`image` or `images`, the `datasets` Image struct)
  and a text column (`conversations` in LLaVA's format, chat `messages`, or `question` + `answer`),
  ingested file by file by `hub_ingest` like the other hub sources;
- `llava_json`: one LLaVA-format JSON annotation plus its images, either in zip/tar archives or as
  image files in the repo, the JSON's `image` naming them (`spatialqa/images/x.jpg`, `images/x.jpg`,
  or `x.jpg`).
Anything else fails at download, naming the files (or, for Parquet, the columns) found.

Images land in `spatialqa_hub/images/`, never in `spatialqa/images/`, which is the generator's
(spatialqa_gen): the seed's README lays SpatialQA out as `spatialqa/images/`, and the published 850K
annotation refers to that name; the reference source maps it to ours (`reference_850k`)."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Mapping

from ..atomic import write_text
from ..digests import digest
from ..layout import Layout
from ..llava_rules import apply_repairs
from ..progress import Log, default_log
from ..records import IMAGE_TOKEN, Rejection, exists_under, image_first
from ..step import Step
from .archive_layout import IMAGE_SUFFIXES
from .base import DownloadReport, IngestContext, IngestReport
from .hub import HubFile, locked_commit
from .hub_files import list_hub, list_mirror, log_dropped, validate_split
from .openspaces import openspaces_turns

REPO_ID = "rogerxi/SpatialQA"
REVISION = "main"  # resolved to a commit at the first download and recorded in the lock
ARCHIVES = (".zip", ".tar")
IMAGE_PREFIXES = ("spatialqa/images/", "images/")  # stripped from the JSON's names and archive members
VERSION = "spatialqa-hub-v1"


def _llava_turns(row: dict[str, Any]) -> list[dict[str, str]] | Rejection:
    turns, _ = apply_repairs(True, row.get("conversations"))
    if not isinstance(turns, list) or not turns:
        return Rejection("no_messages", "conversations is null or empty")
    return turns if any(IMAGE_TOKEN in t["value"] for t in turns) else image_first(turns)


def _qa_turns(row: dict[str, Any]) -> list[dict[str, str]] | Rejection:
    answer = row.get("answer", row.get("answers"))
    answer = answer[0] if isinstance(answer, list) and answer else answer
    if not isinstance(row.get("question"), str) or not isinstance(answer, str):
        return Rejection("no_messages", "question or answer is not text")
    return image_first([{"from": "human", "value": row["question"].strip()}, {"from": "gpt", "value": answer.strip()}])


TEXT_COLUMNS = {"conversations": _llava_turns, "messages": openspaces_turns, "question": _qa_turns}
IMAGE_COLUMNS = ("image", "images")


def image_key(name: str) -> str:
    """A JSON image name or an archive member, without the known leading folders: `x.jpg`."""
    for prefix in IMAGE_PREFIXES:
        if name.startswith(prefix):
            return name[len(prefix):]
    return name


def parquet_columns(names: list[str], where: str) -> tuple[str, str]:
    """(image column, text column) of a Parquet shape, or a ValueError naming the columns found."""
    image = next((c for c in IMAGE_COLUMNS if c in names), None)
    text = next((c for c in TEXT_COLUMNS if c in names), None)
    if image is None or text is None or (text == "question" and not {"answer", "answers"} & set(names)):
        raise ValueError(f"spatialqa_hub: {where} has columns {names}; expected an image column "
                         f"({' or '.join(IMAGE_COLUMNS)}) and conversations, messages, or question + answer")
    return image, text


@dataclass(frozen=True)
class SpatialQaHubSource:
    name: str = "spatialqa_hub"
    repo_id: str = REPO_ID
    revision: str = REVISION
    family: str = "hub"
    tables: Mapping[str, str] = field(default_factory=lambda: {"train": "conversations.parquet"})
    needs: tuple[str, ...] = ()
    overlaps: str | None = None
    shard_keys: tuple[str, ...] = ()

    @property
    def upstream(self) -> str:
        return f"https://huggingface.co/datasets/{self.repo_id} (shape decided from its files)"

    def lock_path(self, layout: Layout) -> Path:
        return layout.cache(self.name) / "files.json"

    def download(self, ctx: IngestContext) -> DownloadReport:
        """List the repo, decide its shape, fetch what that shape needs, record it all in the lock."""
        cache = ctx.layout.cache(self.name)
        if ctx.mirror:
            commit, entries = "mirror", list_mirror(self.repo_id, self.revision, [""], ctx.mirror, cache)
        else:
            commit = locked_commit(cache / "repo.revision.json", self.repo_id, self.revision, log=ctx.log)
            entries = list_hub(self.repo_id, commit)
        lock = self._shape(entries, ctx.log)
        lock["commit"] = commit
        revision = self.revision if ctx.mirror else commit
        wanted = [f for files in lock["files"].values() for f in files] + lock.get("images", [])
        results = [HubFile(self.repo_id, f, revision).fetch(self._local(cache, f, lock["shape"]).parent, ctx.mirror,
                                                            ctx.log)[0] for f in wanted]
        text = json.dumps({"repo_id": self.repo_id, **lock}, indent=1)
        if not self.lock_path(ctx.layout).exists() or self.lock_path(ctx.layout).read_text() != text:
            write_text(self.lock_path(ctx.layout), text)
        return DownloadReport(results, {"repo_id": self.repo_id, "revision": self.revision, "commit": commit,
                                        "shape": lock["shape"], "files": wanted[:20]})

    def _local(self, cache: Path, repo_path: str, shape: str = "llava_json") -> Path:
        """Parquet files sit flat in the cache (where `hub_ingest` reads every hub source's files);
        the JSON shape keeps repo paths, whose image names may repeat across folders."""
        return cache / PurePosixPath(repo_path).name if shape == "parquet" else cache / "files" / repo_path

    def _shape(self, entries: list, log: Log = default_log) -> dict[str, Any]:
        paths = sorted(e.path for e in entries)
        parquet = [e for e in entries if e.path.endswith(".parquet")]
        train = [e for e in parquet if "train" in PurePosixPath(e.path).name]
        parquet = train or parquet  # a repo with train and test splits: train is the training data
        if parquet:
            files, dropped = validate_split(self.name, "train", parquet)
            log_dropped(self.name, dropped, log)
            return {"shape": "parquet", "files": {"train": files}, "dropped": {"train": dropped}}
        annotations = [p for p in paths if p.endswith(".json") and not PurePosixPath(p).name.startswith(("dataset_", "."))]
        if len(annotations) != 1:
            raise ValueError(f"{self.name}: {self.repo_id} holds {paths[:30]}: expected Parquet files, or one LLaVA "
                             f"JSON annotation with its images (found {len(annotations)} JSON files)")
        archives = [p for p in paths if p.endswith(ARCHIVES)]
        images = [p for p in paths if PurePosixPath(p).suffix.lower() in IMAGE_SUFFIXES]
        if not archives and not images:
            raise ValueError(f"{self.name}: {self.repo_id} has the annotation {annotations[0]} but no images "
                             f"(no zip/tar archive, no image files) among {paths[:30]}")
        return {"shape": "llava_json", "files": {"annotation": annotations, "archives": archives}, "images": images}

    def _lock(self, layout: Layout) -> dict[str, Any]:
        if not self.lock_path(layout).exists():
            raise FileNotFoundError(f"{self.name}: not downloaded yet ({self.lock_path(layout)} missing)")
        return json.loads(self.lock_path(layout).read_bytes())

    def ingest(self, ctx: IngestContext, shard: str | None = None) -> IngestReport:
        if shard is not None:
            raise ValueError(f"{self.name} is ingested whole")
        lock = self._lock(ctx.layout)
        if lock["shape"] == "parquet":
            return self._ingest_parquet(ctx, lock)
        return self._ingest_json(ctx, lock)

    def _ingest_parquet(self, ctx: IngestContext, lock: dict[str, Any]) -> IngestReport:
        import pyarrow.parquet as pq

        from . import hub_ingest
        from .hub_source import HubDataset

        first = lock["files"]["train"][0]
        names = pq.ParquetFile(self._local(ctx.layout.cache(self.name), first, "parquet")).schema_arrow.names
        image, text = parquet_columns(names, first)
        extra = tuple(c for c in ("answer", "answers") if text == "question" and c in names)
        ds = HubDataset(self.name, self.repo_id, self.revision, {"train": "*"}, text, TEXT_COLUMNS[text], {},
                        image_column=image, extra_columns=extra[:1])
        report = hub_ingest.ingest(ds, ctx.layout, ctx.workers, ctx.log)  # reads the lock, like every hub source
        report.details.update(shape="parquet", image_column=image, text_column=text)
        return report

    def _ingest_json(self, ctx: IngestContext, lock: dict[str, Any]) -> IngestReport:
        from ..readers import DirReader, archive_members, archive_reader
        from ..shards import ImageTask, run_shard, shard_step
        from .llava_json import load_records

        layout, cache = ctx.layout, ctx.layout.cache(self.name)
        annotation = self._local(cache, lock["files"]["annotation"][0])
        archives = {PurePosixPath(a).name: self._local(cache, a) for a in lock["files"]["archives"]}
        if archives:
            members = {image_key(m): f"{a}:{m}" for a, p in archives.items() for m in archive_members(p)}
            reader = archive_reader(archives)
        else:
            members = {image_key(p): p for p in lock["images"]}
            reader = DirReader(cache / "files")
        records = load_records(annotation)
        wanted = sorted({image_key(r["image"]) for r in records if isinstance(r, dict) and isinstance(r.get("image"), str)})
        tasks = [ImageTask(members.get(k, ""), self.image_path(k), k,
                           None if k in members else "not_in_repo: the annotation names it, the repo lacks it")
                 for k in wanted]
        step = shard_step(layout, self.name, "000", [annotation, *archives.values()], {"tasks": digest(t.key for t in tasks)})
        images = run_shard(step, tasks, reader, layout, ctx.workers, ctx.log)
        return self._conversations(layout, records, annotation, images)

    def image_path(self, key: str) -> str:
        return str(PurePosixPath(self.name, "images", key).with_suffix(".jpg"))

    def _conversations(self, layout: Layout, records: list, annotation: Path, images: IngestReport) -> IngestReport:
        from .. import tables
        from ..atomic import write_table
        from .llava_json import convert_records

        out = layout.tables(self.name) / "conversations.parquet"
        rejected_out = layout.tables(self.name) / "rejections.parquet"
        step = Step(out.with_suffix(".json"), VERSION, [annotation, *images.manifests], {"data_root": str(layout.data_root)})
        reused = (done := step.current()) is not None
        if done is None:
            t0 = time.monotonic()
            exists = exists_under(layout.data_root)

            def resolve(name: str) -> str | Rejection:
                ours = self.image_path(image_key(name))
                return ours if exists(ours) else Rejection("image_missing", f"{name} (ours: {ours})")

            converted = convert_records(records, self.name, resolve)
            write_table(rejected_out, tables.to_table(converted.rejected, tables.REJECTIONS))
            write_table(out, tables.to_table(converted.rows, tables.CONVERSATIONS))
            done = step.finish({"rows_read": len(records), "records": len(converted.rows),
                                "rejections": dict(converted.rejections), "seconds": time.monotonic() - t0,
                                "details": converted.details()}, [out, rejected_out])
        report = IngestReport(self.name, reused=images.reused and reused, actions=images.actions,
                              quarantine_reasons=images.quarantine_reasons, bytes_written=images.bytes_written,
                              manifests=images.manifests, expected_images=images.expected_images,
                              rows_read=done["rows_read"], records=done["records"], tables={"train": out},
                              details={**done["details"], "shape": "llava_json"}, seconds=done["seconds"])
        report.rejections.update(done["rejections"])
        return report
