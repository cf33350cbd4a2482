"""Deployments without servers: the instance files they write, the executor they pick, the Ray
resources assets ask for, the settings that go together, and the shared-data probe's verdicts."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from dagster._core.instance.config import dagster_instance_config
from dagster_ray.configs import RayExecutionConfig

from assets.cluster import ProbeResult, RayPlacement, driver_address, verify_probes
from assets.deployment import DeploymentError, check_settings, instance_config, instance_yaml, write_instance_yaml
from assets.settings import Settings, SettingsError, read_settings
from sample.services import instance_env

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PG = {"postgres_host": "db.internal", "postgres_port": 6543, "postgres_user": "runs", "postgres_db": "spatialmix"}


def test_embedded_deployment_is_the_project_file_untouched() -> None:
    assert instance_yaml(Settings()) == (PROJECT_ROOT / "dagster.yaml").read_text()


@pytest.mark.parametrize("deployment", ["postgres", "ray"])
def test_deployments_are_valid_instance_configs_with_only_the_password_from_the_environment(
        tmp_path: Path, deployment: str) -> None:
    write_instance_yaml(tmp_path, Settings(deployment=deployment, ray_address="127.0.0.1:6379", **PG))
    config, _ = dagster_instance_config(str(tmp_path))  # Dagster's own schema check
    assert config["storage"]["postgres"]["postgres_db"] == {
        "hostname": "db.internal", "port": 6543, "username": "runs", "password": {"env": "DAGSTER_PG_PASSWORD"},
        "scheme": "postgresql+psycopg2", "db_name": "spatialmix"}
    base = instance_config(Settings())
    assert config["concurrency"] == base["concurrency"] and config["run_monitoring"] == base["run_monitoring"]
    assert ("run_launcher" in config) == (deployment == "ray")
    if deployment == "ray":
        assert config["run_launcher"]["config"]["ray"] == {"address": "127.0.0.1:6379", "env_vars": ["DAGSTER_HOME"]}


def test_settings_that_do_not_go_together_are_refused(tmp_path: Path) -> None:
    bad = tmp_path / "spatialmix.toml"
    bad.write_text('deployment = "kubernetes"\n')
    with pytest.raises(SettingsError, match="embedded, postgres, ray"):
        read_settings(bad)
    bad.write_text('deployment = "postgres"\npostgres_port = "5432"\n')
    with pytest.raises(SettingsError, match="`postgres_port` must be int"):
        read_settings(bad)
    with pytest.raises(DeploymentError, match="needs `ray_address`"):
        check_settings(Settings(deployment="ray"))
    with pytest.raises(DeploymentError, match='needs deployment "ray"'):
        check_settings(Settings(launcher="ray"))


def test_ray_step_tags_are_what_dagster_ray_reads() -> None:
    ray = RayPlacement(enabled=True, shard_cpus=8)
    shard = RayExecutionConfig.from_tags(ray.shard()["op_tags"])
    assert (shard.num_cpus, shard.num_gpus) == (8, None) and ray.shard_workers == 8
    gpu = RayExecutionConfig.from_tags(ray.step(num_cpus=1, num_gpus=1)["op_tags"])
    assert (gpu.num_cpus, gpu.num_gpus) == (1, 1)
    assert RayPlacement().shard() == {} and RayPlacement().shard_workers is None  # embedded: nothing asked


def test_ray_deployment_definitions_run_steps_on_ray_with_per_asset_resources(tmp_path: Path) -> None:
    code = ("import json; from assets.definitions import defs; g = defs.resolve_asset_graph(); "
            "job = defs.resolve_implicit_global_asset_job_def(); "
            "ops = {k.path[-1]: g.get(k).assets_def.op for k in g.get_all_asset_keys()}; "
            "print(json.dumps({'executor': job.executor_def.name, "
            "'tags': {n: op.tags.get('dagster-ray/config') for n, op in ops.items()}, "
            "'retries': {n: op.retry_policy.max_retries if op.retry_policy else 0 for n, op in ops.items()}, "
            "'spatialqa_job_shards': len(defs.resolve_job_def('generate_spatialqa').partitions_def.get_partition_keys())}))")
    env = instance_env(tmp_path / "home", deployment="ray", ray_address="127.0.0.1:6379", ray_shard_cpus=6,
                       data_root=str(tmp_path / "data"))
    out = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["executor"] == "ray"
    asks = {name: json.loads(tag) if tag else None for name, tag in seen["tags"].items()}
    assert asks["coco_images"]["num_cpus"] == 6 and asks["vqav2_conversations"]["num_cpus"] == 6
    assert (asks["spatialqa"]["num_cpus"], asks["spatialqa"]["num_gpus"]) == (1, 1)
    assert asks["coco_download"] is None and asks["finetune"] is None  # drivers only: no resources held
    assert seen["retries"]["coco_images"] == seen["retries"]["spatialqa"] == 1  # a lost node's step is redone
    assert seen["spatialqa_job_shards"] == 8  # `generate_spatialqa`: backfilled like ingest_<source>


def test_probe_verdicts(tmp_path: Path) -> None:
    seen = tmp_path / "seen.txt"
    seen.write_text("node-a token")
    assert verify_probes([ProbeResult("node-a", "h1", str(seen), "node-a token")]) == []
    assert not seen.exists()  # read back, then removed
    missing = verify_probes([ProbeResult("node-b", "h2", str(tmp_path / "elsewhere.txt"), "node-b token")])
    assert len(missing) == 1 and "does not exist here" in missing[0] and "(h2)" in missing[0]
    other = tmp_path / "other.txt"
    other.write_text("another file")
    assert "not the same file" in verify_probes([ProbeResult("node-c", "h3", str(other), "node-c token")])[0]
    refused = verify_probes([ProbeResult("node-d", "h4", "/ro/x.txt", "t", "PermissionError: read-only")])
    assert "cannot write /ro/x.txt: PermissionError" in refused[0]


def test_driver_address_reaches_the_head_from_outside_the_cluster() -> None:
    assert driver_address("http://head-svc.ns.svc:8265") == "ray://head-svc.ns.svc:10001"
    assert driver_address("https://ray.example.org:443/") == "ray://ray.example.org:10001"
    assert driver_address("10.0.0.5:6379") == "10.0.0.5:6379"


def test_ray_train_entrypoint_asks_for_gpus_only_under_zero3() -> None:
    from assets.cluster_finetune import ray_train_entrypoint
    from trainer.config import preset_config

    full = ray_train_entrypoint(preset_config("llava-1.5-7b", "m.json", "data", "out"), workers=8)
    assert "-m trainer.ray_train --workers 8 --cpus_per_worker 5 --use_gpu -- --mixture=m.json" in full
    tiny = ray_train_entrypoint(preset_config("tiny", "m.json", "data", "out"), workers=2)
    assert "--workers 2" in tiny and "--use_gpu" not in tiny
