"""`matches_reference` on `mixture`: the built mixture against the published one (recipes/reference.toml)."""
from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq

from assets import mixture as mixture_module
from assets.resources import Workspace
from pipeline import atomic, tables
from tests.assets.test_mixture_asset import write_component

REFERENCE = "spatial_llava_850k"


def _reference(tables_root: Path, rows: list[dict]) -> None:
    """The reference source's table and the marker that carries its `expected_records`."""
    atomic.write_table(tables_root / REFERENCE / "conversations.parquet", tables.to_table(rows, tables.CONVERSATIONS))
    (tables_root / REFERENCE / "conversations.json").write_text(json.dumps({"details": {"expected_records": len(rows)}}))


def _run(workspace: Workspace) -> dict:
    result = dg.materialize([mixture_module.mixture_asset(), mixture_module.reference_check()],
                            resources={"workspace": workspace}, selection=["mixture"])
    (evaluation,) = [e for e in result.get_asset_check_evaluations() if e.check_name == mixture_module.REFERENCE_CHECK]
    return {"passed": evaluation.passed, **{k: getattr(v, "value", v) for k, v in evaluation.metadata.items()}}


def test_a_mixture_covering_the_reference_passes_and_one_that_does_not_fails(tmp_path: Path) -> None:
    data, tabs = tmp_path / "data", tmp_path / "tables"
    write_component(tabs, data, "clevr", 3)
    write_component(tabs, data, "spatialqa", 2)
    recipe = tmp_path / "ours.toml"
    recipe.write_text('name = "ours"\n[[components]]\nsource = "clevr"\n[[components]]\nsource = "spatialqa"\n')
    workspace = Workspace(data_root=str(data), tables_root=str(tabs), cache_root=str(tmp_path / "cache"),
                          recipe=str(recipe))
    clevr = pq.read_table(tabs / "clevr" / "conversations.parquet").to_pylist()
    _reference(tabs, [r | {"source": REFERENCE} for r in clevr])
    covered = _run(workspace)
    assert covered["passed"] and (covered["only_ours"], covered["only_reference"], covered["conversations_differ"]) == \
        (2, 0, 0)  # ours adds the spatial QA; every published record is ours
    assert "| clevr | 3 | 3 | 0 | 0 | 0 |" in covered["by_folder"]
    changed = [dict(r, source=REFERENCE) for r in clevr]
    changed[0]["conversations"] = [changed[0]["conversations"][0], {"from": "gpt", "value": "Elsewhere."}]
    _reference(tabs, changed + [dict(clevr[1], id="extra", source=REFERENCE,
                                     conversations=[{"from": "human", "value": "<image>\nWhat colour?"},
                                                    {"from": "gpt", "value": "Red."}])])
    off = _run(workspace)
    assert not off["passed"] and (off["only_reference"], off["conversations_differ"]) == (1, 1)
    assert off["examples"]["differ"][0]["b"] == {"from": "gpt", "value": "Elsewhere."}


def test_without_the_reference_the_check_says_so(tmp_path: Path) -> None:
    data, tabs = tmp_path / "data", tmp_path / "tables"
    write_component(tabs, data, "clevr", 2)
    recipe = tmp_path / "ours.toml"
    recipe.write_text('name = "ours"\n[[components]]\nsource = "clevr"\n')
    result = _run(Workspace(data_root=str(data), tables_root=str(tabs), cache_root=str(tmp_path / "c"), recipe=str(recipe)))
    assert not result["passed"] and "ingest spatial_llava_850k first" in result["not_compared"]
