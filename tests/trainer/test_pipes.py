"""The `finetune` asset end to end through Dagster Pipes: the tiny preset trains in a subprocess,
rank 0's metrics come back as materialization metadata; a failing run fails the asset with its log."""
from __future__ import annotations

from pathlib import Path

import dagster as dg
import orjson
import pytest

from assets.resources import Workspace
from assets.graph import build_definitions
from assets.settings import Settings
from assets.training import finetune_asset, train, train_on_new_mixture
from trainer.synthetic import write_synthetic_mixture

finetune = finetune_asset()


def _materialize(tmp_path: Path, mixture: Path) -> tuple[dg.ExecuteInProcessResult, list[str]]:
    """Runs the asset in a temporary instance; returns the result and the run's log messages."""
    (tmp_path / "dagster_home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster_home")) as instance:
        result = dg.materialize(
            [finetune], instance=instance, raise_on_error=False,
            resources={"workspace": Workspace(data_root=str(tmp_path / "data"))},
            run_config={"ops": {"finetune": {"config": {
                "preset": "tiny", "mixture": str(mixture), "output_dir": str(tmp_path / "ckpt"),
                "max_steps": 3}}}})
        return result, [entry.user_message for entry in instance.all_logs(result.run_id)]


def test_finetune_reports_metrics_through_pipes(tmp_path: Path) -> None:
    mixture = write_synthetic_mixture(tmp_path / "data", tmp_path / "mixtures/m.json", n_image=6, n_text=2)
    result, messages = _materialize(tmp_path, mixture)
    assert result.success
    [event] = result.get_asset_materialization_events()
    meta = event.materialization.metadata
    assert meta["steps"].value == 3
    assert [r.data["step"] for r in meta["loss_by_step"].records] == [1, 2, 3]
    assert meta["loss_curve"].value.startswith("![loss curve](data:image/png;base64,")
    assert Path(meta["loss_curve_png"].value) == (tmp_path / "ckpt/loss_curve.png").resolve()
    assert meta["tokens_per_second_per_gpu"].value > 0
    assert isinstance(meta["checkpoint"], dg.PathMetadataValue)
    assert Path(meta["checkpoint"].value) == (tmp_path / "ckpt/final").resolve()
    assert (tmp_path / "ckpt/final/model.safetensors").is_file()
    assert event.materialization.tags["dagster/data_version"]
    assert any("step 3/3 loss" in m for m in messages)  # rank 0's progress streamed as Pipes logs


@pytest.mark.slow
def test_failed_training_fails_asset_with_log_tail(tmp_path: Path) -> None:
    mixture = tmp_path / "bad.json"
    mixture.write_bytes(orjson.dumps([{"id": "x", "conversations": [{"from": "gpt", "value": "no"}]}]))
    (tmp_path / "data").mkdir()
    result, _ = _materialize(tmp_path, mixture)
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    text = failure.step_failure_data.error.message + str(failure.step_failure_data.user_failure_data)
    assert "training failed" in text and "no valid training sample" in text


def test_training_only_starts_on_purpose() -> None:
    assert finetune.group_names_by_key[dg.AssetKey("finetune")] == "training"
    assert dg.AssetKey("mixture") in finetune.asset_deps[dg.AssetKey("finetune")]
    assert finetune.op.pool == "gpu"
    assert train_on_new_mixture.default_status == dg.DefaultSensorStatus.STOPPED
    bound = build_definitions(Settings())
    assert bound.resolve_job_def("train").graph.node_names() == ["finetune"]
    assert train.name == "train"
