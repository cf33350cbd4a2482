"""The `postgres` deployment against a real PostgreSQL on loopback: the sample graph and a re-run that
rewrites nothing (the partitioned backfill with overlapping runs on PostgreSQL is in
test_ray_cluster.py, whose deployment keeps its instance there too); an unreachable server is one
plain message naming the connection."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from sample.services import LocalPostgres, free_port, instance_env
from tests.assets.test_cli import _outputs
from tests.cluster.conftest import profile_env

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _cli(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "assets.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=900)


def test_unreachable_postgres_is_one_message_naming_the_connection(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    data = tmp_path / "data"
    env = instance_env(tmp_path / "home", {"DAGSTER_PG_PASSWORD": "s3cret-not-shown"}, deployment="postgres",
                       data_root=str(data), postgres_port=port, postgres_db="runs")
    out = _cli(env, tmp_path, "ingest", "textvqa", "--data-root", str(data))
    assert out.returncode == 2, out.stderr[-3000:]
    assert f"postgresql://dagster@127.0.0.1:{port}/runs" in out.stderr
    assert "Traceback" not in out.stderr and "s3cret-not-shown" not in out.stderr
    assert len([line for line in out.stderr.splitlines() if line.startswith("spatialmix:")]) == 1
    missing = _cli({k: v for k, v in env.items() if k != "DAGSTER_PG_PASSWORD"}, tmp_path, "deploy", "check")
    assert missing.returncode == 2 and "DAGSTER_PG_PASSWORD" in missing.stderr and "Traceback" not in missing.stderr


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_sample_graph_and_rerun_on_postgres(tmp_path: Path, postgres: LocalPostgres,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    env = profile_env("postgres", tmp_path / "home", postgres, data_root=str(tmp_path / "playground" / "data"))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    instance = dg.DagsterInstance.get()
    assert type(instance.run_storage).__module__.startswith("dagster_postgres")
    earlier = {r.run_id for r in instance.get_runs()}  # the server is shared by the session's tests
    first = _cli(env, tmp_path, "run-sample", "--workers", "1")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert "FAILED" not in first.stdout.split("asset ")[-1]
    sample = [r for r in instance.get_runs() if r.run_id not in earlier]
    assert len(sample) > 60 and {r.status for r in sample} == {dg.DagsterRunStatus.SUCCESS}
    earlier |= {r.run_id for r in sample}

    # The partitioned backfill with concurrent runs on this storage is the `ray` deployment's
    # (tests/cluster/test_ray_cluster.py: queued runs through the daemon, overlapping, on PostgreSQL).

    # A re-run on the same instance: new runs recorded, nothing downloaded or rewritten.
    before = _outputs(tmp_path / "playground")
    again = _cli(env, tmp_path, "ingest", "textvqa", "--workers", "1")
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "fetched_now=0" in again.stdout and _outputs(tmp_path / "playground") == before
    assert len([r for r in instance.get_runs() if r.run_id not in earlier]) == 5  # download + 4 shards
