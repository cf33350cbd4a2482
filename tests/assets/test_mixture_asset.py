"""The `mixture` Dagster asset: wiring (group, deps, blocking checks) and real materializations: metadata
as tables and paths, graded counts (WARN within the wider band, ERROR beyond), checks executed alone,
and a data version that a no-op re-run keeps."""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from PIL import Image

from assets import mixture as mixture_module
from assets import mixture_checks
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


def materialize(workspace: Workspace, recipe: Path, instance: dg.DagsterInstance | None = None,
                **config: Any) -> dg.ExecuteInProcessResult:
    return dg.materialize([mixture_module.mixture_asset(), *mixture_checks.mixture_checks()],
                          resources={"workspace": workspace}, instance=instance, raise_on_error=False,
                          run_config={"ops": {"mixture": {"config": {"recipe": str(recipe), **config}}}})


def checks(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def test_definitions_wire_group_deps_and_checks() -> None:
    merged = build_definitions(Settings())
    graph = merged.resolve_asset_graph()
    node = graph.get(dg.AssetKey("mixture"))
    assert node.group_name == "mixture"
    assert {k.to_user_string() for k in node.parent_keys} == set(mixture_module.conversation_assets())
    assert {k.name for k in node.check_keys} == {*mixture_checks.MIXTURE_CHECKS, mixture_module.REFERENCE_CHECK}
    for key in node.check_keys:  # separate checks (executable alone); the mixture's own guard finetune
        assert merged.resolve_assets_def(dg.AssetKey("mixture")) is not merged.get_asset_checks_def(key)
        assert graph.get_check_spec(key).blocking == (key.name in mixture_checks.MIXTURE_CHECKS)


def test_counts_are_graded() -> None:
    assert mixture_checks.grade(100, 100, 0.0) == "ok"
    assert mixture_checks.grade(108, 100, 0.1) == "ok"
    assert mixture_checks.grade(115, 100, 0.1) == "warn"   # within twice the tolerance
    assert mixture_checks.grade(125, 100, 0.1) == "error"
    assert mixture_checks.grade(1, 0, 0.5) == "error" and mixture_checks.grade(0, 0, 0.0) == "ok"
    assert mixture_checks.grade(5, None, 0.1) == "n/a"


def test_materialize_reports_metadata_and_passing_checks(workspace: Workspace, tmp_path: Path) -> None:
    result = materialize(workspace, recipe_file(tmp_path, 3))
    assert result.success
    assert checks(result) == dict.fromkeys(mixture_checks.MIXTURE_CHECKS, True)
    [event] = result.get_asset_materialization_events()
    meta = event.materialization.metadata
    assert meta["records"].value == 5
    assert meta["dagster/row_count"].value == 5
    assert [c.name for c in meta["dagster/column_schema"].schema.columns] == [
        "id", "image", "conversations", "source", "source_id"]
    clevr = next(r.data for r in meta["per_component"].records if r.data["component"] == "clevr")
    assert (clevr["records"], clevr["expected"], clevr["within_tolerance"]) == (3, 3, "yes")
    assert isinstance(meta["json_path"], dg.PathMetadataValue)
    assert Path(meta["json_path"].value) == Path(workspace.data_root).parent / "mixtures" / "t" / "t.json"
    assert meta["preview"].value.count("---") == 2  # three records
    assert meta["reused"].value is False
    again = materialize(workspace, recipe_file(tmp_path, 3))
    meta_again = again.get_asset_materialization_events()[0].materialization.metadata
    assert meta_again["reused"].value is True
    version = event.materialization.tags["dagster/data_version"]
    assert again.get_asset_materialization_events()[0].materialization.tags["dagster/data_version"] == version


def test_a_count_within_the_wider_band_warns_beyond_it_errors(workspace: Workspace, tmp_path: Path) -> None:
    recipe = tmp_path / "recipe.toml"
    recipe.write_text('name = "t"\nseed = 3\ntolerance = 0.2\n[[components]]\nsource = "clevr"\nexpected = 4\n'
                      '[[components]]\nsource = "spatialqa"\nexpected = 2\n')
    [counts] = [e for e in materialize(workspace, recipe).get_asset_check_evaluations()
                if e.check_name == mixture_checks.COUNTS_CHECK]
    assert not counts.passed and counts.severity == dg.AssetCheckSeverity.WARN  # 3 vs 4: 25% <= 2 x 20%
    grades = {r.data["component"]: r.data["grade"] for r in counts.metadata["components"].records}
    assert grades == {"clevr": "warn", "spatialqa": "ok"}
    [counts] = [e for e in materialize(workspace, recipe_file(tmp_path, 10)).get_asset_check_evaluations()
                if e.check_name == mixture_checks.COUNTS_CHECK]
    assert not counts.passed and counts.severity == dg.AssetCheckSeverity.ERROR


def test_a_check_executes_alone_on_the_latest_materialization(workspace: Workspace, tmp_path: Path) -> None:
    with dg.instance_for_test() as instance:
        assert materialize(workspace, recipe_file(tmp_path, 3), instance).success
        (Path(workspace.data_root) / "clevr" / "images" / "00000002.jpg").unlink()
        alone = dg.materialize([mixture_module.mixture_asset(), *mixture_checks.mixture_checks()],
                               resources={"workspace": workspace}, instance=instance, raise_on_error=False,
                               selection=dg.AssetSelection.checks(mixture_checks.image_paths_exist))
        assert not alone.get_asset_materialization_events()  # the asset itself did not run
        [evaluation] = alone.get_asset_check_evaluations()
        assert evaluation.check_name == mixture_checks.IMAGES_CHECK and not evaluation.passed
        assert evaluation.metadata["missing"].value == 1


def test_checks_fail_on_wrong_counts_and_missing_images(workspace: Workspace, tmp_path: Path) -> None:
    result = materialize(workspace, recipe_file(tmp_path, 10))
    assert checks(result)[mixture_checks.COUNTS_CHECK] is False
    # an image removed after the build: the reused mixture now points at a missing file
    (Path(workspace.data_root) / "clevr" / "images" / "00000001.jpg").unlink()
    result = materialize(workspace, recipe_file(tmp_path, 10))
    assert checks(result)[mixture_checks.IMAGES_CHECK] is False
    assert checks(result)[mixture_checks.JSON_CHECK] is True
