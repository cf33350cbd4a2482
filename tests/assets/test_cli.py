"""The console script end to end, in a subprocess, against the project's Dagster instance; and its
argument checks, failure line, run tags and `ui` forwarding, in process."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

import dagster as dg

from assets import cli_args
from assets.cli import main
from pipeline.recipe import load as load_recipe

ROOT = Path(__file__).resolve().parents[2]
# the sample mixture holds exactly what recipes/sample.toml expects of each component (tolerance 0)
MIXTURE_RECORDS = sum(c.expected for c in load_recipe(ROOT / "recipes" / "sample.toml").components)


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
    mirror = mirror_server.url.replace("http://", "http://reader:s3cret@")  # issue 10 item 9: never stored
    out = run_cli("ingest", "textvqa", "--mirror", mirror, "--data-root", str(tmp_path / "data"),
                  "--workers", "1", cwd=tmp_path, env_home=dagster_home)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "s3cret" not in out.stdout + out.stderr
    assert "textvqa_images" in out.stdout and "images=7" in out.stdout
    assert len(list((tmp_path / "data" / "textvqa" / "train_images").glob("*.jpg"))) == 7
    instance = dg.DagsterInstance.get()
    runs = instance.get_runs()
    assert len(runs) == 1 + 4  # download + one run per shard
    assert {r.tags["spatialmix/entry"] for r in runs} == {"spatialmix ingest"}
    assert {r.tags["spatialmix/source"] for r in runs} == {"textvqa"}
    assert len({r.tags["spatialmix/batch"] for r in runs}) == 1  # one command, one batch
    assert {r.tags["spatialmix/data_root"] for r in runs} == {str((tmp_path / "data").resolve())}
    assert "Warning" not in out.stderr  # Dagster's beta/preview warnings are silenced
    for run in runs:
        assert "s3cret" not in str(run.run_config)
        assert not any("s3cret" in str(e) for e in instance.all_logs(run.run_id))
    stored = [p for p in tmp_path.rglob("*") if p.is_file()]  # the instance's run and event storage too
    assert not any(b"s3cret" in p.read_bytes() for p in stored)
    bad = run_cli("ingest", "nosuchsource", cwd=tmp_path, env_home=dagster_home)
    assert bad.returncode != 0 and "unknown source" in bad.stderr


@pytest.mark.parametrize("argv, message", [
    (["ingest", "cocco"], "unknown source 'cocco'; did you mean coco?"),
    (["ingest", "vg", "--mirror", "ftp://host/x"], "use a folder or a http://, https://, file:// URL"),
    (["ingest", "vg", "--mirror", "/no/such/mirror"], "no such folder"),
    (["ingest", "vg", "--workers", "-2"], "workers must be a whole number"),
    (["serve-mirror", "/no/such/folder"], "/no/such/folder: no such folder"),
    (["serve-mirror", ".", "--port", "99999"], "port must be within 0..65535, got 99999"),
    (["ui", "--port", "http"], "port must be a number"),
    (["settings", "--set", "launcher=mpi"], "launcher must be one of python, deepspeed"),
    (["settings", "--set", "finetune_presets=tiny"], "did you mean finetune_preset?"),
])
def test_arguments_are_checked_up_front(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2 and message in capsys.readouterr().err


def test_source_names_are_case_insensitive():
    assert cli_args.source_name("COCO") == "coco" and cli_args.source_name(" Ocr_VQA ") == "ocr_vqa"


def test_a_failed_run_ends_in_one_line_with_run_id_and_log(tmp_path, dagster_home, capsys):
    empty_mirror = tmp_path / "empty"
    empty_mirror.mkdir()
    code = main(["ingest", "textvqa", "--mirror", str(empty_mirror), "--data-root", str(tmp_path / "data")])
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1
    run_id = dg.DagsterInstance.get().get_runs()[0].run_id
    assert err.startswith(f"spatialmix: textvqa_download failed in run {run_id}: ") and "no such file" in err
    log = Path(err.rsplit("(log: ", 1)[1].rstrip(")"))
    assert log == dagster_home / "logs" / f"{run_id}.log" and "STEP_FAILURE" in log.read_text()


def test_ui_forwards_host_port_and_everything_after_the_separator(tmp_path, dagster_home, monkeypatch):
    seen = {}

    class Child:
        def __init__(self, command, env):
            seen.update(command=command, env=env)

        def wait(self):
            return 0

    monkeypatch.setattr(subprocess, "Popen", Child)
    assert main(["ui", "--host", "0.0.0.0", "--port", "3333", "--", "--log-level", "debug"]) == 0
    command = seen["command"]
    assert command[3:6] == ["-m", "dagster", "dev"]
    assert command[-6:] == ["-h", "0.0.0.0", "-p", "3333", "--log-level", "debug"]
    assert seen["env"]["DAGSTER_HOME"] == str(dagster_home)
    main(["ui"])
    assert "-p" not in seen["command"] and "-h" not in seen["command"]  # dagster's own defaults


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
    assert len(mixture) == MIXTURE_RECORDS
    assert any((playground / "checkpoints" / "finetune").glob("*/final/config.json"))
    before = _outputs(playground)

    second = run_cli("run-sample", "--workers", "1", cwd=tmp_path, env_home=dagster_home)
    assert second.returncode == 0, second.stdout[-3000:]
    downloads = [line for line in second.stdout.splitlines() if "_download " in line]
    assert downloads and all("fetched_now=0" in line or "fetched_now" not in line for line in downloads)
    assert _outputs(playground) == before, "a second run rewrites nothing"


def test_settings_set_may_be_repeated(tmp_path, dagster_home, capsys):
    assert main(["settings", "--set", "workers=3", "--set", "launcher=python", "scene_pool="]) == 0
    text = capsys.readouterr().out
    assert "workers = 3" in text and 'launcher = "python"' in text and 'scene_pool = ""' in text
