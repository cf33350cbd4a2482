"""lmms-eval on a llava-hf checkpoint: it loads through lmms-eval's llava_hf class and a one-item local
task runs. Needs the lmms-eval environment (scripts/lmms_venv.sh, or SPATIALMIX_LMMS_PYTHON)."""
import os
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from evaluation.inference import GenerationConfig, generate, load_model
from evaluation.lmms import ACADEMIC_TASKS, SMOKE_TASK, lmms_command, lmms_python, read_results, write_smoke_task

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def test_command_selects_the_llava_hf_class_and_the_ten_benchmarks(tmp_path: Path) -> None:
    command = lmms_command("python", "ckpt", list(ACADEMIC_TASKS.values()), tmp_path, device="cuda")
    assert command[command.index("--model") + 1] == "llava_hf" and "--force_simple" in command
    assert "device_map=cuda" in command[command.index("--model_args") + 1]
    assert len(command[command.index("--tasks") + 1].split(",")) == 10


@pytest.mark.slow
def test_checkpoint_runs_a_one_item_task_through_lmms_eval(tiny_checkpoint: Path, tmp_path: Path) -> None:
    python = os.environ.get("SPATIALMIX_LMMS_PYTHON") or lmms_python(PROJECT_ROOT)
    if not python:
        pytest.skip("no lmms-eval environment: run scripts/lmms_venv.sh (or set SPATIALMIX_LMMS_PYTHON)")
    image, question = Image.new("RGB", (64, 64), (255, 0, 0)), "Is the picture red? Answer yes or no."
    task = write_smoke_task(tmp_path / "tasks", image, question, "yes", max_new_tokens=8)
    command = lmms_command(python, str(tiny_checkpoint), [task], tmp_path / "out", device="cpu", dtype="float32",
                           include_path=tmp_path / "tasks")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "WANDB_MODE": "disabled"}
    log = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    results, samples = read_results(tmp_path / "out")
    assert "exact_match,none" in results["results"][SMOKE_TASK], log.stdout[-2000:]
    assert len(samples) == 1 and samples[0]["input"] == question
    # lmms-eval's llava_hf path and ours prompt and preprocess alike: the same greedy answer
    ours = generate(load_model(str(tiny_checkpoint), GenerationConfig()), [question], [image], 8)[0][0]
    assert samples[0]["filtered_resps"] == ours
