"""Safe launches: `finetune` refuses, before launching anything, a run bound to fail (missing weights or
projector, no GPU for the deepspeed launcher, a mixture whose blocking checks failed or never ran), with
one message naming every reason; its launchpad offers presets and launchers as choices, and its config
stays derived from the trainer's TrainConfig."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import dagster as dg
import pytest

from assets.cluster import RayPlacement
from assets.mixture import mixture_asset
from assets.mixture_checks import mixture_checks
from assets.resources import Workspace
from assets.training import finetune_asset, finetune_config
from tests.assets.test_mixture_asset import recipe_file, write_component
from trainer.config import TrainConfig
from trainer.launch import LAUNCHERS

finetune = finetune_asset()


@pytest.fixture()
def workspace(tmp_path: Path) -> Workspace:
    data, tabs = tmp_path / "data", tmp_path / "tables"
    write_component(tabs, data, "clevr", 3)
    write_component(tabs, data, "spatialqa", 2)
    return Workspace(data_root=str(data), tables_root=str(tabs), cache_root=str(tmp_path / "cache"),
                     finetune_preset="tiny", launcher="python")


def _run(instance: dg.DagsterInstance, workspace: Workspace, assets: list, **config) -> dg.ExecuteInProcessResult:
    return dg.materialize(assets, instance=instance, resources={"workspace": workspace}, raise_on_error=False,
                          selection=["finetune"], run_config={"ops": {"finetune": {"config": config}}})


def _refusal(result: dg.ExecuteInProcessResult, instance: dg.DagsterInstance) -> str:
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    messages = [e.user_message for e in instance.all_logs(result.run_id)]
    assert not any(m.startswith("launching:") for m in messages), "nothing may be launched"
    data = failure.step_failure_data
    return data.user_failure_data.description if data.user_failure_data else data.error.message


def test_assemble_without_projector_or_gpus_is_refused_with_every_reason(tmp_path: Path, workspace) -> None:
    mixture = tmp_path / "m.json"
    mixture.write_text("[]")
    with dg.instance_for_test() as instance:
        result = _run(instance, workspace, [finetune], preset="llava-1.5-7b", launcher="deepspeed",
                      mixture=str(mixture), llm=str(tmp_path / "no-vicuna"))
        text = _refusal(result, instance)
    assert text.startswith("finetune cannot start:")
    assert "needs `projector`" in text and "no-vicuna: no such folder" in text
    assert "deepspeed launcher needs CUDA GPUs" in text


def test_mixture_checks_gate_the_launch(tmp_path: Path, workspace) -> None:
    assets = [mixture_asset(), *mixture_checks(), finetune]
    with dg.instance_for_test() as instance:
        text = _refusal(_run(instance, workspace, assets), instance)
        assert "`mixture` has no materialization in this instance" in text

        def build(expected: int) -> None:
            dg.materialize(assets[:-1], instance=instance, resources={"workspace": workspace}, raise_on_error=False,
                           run_config={"ops": {"mixture": {"config": {"recipe": str(recipe_file(tmp_path, expected))}}}})

        build(10)  # clevr has 3 records: far outside a 0% tolerance, an ERROR
        text = _refusal(_run(instance, workspace, assets), instance)
        assert "mixture check `counts_within_tolerance` failed" in text
        assert "image_paths_exist" not in text

        build(3)  # the checks pass: only the (deliberately impossible) GPU request is left to refuse
        text = _refusal(_run(instance, workspace, assets, launcher="python", num_gpus=4), instance)
        assert "mixture check" not in text and "num_gpus 4 needs the deepspeed launcher" in text


def test_a_mixture_and_finetune_in_one_run_stop_at_a_failed_blocking_check(tmp_path: Path, workspace) -> None:
    assets = [mixture_asset(), *mixture_checks(), finetune]
    with dg.instance_for_test() as instance:
        result = dg.materialize(assets, instance=instance, resources={"workspace": workspace}, raise_on_error=False,
                                run_config={"ops": {"mixture": {"config": {"recipe": str(recipe_file(tmp_path, 10))}}}})
        assert result.get_asset_materialization_events()  # the mixture was written ...
        assert "finetune" not in {e.step_key for e in result.all_events if e.is_step_start}  # ... finetune never began


def test_launchpad_offers_choices_and_stays_derived_from_train_config() -> None:
    fields = finetune_config(LAUNCHERS).model_fields
    assert {f.name for f in dataclasses.fields(TrainConfig)} - {"image_folder"} <= set(fields)
    assert fields["num_gpus"].default == 0  # every GPU present
    schema = finetune.op.config_schema.config_type.fields
    for name, expected in (("preset", {"tiny", "llava-1.5-7b"}), ("launcher", {"python", "deepspeed"})):
        enum = schema[name].config_type.inner_type  # optional: empty means the workspace's
        assert {v.config_value for v in enum.enum_values} == expected
    on_ray = finetune_asset(RayPlacement(enabled=True)).op.config_schema.config_type.fields  # deployment "ray"
    assert {v.config_value for v in on_ray["launcher"].config_type.inner_type.enum_values} == {"python", "deepspeed",
                                                                                              "ray"}
    with pytest.raises(dg.DagsterInvalidConfigError, match="not in enum"):
        dg.materialize([finetune], resources={"workspace": Workspace(data_root="/nonexistent")},
                       run_config={"ops": {"finetune": {"config": {"preset": "huge"}}}})
