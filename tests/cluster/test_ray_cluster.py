"""The `ray` deployment profile on a real two-node Ray cluster on loopback, with PostgreSQL storage:
shards and `spatialqa` run as Ray jobs (on both nodes; the GPU asset on the GPU node) and write
exactly what the single-machine run writes; a killed worker's shard is redone; the data root probe;
the finetune through Ray Train with rank 0 reporting over Pipes."""
from __future__ import annotations

import json
from collections import Counter
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from PIL import Image
from ray.util.state import list_actors

from sample.corpus import write_textvqa_corpus
from sample.services import LocalPostgres, LocalRayCluster, instance_env
from scripts.hash_outputs import output_hashes
from tests.cluster.conftest import backfill, dagster_daemon, profile_env, wait_for_runs

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SPATIALQA_SHARDS = 2
KILL_IMAGES = 300

MATERIALIZE = """
import json, sys
import dagster as dg
from assets.graph import build_definitions
from assets.runner import materialize_keys, open_instance
from assets.settings import instance_home, load_settings
home = instance_home()
settings = load_settings(home)
defs = build_definitions(settings)
keys, asset_config = json.loads(sys.argv[1]), json.loads(sys.argv[2])
steps = materialize_keys(defs, open_instance(home, settings), [dg.AssetKey(k) for k in keys], {},
                         asset_config=asset_config)
plain = (str, int, float, bool, list, dict, type(None))  # tables and schemas are Dagster records: left out
print(json.dumps([{"key": s.key, "partition": s.partition, "failed": s.failed_checks,
                   "metadata": {k: v for k, v in s.metadata.items() if isinstance(v, plain)}} for s in steps]))
"""


def materialize(env: dict[str, str], keys: list[str], asset_config: dict | None = None) -> list[dict]:
    """The CLI's runner in a fresh process, on the instance (and so the settings) of env's DAGSTER_HOME."""
    out = subprocess.run([sys.executable, "-c", MATERIALIZE, json.dumps(keys), json.dumps(asset_config or {})],
                         cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=1200)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-5000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def roots(base: Path, mirror: Path) -> dict[str, Any]:
    """The settings of one run's roots: its data root, the mirror, 2 spatial QA shards, 1-CPU shard steps."""
    return {"data_root": str(base / "playground" / "data"), "mirror": str(mirror),
            "spatialqa_shards": SPATIALQA_SHARDS, "ray_shard_cpus": 1}


def single_machine_env(tmp_path: Path, mirror: Path, **settings: Any) -> dict[str, str]:
    """The embedded deployment (SQLite, steps in-process): the reference run."""
    return instance_env(tmp_path / "single_home", **roots(tmp_path / "single", mirror), **settings)


def cluster_env(tmp_path: Path, postgres: LocalPostgres, cluster: LocalRayCluster, **settings: Any) -> dict:
    """One instance (database) for the whole cluster, as in a deployment: the Ray nodes open it from the
    instance reference Dagster passes to every run and step, with the password from their own environment."""
    return profile_env("ray", tmp_path / "home", postgres, ray_address=cluster.gcs_address, **settings)


def assert_same_outputs(expected: dict, root: Path) -> None:
    """Every output file (images by bytes, tables by rows) as in the single-machine run."""
    seen = output_hashes(root)
    differ = sorted(f"{section}/{name}" for section in expected
                    for name in set(expected[section]) | set(seen[section])
                    if expected[section].get(name) != seen[section].get(name))
    assert not differ, f"outputs differ from the single-machine run: {differ}"


