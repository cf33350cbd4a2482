"""The Dagster UI as its users live in it, in a real browser: after `spatialmix run-sample`, `spatialmix ui`
serves the sample's instance on loopback and headless Chromium (Debian's, driven by Playwright) checks that
the lineage renders, that *Materialize* on `mixture` succeeds with the sample's settings and leaves nothing
stale, that the finetune page shows the loss-curve picture and that a sharded asset's check shows one result
per partition. Screenshots go to $SPATIALMIX_TEST_ARTIFACTS/ui (default build/test-artifacts/ui)."""
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

import dagster as dg
import pytest
import requests
from dagster._core.instance.ref import InstanceRef

from assets.mixture_checks import MIXTURE_CHECKS

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("SPATIALMIX_TEST_ARTIFACTS", ROOT / "build" / "test-artifacts")) / "ui"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _gql(url: str, query: str) -> dict:
    resp = requests.post(f"{url}/graphql", json={"query": query}, timeout=60)
    resp.raise_for_status()
    body = resp.json()
    assert "errors" not in body, body
    return body["data"]


@pytest.fixture(scope="module")
def sample_ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The main job on the sample, then `spatialmix ui` on its data root's own instance."""
    work = tmp_path_factory.mktemp("ui")
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}  # the data root's own instance
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    sample = subprocess.run([sys.executable, "-m", "assets.cli", "run-sample", "--workers", "1"], cwd=work, env=env,
                            capture_output=True, text=True, timeout=1800)
    assert sample.returncode == 0, sample.stdout[-3000:] + sample.stderr[-3000:]
    url = f"http://127.0.0.1:{_free_port()}"
    log_path = work / "ui.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "assets.cli", "ui", "--host", "127.0.0.1",
                                 "--port", url.rsplit(":", 1)[1]], cwd=work, env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                with contextlib.suppress(requests.RequestException, AssertionError, KeyError):
                    if _gql(url, "{ assetNodes { id } }")["assetNodes"]:
                        break
                time.sleep(2)
            else:
                pytest.fail("dagster dev did not serve the graph:\n" + log_path.read_text()[-3000:])
            yield url, work
        finally:
            _stop(proc)
    assert "Warning" not in log_path.read_text(), "Dagster's warnings reach the user:\n" + log_path.read_text()[-3000:]


def _stop(proc: subprocess.Popen) -> None:
    """Ctrl-C to `spatialmix ui` and everything `dagster dev` started (its own process group); what is
    left after a minute is killed."""
    os.killpg(proc.pid, signal.SIGINT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        proc.poll()  # reap our child, so only live processes keep the group
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)


@contextlib.contextmanager
def _browser() -> Iterator:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as profile, sync_playwright() as p:
        context = p.chromium.launch_persistent_context(profile, executable_path=CHROMIUM, headless=True,
                                                       args=CHROMIUM_ARGS, viewport={"width": 1600, "height": 1000})
        page = context.new_page()
        page.set_default_timeout(60_000)
        # Dagster's "join the community" dialog appears on first visit: dismiss it whenever it shows
        page.add_locator_handler(page.get_by_role("button", name="Skip"), lambda button: button.click())
        try:
            yield page
        except Exception:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=ARTIFACTS / "failure.png")  # what the browser showed when it failed
            raise
        finally:
            context.close()


def _wait_for_run(url: str, run_id_prefix: str, deadline_s: float = 900) -> dict:
    query = "{ runsOrError(limit: 20) { ... on Runs { results { runId status tags { key value } } } } }"
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        runs = [r for r in _gql(url, query)["runsOrError"]["results"] if r["runId"].startswith(run_id_prefix)]
        if runs and runs[0]["status"] in ("SUCCESS", "FAILURE", "CANCELED"):
            return runs[0]
        time.sleep(3)
    pytest.fail(f"run {run_id_prefix} did not finish")


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_the_ui_reproduces_the_sample_in_a_real_browser(sample_ui) -> None:
    url, work = sample_ui
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with _browser() as page:
        # the lineage renders: one box per group, statuses loaded
        page.goto(f"{url}/asset-groups")
        for group in ("image_sources", "hub_sources", "annotation_sources", "spatialqa", "mixture", "training",
                      "evaluation"):
            page.get_by_text(group, exact=True).filter(visible=True).first.wait_for()
        page.get_by_text("fetching statuses").first.wait_for(state="detached")
        page.screenshot(path=ARTIFACTS / "lineage.png")

        # Materialize on `mixture`: the settings file makes it the sample's mixture, and it succeeds
        page.goto(f"{url}/assets/mixture")
        page.locator("button", has_text="Materialize").first.click()
        toast = page.get_by_text(re.compile(r"Launched run [0-9a-f]{8}"))
        run = _wait_for_run(url, toast.inner_text().split()[-1])
        assert run["status"] == "SUCCESS", run
        tags = {t["key"]: t["value"] for t in run["tags"]}
        assert tags["dagster/from_ui"] == "true"
        assert tags["spatialmix/data_root"] == str(work / "playground" / "data")
        page.goto(f"{url}/assets/mixture?view=checks")
        page.get_by_text("This is a blocking asset check.").wait_for()
        page.screenshot(path=ARTIFACTS / "mixture_checks.png")
        stale = {n["assetKey"]["path"][-1]: n["staleStatus"]
                 for n in _gql(url, "{ assetNodes { assetKey { path } staleStatus } }")["assetNodes"]}
        assert "STALE" not in stale.values(), stale  # the no-op re-run left finetune (and all else) fresh

        # the finetune page shows the loss curve as a picture
        page.goto(f"{url}/assets/finetune")
        page.locator("tr", has_text="loss_curve").first.get_by_text("[Show Markdown]").click()
        picture = page.get_by_role("dialog").locator("img[src^='data:image/png;base64,']")
        picture.wait_for()
        assert picture.evaluate("img => img.naturalWidth") == 640
        page.screenshot(path=ARTIFACTS / "finetune_loss_curve.png")

        # a sharded asset's check: one result per partition
        page.goto(f"{url}/assets/coco_images?view=checks")
        page.get_by_text("images_decode", exact=True).first.click()
        page.get_by_text("Partitions", exact=True).last.click()
        page.get_by_text("Passed (16)").wait_for()
        page.screenshot(path=ARTIFACTS / "partitioned_check.png")

    home = work / "playground" / ".dagster_home"
    instance = dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))
    latest = instance.get_latest_materialization_event(dg.AssetKey("mixture")).asset_materialization
    assert latest.metadata["recipe"].value == str(ROOT / "recipes" / "sample.toml")
    assert latest.metadata["reused"].value is True
    for name in MIXTURE_CHECKS:  # the click ran the blocking checks on the new materialization
        record = instance.get_latest_asset_check_evaluation_record(dg.AssetCheckKey(dg.AssetKey("mixture"), name))
        assert record.run_id == run["runId"] and record.event.asset_check_evaluation.passed
