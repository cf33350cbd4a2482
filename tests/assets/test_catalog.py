"""Standard metadata on every asset (owners, an area tag, one to three kinds, a code reference linked
to the repository at the checked-out commit), and `metadata()`, the one report-to-metadata converter."""
import subprocess
from pathlib import Path

import dagster as dg
import pytest

from assets.catalog import describe
from assets.graph import build_definitions
from assets.lib import metadata, table_metadata
from assets.settings import PROJECT_ROOT, Settings


def test_every_asset_has_owner_tags_kinds_and_a_linked_code_reference() -> None:
    commit = subprocess.run(["git", "-C", str(PROJECT_ROOT), "rev-parse", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    graph = build_definitions(Settings(repository="git@github.com:example/spatialmix.git")).resolve_asset_graph()
    keys = list(graph.get_all_asset_keys())
    assert len(keys) >= 27
    for key in keys:
        node = graph.get(key)
        assert node.owners and node.owners[0].startswith("team:"), key
        assert node.tags["area"] in {"sources", "mixture", "spatialqa", "training", "evaluation"}, key
        assert 1 <= len(node.kinds) <= 3, key
        [ref] = node.metadata["dagster/code_references"].code_references
        assert ref.url.startswith(f"https://github.com/example/spatialmix/tree/{commit}/assets/"), ref.url
        path, line = ref.url.split(f"/tree/{commit}/")[1].split("#L")
        assert (PROJECT_ROOT / path).is_file() and int(line) > 0


def test_a_repository_that_is_not_on_github_or_gitlab_keeps_local_references(tmp_path: Path) -> None:
    from assets.catalog import with_code_references
    from assets.training import finetune_asset

    for repository in (str(tmp_path), "file:///srv/git/spatialmix.git", "https://example.org/spatialmix"):
        [asset] = with_code_references([finetune_asset()], repository)
        [ref] = asset.specs_by_key[dg.AssetKey("finetune")].metadata["dagster/code_references"].code_references
        assert isinstance(ref, dg.LocalFileCodeReference) and ref.file_path.endswith("assets/training.py")


def test_describe_refuses_more_kinds_than_the_ui_shows() -> None:
    with pytest.raises(ValueError, match="at most 3 kinds"):
        describe("sources", {"a", "b", "c", "d"})


def test_metadata_converts_each_kind_of_value_one_way(tmp_path: Path) -> None:
    out = metadata({"records": 3, "ok": True, "skip": None, "table": tmp_path / "t.parquet",
                    "manifest": [tmp_path / "000.parquet"], "tables": {"train": tmp_path / "a", "test": tmp_path / "b"},
                    "rejections": {"image_missing": 2, "empty_turn": 5}, "pairs_per_category": {"width": 1},
                    "by_split": {"train": {"rows": 3, "records": 2}, "test": {"rows": 1, "records": 1}},
                    "nested": {"a": [1, 2]}, "note": "text"})
    assert out["records"] == 3 and out["ok"] is True and "skip" not in out
    assert isinstance(out["table"], dg.PathMetadataValue) and isinstance(out["manifest"], dg.PathMetadataValue)
    assert {k for k in out if k.startswith("tables")} == {"tables [train]", "tables [test]"}
    rejections = out["rejections"]
    assert isinstance(rejections, dg.TableMetadataValue)
    assert [(r.data["reason"], r.data["count"]) for r in rejections.records] == [("empty_turn", 5), ("image_missing", 2)]
    assert out["pairs_per_category"].records[0].data == {"category": "width", "count": 1}
    assert [r.data for r in out["by_split"].records] == [{"split": "train", "rows": 3, "records": 2},
                                                         {"split": "test", "rows": 1, "records": 1}]
    assert isinstance(out["nested"], dg.JsonMetadataValue) and isinstance(out["note"], dg.TextMetadataValue)


def test_table_metadata_reads_row_count_and_columns_from_parquet(tmp_path: Path) -> None:
    from pipeline import atomic, tables

    rows = [{"source": "s", "source_id": str(i), "reason": "r", "detail": ""} for i in range(4)]
    part = tmp_path / "parts" / "shard-000.parquet"
    atomic.write_table(part, tables.to_table(rows, tables.REJECTIONS))
    atomic.write_table(tmp_path / "parts" / "shard-001.parquet", tables.to_table(rows[:1], tables.REJECTIONS))
    meta = table_metadata([tmp_path / "parts"])
    assert meta["dagster/row_count"] == 5
    assert [(c.name, c.type) for c in meta["dagster/column_schema"].columns] == [
        ("source", "string"), ("source_id", "string"), ("reason", "string"), ("detail", "string")]
    assert table_metadata([tmp_path / "missing.parquet"]) == {}
