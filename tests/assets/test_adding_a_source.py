"""docs/adding_a_source.md, proven: a source registered in one place (the registry) appears in the
Dagster definitions, the CLI's source list and ingest, the mixture's dependencies and the recipe check."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest
from PIL import Image

from assets.cli import main
from assets.graph import build_definitions
from assets.settings import Settings
from pipeline.recipe import RecipeError, check_sources, parse
from pipeline.sources import registry
from pipeline.sources.cauldron import cauldron_config
from pipeline.sources.remote import RemoteFile
from pipeline.sources.zip_images import ZipImageSource

TOY_ZIP = ZipImageSource("toys", (RemoteFile("https://toys.example.org/toys.zip"),), ("toys/",), 2, 5)
TOY_CAULDRON = cauldron_config("toyqa", 3)


@pytest.fixture
def registered(monkeypatch: pytest.MonkeyPatch) -> None:
    """The one edit a new source needs: its registry entry."""
    monkeypatch.setitem(registry.SOURCES, TOY_ZIP.name, TOY_ZIP)
    monkeypatch.setitem(registry.SOURCES, TOY_CAULDRON.name, TOY_CAULDRON)


def _mirror(root: Path) -> Path:
    """The other edit: its sample data, shaped like the upstream (here a zip of 5 JPEGs)."""
    folder = root / "toys.example.org"
    folder.mkdir(parents=True)
    with zipfile.ZipFile(folder / "toys.zip", "w") as zf:
        for i in range(5):
            buf = io.BytesIO()
            Image.new("RGB", (64, 48), (40 * i, 90, 10)).save(buf, "JPEG")
            zf.writestr(f"toys/{i}.jpg", buf.getvalue())
    return root


def test_a_registered_source_is_everywhere(registered, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture) -> None:
    defs = build_definitions(Settings(data_root=str(tmp_path / "data")))
    graph = defs.resolve_asset_graph()
    names = {k.path[-1] for k in graph.get_all_asset_keys()}
    assert {"toys_download", "toys_images", "toyqa_download", "toyqa_conversations"} <= names
    assert graph.get(dg.AssetKey("toys_images")).partitions_def.get_partition_keys() == ["000", "001"]
    assert defs.resolve_job_def("ingest_toys").partitions_def is not None
    mixture_inputs = {k.path[-1] for k in graph.get(dg.AssetKey("mixture")).parent_keys}
    assert "toyqa_conversations" in mixture_inputs and "toys_images" not in mixture_inputs

    with pytest.raises(SystemExit):
        main(["ingest", "--help"])
    assert "toys" in capsys.readouterr().out

    recipe = parse({"name": "r", "components": [{"source": "toyqa"}, {"source": "llava_665k"}]})
    assert check_sources(recipe, registry.component_tables()) is recipe
    with pytest.raises(RecipeError, match="unknown source 'nosuch'"):
        check_sources(parse({"name": "r", "components": [{"source": "nosuch"}]}), registry.component_tables())

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    mirror = _mirror(tmp_path / "mirror")
    assert main(["ingest", "toys", "--mirror", str(mirror), "--data-root", str(tmp_path / "data"),
                 "--workers", "1"]) == 0
    assert len(list((tmp_path / "data" / "toys" / "toys").glob("*.jpg"))) == 5
    rows = sum(pq.read_metadata(m).num_rows for m in (tmp_path / "tables" / "toys" / "images").glob("*.parquet"))
    assert rows == 5


def test_architecture_doc_shows_the_current_asset_graph() -> None:
    from scripts.asset_graph import mermaid

    doc = (Path(__file__).resolve().parents[2] / "docs" / "architecture.md").read_text()
    assert "```mermaid\n" + mermaid() + "\n```" in doc, "regenerate with: python scripts/asset_graph.py"
