"""Real services for the cluster tests: PostgreSQL on loopback (Debian's binaries) and a two-node Ray
cluster on loopback, those that .ci/run started (sample/services.py, $SPATIALMIX_TEST_SERVICES) or
else started and stopped by the fixtures themselves; and the Dagster daemon."""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import dagster as dg
import pytest

from sample.services import LocalPostgres, LocalRayCluster, instance_env, running_services, two_node_cluster

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def postgres() -> Iterator[LocalPostgres]:
    if running := running_services():  # started by .ci/run
        yield running[0]
        return
    with LocalPostgres() as server:
        yield server


@pytest.fixture(scope="session")
def ray_cluster(postgres: LocalPostgres) -> Iterator[LocalRayCluster]:
    if running := running_services():
        yield running[1]
        return
    with two_node_cluster(postgres) as cluster:
        yield cluster


def profile_env(deployment: str, home: Path, postgres: LocalPostgres, **settings: Any) -> dict[str, str]:
    """`instance_env` of a deployment whose instance storage is the test's PostgreSQL server."""
    return instance_env(home, postgres.env(), deployment=deployment, **postgres.settings(), **settings)


@contextlib.contextmanager
def dagster_daemon(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """`dagster-daemon run` on the project's workspace (run queue, backfills, run retries)."""
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "dagster._daemon", "run", "-w", "workspace.yaml"],
                                cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            yield proc
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def wait_for_runs(instance: dg.DagsterInstance, count: int, done: Callable[[list[dg.DagsterRun]], bool],
                  timeout_s: float, log: Path, earlier: set[str] = frozenset()) -> list[dg.DagsterRun]:
    """The runs of the instance not in `earlier`, once there are `count` of them and `done` holds."""
    deadline = time.monotonic() + timeout_s
    runs: list[dg.DagsterRun] = []
    while time.monotonic() < deadline:
        runs = [r for r in instance.get_runs() if r.run_id not in earlier]
        if len(runs) >= count and done(runs):
            return runs
        time.sleep(2)
    statuses = sorted((r.job_name, r.tags.get("dagster/partition"), r.status.value) for r in runs)
    raise AssertionError(f"runs did not finish in {timeout_s}s: {statuses}\n{log.read_text()[-4000:]}")


def backfill(job: str, env: dict[str, str]) -> None:
    out = subprocess.run([sys.executable, "-m", "dagster", "job", "backfill", "-w", "workspace.yaml", "-j", job,
                          "--all", "true", "--noprompt"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
