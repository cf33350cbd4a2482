"""The `mixture` Dagster asset: wiring (group, deps, checks) and a real materialization."""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from PIL import Image

from assets import mixture as mixture_module
from assets.graph import build_definitions
from assets.resources import Workspace
from assets.settings import Settings
from pipeline import atomic, tables


def write_component(tables_root: Path, data_root: Path, source: str, n: int) -> None:
    rows = []
    for i in range(n):
        rel = f"{source}/images/{i:08d}.jpg"
        buf = io.BytesIO()
        Image.new("RGB", (8, 8), (i, 0, 0)).save(buf, "JPEG")
        atomic.write_bytes(data_root / rel, buf.getvalue())
        rows.append({"id": f"{source}-{i}", "image": rel, "source": source, "source_id": str(i),
                     "conversations": [{"from": "human", "value": "<image>\nWhere is the cup?"},
                                       {"from": "gpt", "value": f"On shelf {i}."}]})
    atomic.write_table(tables_root / source / "conversations.parquet", tables.to_table(rows, tables.CONVERSATIONS))


@pytest.fixture()
def workspace(tmp_path: Path) -> Workspace:
    data, tabs = tmp_path / "data", tmp_path / "tables"
    write_component(tabs, data, "clevr", 3)
    write_component(tabs, data, "spatialqa", 2)
    return Workspace(data_root=str(data), tables_root=str(tabs), cache_root=str(tmp_path / "cache"))


def recipe_file(tmp_path: Path, clevr_expected: int) -> Path:
    path = tmp_path / "recipe.toml"
    path.write_text(f'name = "t"\nseed = 3\n[[components]]\nsource = "clevr"\nexpected = {clevr_expected}\n'
                    '[[components]]\nsource = "spatialqa"\n')
    return path


def materialize(workspace: Workspace, recipe: Path, **config: Any) -> dg.ExecuteInProcessResult:
    return dg.materialize([mixture_module.mixture_asset()], resources={"workspace": workspace},
                          run_config={"ops": {"mixture": {"config": {"recipe": str(recipe), **config}}}})


def checks(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def test_definitions_wire_group_deps_and_checks() -> None:
    merged = build_definitions(Settings())
    graph = merged.resolve_asset_graph()
    node = graph.get(dg.AssetKey("mixture"))
    assert node.group_name == "mixture"
    assert {k.to_user_string() for k in node.parent_keys} == set(mixture_module.conversation_assets())
    assert {k.name for k in node.check_keys} == {mixture_module.COUNTS_CHECK, mixture_module.IMAGES_CHECK,
                                                 mixture_module.JSON_CHECK, mixture_module.REFERENCE_CHECK}


def test_materialize_reports_metadata_and_passing_checks(workspace: Workspace, tmp_path: Path) -> None:
    result = materialize(workspace, recipe_file(tmp_path, 3))
    assert result.success
    assert checks(result) == {mixture_module.COUNTS_CHECK: True, mixture_module.IMAGES_CHECK: True,
                              mixture_module.JSON_CHECK: True}
    [event] = result.get_asset_materialization_events()
    meta = event.materialization.metadata
    assert meta["records"].value == 5
    assert "| clevr | 3 | 0 | 0 | 0 | 0 | 3 | 3 ± 0% | yes |" in meta["per_source"].value
    assert Path(meta["json_path"].value) == Path(workspace.data_root).parent / "mixtures" / "t" / "t.json"
    assert meta["preview"].value.count("---") == 2  # three records
    assert meta["reused"].value is False
    again = materialize(workspace, recipe_file(tmp_path, 3))
    assert again.get_asset_materialization_events()[0].materialization.metadata["reused"].value is True


def test_checks_fail_on_wrong_counts_and_missing_images(workspace: Workspace, tmp_path: Path) -> None:
    result = materialize(workspace, recipe_file(tmp_path, 10))
    assert checks(result)[mixture_module.COUNTS_CHECK] is False
    # an image removed after the build: the reused mixture now points at a missing file
    (Path(workspace.data_root) / "clevr" / "images" / "00000001.jpg").unlink()
    result = materialize(workspace, recipe_file(tmp_path, 10))
    assert checks(result)[mixture_module.IMAGES_CHECK] is False
    assert checks(result)[mixture_module.JSON_CHECK] is True
