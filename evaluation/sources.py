"""The hub benchmarks as sources of the registry (family "benchmark"): hub files -> one eval table each.

A benchmark source is downloaded like every hub source (`pipeline.sources.hub_parquet`: the file list
resolved once at the revision and locked, fetched from the hub or from a mirror folder shaped like the
hub repo), then read by `evaluation.benchmarks` into `<tables>/<name>/eval.parquet` as one step of the
step contract (`evaluation.table.build_eval_table`). It writes no conversation table (`tables` is
empty), so the mixture's dependencies, the recipe check and the overlap report, which are derived
from the conversation tables of the registry, never see it: a benchmark is never training data.

This module stays light (no pyarrow, no PIL) because the registry, and so the definitions, import it."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping

from pipeline.layout import Layout
from pipeline.sources.base import DownloadReport, IngestContext, IngestReport
from pipeline.sources.hub import HubRepoFiles

FAMILY = "benchmark"
RENDERED = "rendered_heldout"  # the held-out rendered benchmark (evaluation/rendered.py), built by `evaluate`


@dataclass(frozen=True)
class BenchmarkDataset(HubRepoFiles):
    """One benchmark on the hub, read from Parquet files of its repo (the picture embedded)."""

    name: str
    repo_id: str
    revision: str                 # a branch is resolved to its commit once, at the first download, and locked
    splits: dict[str, str]        # split -> glob over repo paths
    observed: str                 # what public pages showed when this was written (short commit hashes)
    family: str = FAMILY
    shard_keys: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()
    overlaps: str | None = None

    @property
    def upstream(self) -> str:
        return f"https://huggingface.co/datasets/{self.repo_id} ({', '.join(self.splits.values())} @ {self.revision})"

    @property
    def tables(self) -> Mapping[str, str]:
        """No conversation tables: what keeps a benchmark out of every mixture."""
        return {}

    def eval_dir(self, layout: Layout) -> Path:
        """Where its eval table is written (the `evaluate` asset reads it from here)."""
        return layout.tables(self.name)

    def download(self, ctx: IngestContext) -> DownloadReport:
        from pipeline.sources import hub_parquet

        lock, results = hub_parquet.download(self, ctx.layout, ctx.mirror, ctx.log)
        return DownloadReport(results, {"repo_id": self.repo_id, "revision": self.revision, "commit": lock.commit,
                                        "observed": self.observed,
                                        "files": [f for split in self.splits for f in lock.files[split]]})

    def ingest(self, ctx: IngestContext, shard: str | None = None) -> IngestReport:
        """Every locked file's rows -> the eval table (a step: unchanged files and code rewrite nothing)."""
        if shard is not None:
            raise ValueError(f"{self.name} is ingested whole")
        from evaluation import benchmarks
        from evaluation.benchmarks import read_benchmark, rows_of
        from evaluation.judge import rule_files
        from evaluation.table import build_eval_table
        from pipeline.sources.hub_parquet import read_lock

        lock = read_lock(self, ctx.layout)  # type: ignore[arg-type]
        files = [p for split in self.splits for p in lock.local(ctx.layout, self.name, split)]
        missing = [p for p in files if not p.is_file()]
        if missing:
            raise FileNotFoundError(f"{self.name}: {missing[0]} not downloaded yet; materialize {self.name}_download")

        def read() -> tuple[list, list, int]:
            read_rows = Counter()

            def rows() -> Iterator[dict]:  # streamed, file by file, row group by row group
                for path in files:
                    for row in rows_of(path):
                        read_rows["rows"] += 1
                        yield row
            items, rejected = read_benchmark(rows(), self.name)
            return items, rejected, read_rows["rows"]

        # Truths are read from the reference answers with the judge's parsers: its rule files are inputs too.
        code = [Path(benchmarks.__file__), *rule_files()]
        report = build_eval_table(self.eval_dir(ctx.layout), self.name, read, [*files, *code],
                                  {"repo_id": self.repo_id, "commit": lock.commit, "files": lock.files}, ctx.log)
        return IngestReport(self.name, reused=report["reused"], rows_read=report["rows_read"],
                            records=report["questions"], rejections=Counter(report["rejections"]),
                            details={"commit": lock.commit, "table": report["table"],
                                     "questions_by_category": report["by_category"]})


# SpatialRGPT-Bench: the Parquet form of its main branch (picture embedded; a third-party loader reads
# split "val", 1,406 rows). Spatial-Relation-Eval: the hub's Parquet conversion branch. docs/evaluation.md
# lists what is confirmed and what is assumed about both shapes.
SPATIALRGPT_BENCH = BenchmarkDataset(
    "spatialrgpt_bench", "a8cheng/SpatialRGPT-Bench", "main", {"val": "data/*.parquet"},
    "main at 01b38d2 ('Upload dataset': data/, images/, SpatialRGPT-Bench_v1.json 4.74 MB; 59fdd6a added the JSON)")
SPATIAL_RELATION_EVAL = BenchmarkDataset(
    "spatial_relation_eval", "rogerxi/Spatial-Relation-Eval", "refs/convert/parquet",
    {"train": "default/train/*.parquet"}, "refs/convert/parquet at 37301d1: default/train/0000..0002.parquet, 897 MB")
BENCHMARK_SOURCES = (SPATIALRGPT_BENCH, SPATIAL_RELATION_EVAL)
EVAL_BENCHMARKS = (*(s.name for s in BENCHMARK_SOURCES), RENDERED)  # what the `evaluate` asset is partitioned by
