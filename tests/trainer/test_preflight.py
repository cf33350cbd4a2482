"""Launch checks: every reason a finetune would fail that is knowable before it starts, found at once."""
from __future__ import annotations

from pathlib import Path

import pytest

from trainer.config import preset_config
from trainer.preflight import LaunchError, check_launch, hostfile_slots, weight_problems


def _config(tmp_path: Path, preset: str = "llava-1.5-7b", **overrides):
    mixture = tmp_path / "m.json"
    mixture.write_text("[]")
    return preset_config(preset, str(mixture), str(tmp_path / "data"), str(tmp_path / "out"), **overrides)


def test_assemble_without_projector_or_weights_is_refused_with_every_reason(tmp_path: Path) -> None:
    config = _config(tmp_path, llm=str(tmp_path / "no-llm"), vision="nobody/no-such-clip-here")
    with pytest.raises(LaunchError) as err:
        check_launch(config, "deepspeed", 0, None, gpus=0)
    problems = err.value.problems
    assert any("needs `projector`" in p for p in problems)
    assert any("no-llm: no such folder" in p for p in problems)
    assert any("nobody/no-such-clip-here: not in the Hugging Face cache" in p for p in problems)
    assert any("deepspeed launcher needs CUDA GPUs" in p for p in problems)


def test_local_weights_and_projector_pass(tmp_path: Path) -> None:
    for name in ("llm", "clip"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text("{}")
    (tmp_path / "proj.bin").write_bytes(b"x")
    config = _config(tmp_path, llm=str(tmp_path / "llm"), vision=str(tmp_path / "clip"),
                     projector=str(tmp_path / "proj.bin"))
    assert weight_problems(config) == []
    launch = check_launch(config, "deepspeed", 0, None, gpus=8)
    assert (launch.launcher, launch.num_gpus, launch.world_size) == ("deepspeed", 8, 8)


def test_an_assembled_start_needs_no_weights(tmp_path: Path) -> None:
    config = _config(tmp_path)
    (tmp_path / "out" / "init").mkdir(parents=True)
    (tmp_path / "out" / "init" / "config.json").write_text("{}")
    assert weight_problems(config) == []


def test_gpu_count_and_batch_split(tmp_path: Path) -> None:
    config = _config(tmp_path, model="tiny")
    with pytest.raises(LaunchError, match="num_gpus 8 but this machine has 2"):
        check_launch(config, "deepspeed", 8, None, gpus=2)
    with pytest.raises(LaunchError, match="not a multiple"):
        check_launch(config, "deepspeed", 3, None, gpus=4)  # 128 / (16 x 3)
    assert check_launch(config, "deepspeed", 0, None, gpus=4).num_gpus == 4


def test_tiny_preset_runs_one_python_process_whatever_was_asked(tmp_path: Path) -> None:
    launch = check_launch(_config(tmp_path, "tiny"), "deepspeed", 0, None, gpus=0)
    assert (launch.launcher, launch.num_gpus, launch.world_size) == ("python", 1, 1)
    with pytest.raises(LaunchError, match="needs the deepspeed launcher"):
        check_launch(_config(tmp_path, "tiny"), "python", 4, None, gpus=4)


def test_hostfile(tmp_path: Path) -> None:
    hostfile = tmp_path / "hostfile"
    hostfile.write_text("# two nodes\nnode1 slots=8\nnode2 slots=8  # second\n")
    assert hostfile_slots(hostfile) == 16
    config = _config(tmp_path, model="tiny", per_device_batch=8)
    assert check_launch(config, "deepspeed", 0, str(hostfile), gpus=0).world_size == 16
    hostfile.write_text("node1\n")
    with pytest.raises(LaunchError, match="expected 'host slots=N'"):
        check_launch(config, "deepspeed", 0, str(hostfile), gpus=0)
    with pytest.raises(LaunchError, match="hostfile"):
        check_launch(config, "deepspeed", 0, str(tmp_path / "nope"), gpus=0)


def test_missing_mixture(tmp_path: Path) -> None:
    config = _config(tmp_path, model="tiny")
    Path(config.mixture).unlink()
    with pytest.raises(LaunchError, match="no such file"):
        check_launch(config, "python", 0, None, gpus=0)
