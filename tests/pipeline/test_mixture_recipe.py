"""Recipe files: the shipped ones parse, and mistakes are refused with a message naming the key."""
from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.recipe import RecipeError, load, parse

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


def test_spatial_llava_recipe_reproduces_the_published_mixture() -> None:
    r = load(RECIPES / "spatial_llava.toml")
    assert r.name == "spatial_llava" and len(r.sha256) == 64
    assert [c.source for c in r.components] == ["llava_665k", "visualmrc", "textcaps", "clevr", "vqav2",
                                                "openspaces", "spatialqa"]
    assert r.component("openspaces").table == "conversations-train.parquet"
    assert r.overlap.policy == "keep" and set(r.overlap.sources) == {"vqav2", "textcaps"}
    total = sum(c.expected or 0 for c in r.components)
    assert 840_000 <= total <= 870_000  # "~850K conversations"
    assert r.tolerance_of(r.component("llava_665k")) == 0.01
    assert r.tolerance_of(r.component("clevr")) == 0.03


def test_sample_recipe_has_the_same_components() -> None:
    sample, full = load(RECIPES / "sample.toml"), load(RECIPES / "spatial_llava.toml")
    assert [(c.source, c.table) for c in sample.components] == [(c.source, c.table) for c in full.components]
    assert sample.overlap == full.overlap


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
])
def test_bad_recipes_are_refused(change: dict, message: str) -> None:
    with pytest.raises(RecipeError, match=message):
        parse({**BASE, **change})


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("name = \n")
    with pytest.raises(RecipeError, match="broken.toml"):
        load(path)
