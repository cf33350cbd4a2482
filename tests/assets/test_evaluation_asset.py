"""The evaluation assets: benchmark sources through the registry (never training data), their eval
tables, and `evaluate` (finetuned + baseline per benchmark partition, README table, held-out check)."""
from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from assets import evaluation as evaluation_module
from assets.graph import build_definitions
from assets.resources import Workspace
from assets.settings import Settings
from assets.sources import source_assets
from evaluation.rendered import HELDOUT_SEED
from evaluation.sources import EVAL_BENCHMARKS, RENDERED
from pipeline.recipe import RecipeError, check_sources, parse
from pipeline.sources import registry
from spatialqa_gen.scene_pool import write_scene_pool
from trainer.model import build_tiny

HUB_BENCHMARKS = ("spatialrgpt_bench", "spatial_relation_eval")


def test_benchmarks_are_sources_but_never_training_data() -> None:
    graph = build_definitions(Settings()).resolve_asset_graph()
    for name in HUB_BENCHMARKS:
        source = registry.SOURCES[name]
        assert source.family == "benchmark" and not source.tables
        assert graph.get(dg.AssetKey(f"{name}_eval")).parent_keys == {dg.AssetKey(f"{name}_download")}
        assert name not in registry.component_tables() and name not in registry.overlap_sources("llava_665k")
        with pytest.raises(RecipeError, match=f"unknown source '{name}'"):
            check_sources(parse({"name": "r", "components": [{"source": name}]}), registry.component_tables())
    mixture_inputs = {k.path[-1] for k in graph.get(dg.AssetKey("mixture")).parent_keys}
    assert not {k for k in mixture_inputs if k.startswith(HUB_BENCHMARKS)}
    node = graph.get(dg.AssetKey("evaluate"))
    assert node.pools == {"gpu"} and node.group_name == "evaluation"
    assert node.partitions_def.get_partition_keys() == list(EVAL_BENCHMARKS) == [*HUB_BENCHMARKS, RENDERED]
    assert node.parent_keys == {dg.AssetKey(k) for k in ("finetune", *(f"{b}_eval" for b in HUB_BENCHMARKS))}


def _assets() -> list:
    return [*source_assets(), *evaluation_module.evaluation_assets()]


def _evaluate(workspace: Workspace, partition: str, **config: object) -> dg.ExecuteInProcessResult:
    return dg.materialize(_assets(), resources={"workspace": workspace}, selection=["evaluate"],
                          partition_key=partition, raise_on_error=False,
                          run_config={"ops": {"evaluate": {"config": config}}})


def _failure(result: dg.ExecuteInProcessResult) -> str:
    assert not result.success
    return "\n".join(str(e.event_specific_data.error) for e in result.all_events if e.is_step_failure)


def test_a_training_pool_holding_held_out_scenes_fails_clearly(tmp_path: Path, dagster_home: Path) -> None:
    pool = tmp_path / "pool"
    write_scene_pool(pool, 1, seed=HELDOUT_SEED)
    workspace = Workspace(data_root=str(tmp_path / "data"), scene_pool=str(pool), finetune_preset="tiny")
    message = _failure(_evaluate(workspace, RENDERED, checkpoint=str(tmp_path / "any")))
    assert "training scene pool check failed" in message and "held-out scenes" in message


def test_without_a_finetuned_checkpoint_it_says_what_to_materialize(tmp_path: Path, dagster_home: Path) -> None:
    workspace = Workspace(data_root=str(tmp_path / "data"), finetune_preset="tiny")
    assert "materialize `finetune` first" in _failure(_evaluate(workspace, RENDERED))


def _scores(result: dg.ExecuteInProcessResult) -> dict:
    assert result.success, _failure(result)
    return result.get_asset_materialization_events()[0].materialization.metadata


def _check_readme_table(meta: dict, baseline: Path) -> None:
    table = meta["scores"].value
    for title in ("Below/Above", "Left/Right", "Behind/Front", "Direct Dist", "Direction", "Avg"):
        assert title in table
    assert table.count("| finetuned (finetuned) |") == 2 and table.count(f"| baseline ({baseline}) |") == 2
    assert {r.data["model"] for r in meta["by_category"].value.records} == {"finetuned", "baseline"}
    assert meta["questions"].value > 0 and Path(meta["judged"].value).is_file()


def test_evaluate_on_the_held_out_scenes_scores_both_models_once(tmp_path: Path, dagster_home: Path) -> None:
    finetuned, baseline = build_tiny(tmp_path / "finetuned", seed=1), build_tiny(tmp_path / "base", seed=2)
    workspace = Workspace(data_root=str(tmp_path / "data"), finetune_preset="tiny", eval_baseline=str(baseline))
    config = {"checkpoint": str(finetuned), "max_new_tokens": 3, "rendered_scenes": 1}
    meta = _scores(_evaluate(workspace, RENDERED, **config))
    _check_readme_table(meta, baseline)
    assert meta["reused"].value is False and meta["max_new_tokens"].value == 3
    again = _scores(_evaluate(workspace, RENDERED, **config))
    assert again["reused"].value is True and again["baseline_reused"].value is True
    assert again["scores"].value == meta["scores"].value


@pytest.mark.slow
def test_a_hub_benchmark_from_the_mirror_to_its_scores(tmp_path: Path, dagster_home: Path, sample_mirror: Path) -> None:
    finetuned, baseline = build_tiny(tmp_path / "finetuned", seed=1), build_tiny(tmp_path / "base", seed=2)
    pool = tmp_path / "pool"
    write_scene_pool(pool, 1, seed=0)  # a training pool of seeds below the held-out range passes the check
    workspace = Workspace(data_root=str(tmp_path / "data"), mirror=str(sample_mirror), workers=1,
                          scene_pool=str(pool), finetune_preset="tiny", eval_baseline=str(baseline))
    res = dg.materialize(_assets(), resources={"workspace": workspace},
                         selection=["spatialrgpt_bench_download", "spatialrgpt_bench_eval"])
    [table_check] = res.get_asset_check_evaluations()
    assert table_check.passed
    table_meta = next(e.materialization.metadata for e in res.get_asset_materialization_events()
                      if e.asset_key.path[-1] == "spatialrgpt_bench_eval")
    assert table_meta["questions"].value > 20 and table_meta["rejected"].value == 3
    meta = _scores(_evaluate(workspace, "spatialrgpt_bench", checkpoint=str(finetuned), max_new_tokens=4))
    _check_readme_table(meta, baseline)
