"""The console script end to end, in a subprocess, against the project's Dagster instance."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

import dagster as dg


def run_cli(*args: str, cwd: Path, env_home: Path) -> subprocess.CompletedProcess:
    import os

    env = dict(os.environ, DAGSTER_HOME=str(env_home))
    return subprocess.run([sys.executable, "-m", "assets.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


def test_sample_mirror_command_writes_upstream_shapes(tmp_path, dagster_home):
    out = run_cli("sample-mirror", str(tmp_path / "m"), cwd=tmp_path, env_home=dagster_home)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "m" / "images.cocodataset.org" / "zips" / "train2017.zip").is_file()
    assert (tmp_path / "m" / "huggingface.co" / "datasets" / "liuhaotian" / "LLaVA-Instruct-150K"
            / "llava_v1_5_mix665k.json").is_file()


def test_ingest_command_materializes_in_the_instance(tmp_path, dagster_home, mirror_server):
    out = run_cli("ingest", "textvqa", "--mirror", mirror_server.url, "--data-root", str(tmp_path / "data"),
                  "--workers", "1", cwd=tmp_path, env_home=dagster_home)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "textvqa_images" in out.stdout and "images=7" in out.stdout
    assert len(list((tmp_path / "data" / "textvqa" / "train_images").glob("*.jpg"))) == 7
    instance = dg.DagsterInstance.get()
    assert len(instance.get_runs()) == 1 + 4  # download + one run per shard
    bad = run_cli("ingest", "nosuchsource", cwd=tmp_path, env_home=dagster_home)
    assert bad.returncode != 0 and "unknown source" in bad.stderr


def _outputs(root: Path) -> dict[Path, int]:
    """Everything the main job writes under playground/ (not the mirror, not per-run training logs)."""
    return {p: p.stat().st_mtime_ns for p in root.rglob("*")
            if p.is_file() and "sample_mirror" not in p.parts and "logs" not in p.parts}


@pytest.mark.slow
def test_run_sample_main_job_twice(tmp_path, dagster_home):
    first = run_cli("run-sample", "--workers", "1", cwd=tmp_path, env_home=dagster_home)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    summary = first.stdout.split("asset ")[-1]
    for asset in ("llava_665k_conversations", "vqav2_conversations", "openspaces_conversations", "spatialqa",
                  "cauldron_overlap", "mixture", "finetune"):
        assert f"\n{asset} " in summary, asset
    assert "FAILED" not in summary
    playground = tmp_path / "playground"
    mixture = json.loads((playground / "mixtures" / "sample" / "sample.json").read_text())
    assert len(mixture) == 90
    assert any((playground / "checkpoints" / "finetune").glob("*/final/config.json"))
    before = _outputs(playground)

    second = run_cli("run-sample", "--workers", "1", cwd=tmp_path, env_home=dagster_home)
    assert second.returncode == 0, second.stdout[-3000:]
    downloads = [line for line in second.stdout.splitlines() if "_download " in line]
    assert downloads and all("fetched_now=0" in line or "fetched_now" not in line for line in downloads)
    assert _outputs(playground) == before, "a second run rewrites nothing"
