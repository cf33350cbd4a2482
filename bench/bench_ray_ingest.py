"""Ray ingest scaling: one TextVQA-shaped corpus (PNG photos: the re-encode path) ingested through
deployment `ray` on a one-node and on a two-node local Ray cluster (1 CPU per node), as the queued
backfill of `ingest_textvqa` (one run per shard, the daemon launching them as Ray jobs). Prints
the wall time of each, the ratio, and the overhead per shard against the engine called in-process
(baseline: the source's `ingest` of each shard on one core, same corpus).

    python bench/bench_ray_ingest.py --images 400
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import dagster as dg  # noqa: E402

from pipeline.layout import Layout  # noqa: E402
from pipeline.sources.base import IngestContext  # noqa: E402
from pipeline.sources.registry import TEXTVQA  # noqa: E402
from sample.corpus import write_textvqa_corpus  # noqa: E402
from sample.services import LocalPostgres, LocalRayCluster, instance_env  # noqa: E402

QUIET = lambda _message: None  # noqa: E731


def engine_seconds(mirror: Path, work: Path) -> list[float]:
    """The baseline: each shard through the engine in this process, one worker."""
    ctx = IngestContext(Layout.at(work / "data"), str(mirror), 1, QUIET)
    TEXTVQA.download(ctx)
    seconds = []
    for shard in TEXTVQA.shard_keys:
        t0 = time.perf_counter()
        TEXTVQA.ingest(ctx, shard)
        seconds.append(time.perf_counter() - t0)
    return seconds


def _run(env: dict[str, str], *args: str) -> None:
    out = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    if out.returncode:
        raise SystemExit(f"{' '.join(args)} failed:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}")


def cluster_backfill(nodes: int, mirror: Path, work: Path, pg: LocalPostgres) -> tuple[float, list[float]]:
    """Wall seconds from submitting the backfill to its last run's end, and each shard run's seconds."""
    node_env = {**pg.env(), "PYTHONPATH": str(ROOT)}
    with LocalRayCluster(head_cpus=1, workers=[{"num_cpus": 1}] * (nodes - 1), env=node_env) as cluster:
        env = instance_env(work / "home", pg.env(), deployment="ray", ray_address=cluster.gcs_address,
                           data_root=str(work / "data"), mirror=str(mirror), ray_shard_cpus=1, **pg.settings())
        TEXTVQA.download(IngestContext(Layout.at(work / "data"), str(mirror), 1, QUIET))  # the archive, not timed
        os.environ.update({k: env[k] for k in ("DAGSTER_HOME", "DAGSTER_PG_PASSWORD")})
        instance = dg.DagsterInstance.get()
        earlier = {r.run_id for r in instance.get_runs()}
        with open(work / "daemon.log", "wb") as log:
            daemon = subprocess.Popen([sys.executable, "-m", "dagster._daemon", "run", "-w", "workspace.yaml"],
                                      cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            try:
                time.sleep(20)  # the daemon's code server is up before the clock starts
                t0 = time.time()
                _run(env, "-m", "dagster", "job", "backfill", "-w", "workspace.yaml", "-j", "ingest_textvqa",
                     "--all", "true", "--noprompt")
                while True:
                    runs = [r for r in instance.get_runs() if r.run_id not in earlier]
                    if len(runs) == TEXTVQA.shards and all(r.is_finished for r in runs):
                        break
                    time.sleep(1)
            finally:
                os.killpg(daemon.pid, 15)
                daemon.wait(timeout=60)
        records = [instance.get_run_record_by_id(r.run_id) for r in runs]
        if any(r.dagster_run.status != dg.DagsterRunStatus.SUCCESS for r in records):
            raise SystemExit(f"a shard run failed; see {work / 'daemon.log'}")
        return max(r.end_time for r in records) - t0, [r.end_time - r.start_time for r in records]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=400)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-ray-") as tmp, LocalPostgres() as pg:
        base = Path(tmp)
        mirror = write_textvqa_corpus(base / "mirror", args.images)
        engine = engine_seconds(mirror, base / "engine")
        results = {n: cluster_backfill(n, mirror, base / f"nodes{n}", pg) for n in (1, 2)}
    shards = TEXTVQA.shards
    print(f"corpus: {args.images} PNG photos 800x600 in {shards} shards (re-encode path)")
    print(f"engine in-process, 1 core: {sum(engine):.1f} s ({args.images / sum(engine):.0f} img/s, "
          f"{sum(engine) / shards:.2f} s per shard)")
    for n, (wall, per_run) in results.items():
        overhead = sum(per_run) / shards - sum(engine) / shards
        print(f"ray, {n} node(s) x 1 CPU: backfill wall {wall:.1f} s, {args.images / wall:.1f} img/s; "
              f"a shard run takes {sum(per_run) / shards:.1f} s: {overhead:.1f} s of it is Dagster run + "
              f"Ray job overhead")
    print(f"ratio 1 node / 2 nodes: {results[1][0] / results[2][0]:.2f}x (linear: 2.00x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
