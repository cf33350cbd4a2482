"""Recipe files: the shipped ones parse, and mistakes are refused with a message naming the key."""
from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.recipe import RecipeError, load, parse, resolve_expected, seed_deviation

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


def test_spatial_llava_recipe_reproduces_the_published_mixture() -> None:
    r = load(RECIPES / "spatial_llava.toml")
    assert r.name == "spatial_llava" and len(r.sha256) == 64
    assert [c.source for c in r.components] == ["llava_665k", "visualmrc", "textcaps", "clevr", "vqav2",
                                                "openspaces", "spatialqa"]
    assert r.component("openspaces").table == "conversations-train.parquet"
    assert r.overlap.policy == "keep" and set(r.overlap.sources) == {"vqav2", "textcaps"}
    # the seed's stated composition, and which components count towards each part
    assert r.composition == {"llava_665k": 665_298, "academic": 171_000, "spatial": 14_000}
    groups = {g: [c.source for c in r.components if c.seed_group == g] for g in r.composition}
    assert groups == {"llava_665k": ["llava_665k"], "academic": ["visualmrc", "textcaps", "clevr", "vqav2", "openspaces"],
                      "spatial": ["spatialqa"]}
    assert r.component("llava_665k").expected_from_source and r.component("llava_665k").expected is None
    assert sum(c.expected for c in r.components if c.seed_group == "academic") == 187_007  # 16K over "around 171K"
    assert r.tolerance_of(r.component("llava_665k")) == 0.01
    assert r.tolerance_of(r.component("clevr")) == 0.03


def test_sample_recipe_has_the_same_components_plus_the_published_spatialqa() -> None:
    sample, full = load(RECIPES / "sample.toml"), load(RECIPES / "spatial_llava.toml")
    assert [(c.source, c.table) for c in sample.components if c.source != "spatialqa_hub"] == \
        [(c.source, c.table) for c in full.components]
    assert sample.component("spatialqa_hub").expected == 4
    assert sample.overlap == full.overlap


def test_expected_from_the_source_report(tmp_path: Path) -> None:
    r = load(RECIPES / "reference.toml")
    with pytest.raises(RecipeError, match="ingest spatial_llava_850k first"):
        resolve_expected(r, tmp_path)
    (tmp_path / "spatial_llava_850k").mkdir()
    (tmp_path / "spatial_llava_850k" / "conversations.json").write_text('{"details": {"expected_records": 849000}}')
    assert resolve_expected(r, tmp_path).component("spatial_llava_850k").expected == 849_000


def test_seed_deviation_per_group() -> None:
    r = parse({"name": "x", "seed_composition": {"academic": 100, "spatial": 14},
               "components": [{"source": "a", "expected": 60, "seed_group": "academic"},
                              {"source": "b", "expected": 50, "seed_group": "academic"},
                              {"source": "c", "expected": 5, "seed_group": "spatial"}]})
    assert seed_deviation(r, {"a": 58, "b": 50, "c": 4}) == {
        "academic": {"seed": 100, "expected": 110, "records": 108, "expected_minus_seed": 10, "records_minus_seed": 8},
        "spatial": {"seed": 14, "expected": 5, "records": 4, "expected_minus_seed": -9, "records_minus_seed": -10}}


BASE = {"name": "x", "components": [{"source": "clevr"}]}


@pytest.mark.parametrize(("change", "message"), [
    ({"components": []}, "at least one"),
    ({"components": [{"source": "a"}, {"source": "a"}]}, "unique"),
    ({"components": [{"source": "a", "expected": "10"}]}, "expected"),
    ({"components": [{"source": "a", "expected": True}]}, "expected"),
    ({"components": [{"source": "a", "fraction": 1.5}]}, "fraction"),
    ({"components": [{"source": "a", "table": "../b.parquet"}]}, "inside the source folder"),
    ({"components": [{"source": "a", "sampels": 3}]}, "unknown keys"),
    ({"overlap": {"policy": "merge"}}, "policy"),
    ({"overlap": {"sources": ["vqav2"]}}, "not a component"),
    ({"duplicates": "sometimes"}, "policy"),
    ({"name": "../escape"}, "plain file name"),
    ({"colour": 1}, "unknown keys"),
    ({"components": [{"source": "a", "seed_group": "academic"}]}, "not in \\[seed_composition\\]"),
    ({"seed_composition": {"academic": "171K"}}, "map group names to counts"),
])
def test_bad_recipes_are_refused(change: dict, message: str) -> None:
    with pytest.raises(RecipeError, match=message):
        parse({**BASE, **change})


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("name = \n")
    with pytest.raises(RecipeError, match="broken.toml"):
        load(path)