def use_instance_of(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Point this process's DagsterInstance.get() at the instance `env` describes."""
    for key in ("DAGSTER_HOME", "DAGSTER_PG_PASSWORD"):
        monkeypatch.setenv(key, env[key])


def step_jobs(cluster: LocalRayCluster, run_ids: set[str] | None) -> list:
    """The Ray jobs of Dagster steps (of the runs `run_ids`; None: of any run), from Ray's state API."""
    from ray.util.state import list_jobs

    return [j for j in list_jobs(address=cluster.dashboard_url, detail=True, limit=1000)
            if (j.submission_id or "").startswith("dagster-step-")
            and (run_ids is None or (j.metadata or {}).get("dagster/run-id") in run_ids)]


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from spatialqa_gen.scene_pool import write_scene_pool

    pool = tmp_path_factory.mktemp("scenes") / "pool"
    write_scene_pool(pool, 6, seed=0)
    return pool


@pytest.mark.slow
def test_shared_data_root_probe(tmp_path: Path, postgres: LocalPostgres, ray_cluster: LocalRayCluster) -> None:
    env = cluster_env(tmp_path, postgres, ray_cluster, data_root=str(tmp_path / "d"))
    ok = subprocess.run([sys.executable, "-m", "assets.cli", "deploy", "check"], cwd=PROJECT_ROOT, env=env,
                        capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "written by 2 Ray node(s)" in ok.stdout and not list((tmp_path / "d").rglob("*.txt"))
    (tmp_path / "file").write_text("a file where the data root should be")
    env = profile_env("ray", tmp_path / "home_bad", postgres, ray_address=ray_cluster.gcs_address,
                      data_root=str(tmp_path / "file" / "data"))
    bad = subprocess.run([sys.executable, "-m", "assets.cli", "deploy", "check"], cwd=PROJECT_ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr, bad.stderr[-3000:]
    assert "must be one shared, writable file system" in bad.stderr


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_shards_and_spatialqa_on_two_nodes_match_single_machine(
        tmp_path: Path, postgres: LocalPostgres, ray_cluster: LocalRayCluster, sample_mirror: Path,
        scenes: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    keys = ["textvqa_download", "textvqa_images", "spatialqa"]
    materialize(single_machine_env(tmp_path, sample_mirror, scene_pool=str(scenes)), keys)
    expected = output_hashes(tmp_path / "single" / "playground" / "data")

    env = cluster_env(tmp_path, postgres, ray_cluster, scene_pool=str(scenes), **roots(tmp_path / "ray", sample_mirror))
    use_instance_of(env, monkeypatch)
    instance = dg.DagsterInstance.get()
    earlier = {r.run_id for r in instance.get_runs()}
    # The download and the GPU shards through the CLI's runner, the image shards as a queued backfill.
    steps = materialize(env, ["textvqa_download", "spatialqa"])
    assert [s["partition"] for s in steps] == [None, "000", "001"] and not any(s["failed"] for s in steps)
    backfill("ingest_textvqa", env)
    log = tmp_path / "daemon.log"
    with dagster_daemon(env, log):
        runs = wait_for_runs(instance, 7, lambda rs: all(r.is_finished for r in rs), 900, log, earlier)
    assert {r.status for r in runs} == {dg.DagsterRunStatus.SUCCESS}
    # The queued shard runs overlapped (the run queue takes 2 at a time): concurrent runs on PostgreSQL.
    shard_runs = [instance.get_run_record_by_id(r.run_id) for r in runs if r.job_name == "ingest_textvqa"]
    spans = sorted((r.start_time, r.end_time) for r in shard_runs)
    assert len(spans) == 4 and any(b[0] < a[1] for a, b in zip(spans, spans[1:])), f"no two runs overlapped: {spans}"
    assert_same_outputs(expected, tmp_path / "ray" / "playground" / "data")

    jobs = step_jobs(ray_cluster, {r.run_id for r in runs})
    assert {j.status for j in jobs} == {"SUCCEEDED"}
    ops = Counter(j.metadata["dagster/op"] for j in jobs)  # the asset checks run as steps of their own too
    assert (ops["textvqa_download"], ops["textvqa_images"], ops["spatialqa"]) == (1, 4, 2), ops
    head, gpu_node = ray_cluster.nodes[0].node_id, ray_cluster.nodes[1].node_id
    assert {j.driver_node_id for j in jobs} == {head, gpu_node}, "steps ran on both nodes"
    gpu_steps = [j for j in jobs if j.metadata["dagster/op"] == "spatialqa"]
    assert len(gpu_steps) == 2 and {j.driver_node_id for j in gpu_steps} == {gpu_node}
    # What each step held: its job's supervisor actor carries the entrypoint's resources.
    held = {a.name.removeprefix("_ray_internal_job_actor_"): a.required_resources
            for a in list_actors(address=ray_cluster.dashboard_url, detail=True, limit=1000,
                                 filters=[("class_name", "=", "JobSupervisor")])}
    asked = {(j.metadata["dagster/op"], json.dumps(held[j.submission_id], sort_keys=True)) for j in jobs
             if j.metadata["dagster/op"] in ("textvqa_images", "spatialqa")}
    assert asked == {("textvqa_images", '{"CPU": 1.0}'), ("spatialqa", '{"CPU": 1.0, "GPU": 1.0}')}


def _kill_supervisor_of(cluster: LocalRayCluster, submission_id: str) -> None:
    """SIGKILL the Ray worker process that supervises a job (its entrypoint dies with it)."""
    name = f"_ray_internal_job_actor_{submission_id}"
    actors = [a for a in list_actors(address=cluster.dashboard_url, detail=True,
                                     filters=[("class_name", "=", "JobSupervisor"), ("state", "=", "ALIVE")])
              if a.name == name]
    assert actors, f"no live supervisor for {submission_id}"
    os.kill(actors[0].pid, signal.SIGKILL)


ONE_SHARD = """
import sys
import dagster as dg
from assets.graph import build_definitions
from assets.runner import _execute_on_ray, open_instance
from assets.settings import instance_home, load_settings
home = instance_home()
settings = load_settings(home)
job = build_definitions(settings).resolve_implicit_global_asset_job_def()
with _execute_on_ray(job, {}, open_instance(home, settings), dg.AssetKey(sys.argv[1]), sys.argv[2], {}) as result:
    assert result.success
    print(result.run_id)
"""


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_worker_killed_mid_shard_is_redone(tmp_path: Path, postgres: LocalPostgres, ray_cluster: LocalRayCluster,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # PNGs all in shard 000: its step runs long enough (seconds) to be killed halfway.
    mirror = write_textvqa_corpus(tmp_path / "mirror", images=KILL_IMAGES, shards=(0,))
    materialize(single_machine_env(tmp_path, mirror), ["textvqa_download", "textvqa_images"])
    expected = output_hashes(tmp_path / "single" / "playground" / "data")

    env = cluster_env(tmp_path, postgres, ray_cluster, **roots(tmp_path / "ray", mirror))
    materialize(env, ["textvqa_download"])
    folder = tmp_path / "ray" / "playground" / "data" / "textvqa" / "train_images"
    shard = subprocess.Popen([sys.executable, "-c", ONE_SHARD, "textvqa_images", "000"], cwd=PROJECT_ROOT, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and len(list(folder.glob("*.jpg"))) < 20 and shard.poll() is None:
        time.sleep(0.2)
    [victim] = [j for j in step_jobs(ray_cluster, None) if j.status == "RUNNING"]
    _kill_supervisor_of(ray_cluster, victim.submission_id)
    written_at_kill = len(list(folder.glob("*.jpg")))
    out, err = shard.communicate(timeout=900)
    assert shard.returncode == 0, out[-2000:] + err[-4000:]
    assert 20 <= written_at_kill < KILL_IMAGES, "killed mid-shard"
    # The step's Ray job died with its supervisor; the executor's health check failed it and the
    # step was relaunched, in the same run, as a new Ray job.
    attempts = sorted((j for j in step_jobs(ray_cluster, {victim.metadata["dagster/run-id"]})
                       if j.metadata["dagster/op"] == "textvqa_images"), key=lambda j: j.start_time)
    assert [j.status for j in attempts] == ["FAILED", "SUCCEEDED"]
    assert "supervisor actor died" in attempts[0].message and attempts[1].submission_id.endswith("-1")
    use_instance_of(env, monkeypatch)
    run = dg.DagsterInstance.get().get_run_by_id(out.strip().splitlines()[-1])
    assert run.status == dg.DagsterRunStatus.SUCCESS and run.tags["dagster/partition"] == "000"
    # The redone shard: a complete manifest, every image decodes, nothing half-written left behind.
    others = {f"textvqa/images/{i:03d}.parquet" for i in range(1, 4)}  # empty shards, not run on the cluster
    expected["tables"] = {k: v for k, v in expected["tables"].items() if k not in others}
    assert_same_outputs(expected, tmp_path / "ray" / "playground" / "data")
    assert len(list(folder.glob("*.jpg"))) == KILL_IMAGES
    for path in folder.glob("*.jpg"):
        Image.open(path).load()
    leftovers = [p for p in (tmp_path / "ray" / "playground").rglob("*") if p.name.endswith(".part")]
    assert leftovers == [] and not (tmp_path / "ray" / "playground" / "data" / ".staging" / "textvqa-000").exists()


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_finetune_on_ray_train_reports_from_rank_zero(tmp_path: Path, postgres: LocalPostgres,
                                                      ray_cluster: LocalRayCluster) -> None:
    from trainer.synthetic import write_synthetic_mixture

    data = tmp_path / "playground" / "data"
    mixture = write_synthetic_mixture(data, tmp_path / "playground" / "mixtures" / "m.json", n_image=6, n_text=2)
    env = cluster_env(tmp_path, postgres, ray_cluster, data_root=str(data), launcher="ray")
    config = {"finetune": {"preset": "tiny", "mixture": str(mixture), "output_dir": str(tmp_path / "ckpt"),
                           "num_gpus": 2, "max_steps": 3}}  # two CPU ranks: the tiny preset has no ZeRO-3
    [step] = materialize(env, ["finetune"], config)
    meta = step["metadata"]
    assert meta["launcher"] == "ray" and meta["world_size"] == 2 and meta["steps"] == 3
    assert meta["loss_curve"].startswith("![loss curve](data:image/png") and meta["tokens_per_second_per_gpu"] > 0
    assert len(json.loads((tmp_path / "ckpt" / "train_metrics.json").read_text())["loss_curve"]) == 3
    assert (tmp_path / "ckpt" / "final" / "model.safetensors").is_file()
    assert "step 3/3 loss" in Path(meta["log"]).read_text()
    ranks = list_actors(address=ray_cluster.dashboard_url, detail=True, limit=1000,
                        filters=[("class_name", "=", "RayTrainWorker")])
    assert {a.node_id for a in ranks} == {n.node_id for n in ray_cluster.nodes}, "one rank on each node"
