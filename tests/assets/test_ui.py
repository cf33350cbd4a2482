"""`dagster dev` for real: start it on loopback, inspect the graph through GraphQL, launch a run."""
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]

LAUNCH = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on InvalidSubsetError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _gql(url: str, query: str, variables: dict | None = None) -> dict:
    resp = requests.post(url, json={"query": query, "variables": variables or {}}, timeout=60)
    resp.raise_for_status()
    body = resp.json()
    assert "errors" not in body, body
    return body["data"]


@pytest.mark.slow
def test_dagster_dev_serves_the_graph_and_runs_a_source(tmp_path, dagster_home, sample_mirror):
    from assets.settings import Settings, save_settings

    port = _free_port()
    # what `dagster dev` reads: the instance's settings file (as `spatialmix run-sample` writes it)
    save_settings(dagster_home, Settings(data_root=str(tmp_path / "data"), mirror=str(sample_mirror), workers=1))
    env = dict(os.environ, DAGSTER_HOME=str(dagster_home))
    log = open(tmp_path / "dev.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "dagster", "dev", "-w", "workspace.yaml", "-h", "127.0.0.1",
                             "-p", str(port)], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}/graphql"
    try:
        deadline = time.monotonic() + 240
        nodes = None
        while time.monotonic() < deadline:
            try:
                nodes = _gql(url, "{ assetNodes { assetKey { path } groupName } }")["assetNodes"]
                if nodes:
                    break
            except (requests.RequestException, AssertionError):
                pass
            time.sleep(2)
        assert nodes, (tmp_path / "dev.log").read_text()[-3000:]
        groups = {n["assetKey"]["path"][-1]: n["groupName"] for n in nodes}
        from assets.definitions import defs

        expected = {k.path[-1]: defs.resolve_asset_graph().get(k).group_name
                    for k in defs.resolve_asset_graph().get_all_asset_keys()}
        assert groups == expected
        params = {"selector": {"repositoryLocationName": "spatialmix", "repositoryName": "__repository__",
                               "jobName": "__ASSET_JOB", "assetSelection": [{"path": ["textvqa_download"]}]},
                  "runConfigData": {}}
        launched = _gql(url, LAUNCH, {"params": params})["launchRun"]
        assert launched["__typename"] == "LaunchRunSuccess", launched
        run_id = launched["run"]["runId"]
        status = None
        while time.monotonic() < deadline + 240:
            status = _gql(url, '{ runOrError(runId: "%s") { ... on Run { status } } }' % run_id)["runOrError"]["status"]
            if status in ("SUCCESS", "FAILURE", "CANCELED"):
                break
            time.sleep(2)
        assert status == "SUCCESS", (tmp_path / "dev.log").read_text()[-3000:]
        assert (tmp_path / "cache" / "textvqa" / "train_val_images.zip").is_file()
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=60)
        log.close()
