"""Spatial-LLaVA's published artifacts: the SpatialQA hub source (each plausible shape, and a clear error
for others), the reference 850K with its reconciliation, and `mixture diff`."""
from __future__ import annotations

import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from assets.cli import main as cli
from pipeline.layout import Layout
from pipeline.mixture import build
from pipeline.mixture_diff import diff
from pipeline.recipe import load as load_recipe
from pipeline.sources.base import IngestContext
from pipeline.sources.registry import SOURCES, SPATIALQA_HUB
from pipeline.sources.spatialqa_hub import SpatialQaHubSource
from sample.hub import write_repo
from sample.mirror import sample_source_options
from sample.published import SPATIALQA_CASES

QUIET = lambda _: None  # noqa: E731
PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory, sample_mirror: Path) -> Layout:
    """Every registered source ingested from the sample mirror, with the sample's source options."""
    layout = Layout.at(tmp_path_factory.mktemp("published") / "playground" / "data")
    ctx = IngestContext(layout, str(sample_mirror), 1, QUIET, sample_source_options(sample_mirror))
    for src in SOURCES.values():
        src.download(ctx)
        for key in src.shard_keys or [None]:
            src.ingest(ctx, key)
    return layout


def _rejections(layout: Layout, source: str) -> dict[str, str]:
    rows = pq.read_table(layout.tables(source) / "rejections.parquet").to_pylist()
    return {r["source_id"].split(":", 1)[1]: r["reason"] for r in rows}


def test_spatialqa_hub_json_shape_keeps_its_images_apart(ingested: Layout) -> None:
    table = pq.read_table(ingested.tables("spatialqa_hub") / "conversations.parquet").to_pylist()
    assert sorted(r["id"] for r in table) == ["sqa-0", "sqa-1", "sqa-2", "sqa-3"]
    assert all(r["image"].startswith("spatialqa_hub/images/") for r in table)
    assert not (ingested.data_root / "spatialqa").exists()  # the generator's folder is never written here
    assert _rejections(ingested, "spatialqa_hub") == {k: v.split(": ")[1].split(" ")[0]
                                                      for k, v in SPATIALQA_CASES.items() if v.startswith("rejected")}
    assert json.loads((ingested.cache("spatialqa_hub") / "files.json").read_text())["shape"] == "llava_json"


def _jpeg(i: int) -> bytes:
    buf = io.BytesIO()
    Image.effect_noise((64, 48), 30 + i).convert("RGB").save(buf, "JPEG")
    return buf.getvalue()


def _parquet(columns: dict[str, list]) -> bytes:
    buf = io.BytesIO()
    pq.write_table(pa.table(columns), buf)
    return buf.getvalue()


def _hub_repo(tmp_path: Path, files: dict[str, bytes]) -> str:
    mirror = tmp_path / "mirror"
    write_repo(mirror, SPATIALQA_HUB.repo_id, SPATIALQA_HUB.revision, files, "# test\n")
    return str(mirror)


IMAGE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])


@pytest.mark.parametrize("text", ["conversations", "question"])
def test_spatialqa_hub_parquet_shapes(tmp_path: Path, layout: Layout, text: str) -> None:
    images = pa.array([{"bytes": _jpeg(i), "path": None} for i in range(3)], type=IMAGE)
    if text == "conversations":
        cols = {"image": images, "conversations": [[{"from": "human", "value": f"How far is object {i}?"},
                                                    {"from": "gpt", "value": f"{i} meters."}] for i in range(3)]}
    else:
        cols = {"image": images, "question": [f"How far is object {i}?" for i in range(3)],
                "answer": [f"{i} meters." for i in range(3)]}
    mirror = _hub_repo(tmp_path, {"data/train-00000-of-00001.parquet": _parquet(cols)})
    src = SpatialQaHubSource()
    ctx = IngestContext(layout, mirror, 1, QUIET)
    assert src.download(ctx).details["shape"] == "parquet"
    report = src.ingest(ctx)
    assert (report.rows_read, report.records, report.details["text_column"]) == (3, 3, text)
    rows = pq.read_table(layout.tables("spatialqa_hub") / "conversations.parquet").to_pylist()
    assert rows[1]["conversations"][0]["value"] == "<image>\nHow far is object 1?"
    assert rows[1]["image"].startswith("spatialqa_hub/images/")


def test_spatialqa_hub_unknown_shapes_fail_naming_what_was_found(tmp_path: Path, layout: Layout) -> None:
    cols = {"picture": pa.array([{"bytes": _jpeg(0), "path": None}], type=IMAGE), "caption": ["a room"]}
    ctx = IngestContext(layout, _hub_repo(tmp_path / "a", {"train-00000-of-00001.parquet": _parquet(cols)}), 1, QUIET)
    SpatialQaHubSource().download(ctx)
    with pytest.raises(ValueError, match=r"has columns \['picture', 'caption'\]; expected an image column"):
        SpatialQaHubSource().ingest(ctx)
    ctx = IngestContext(Layout.at(tmp_path / "b" / "data"), _hub_repo(tmp_path / "b", {"notes.txt": b"x"}), 1, QUIET)
    with pytest.raises(ValueError, match=r"holds \['README.md', 'notes.txt'\]: expected Parquet files"):
        SpatialQaHubSource().download(ctx)


def test_reference_is_validated_and_reconciled_per_folder(ingested: Layout) -> None:
    report = json.loads((ingested.tables("spatial_llava_850k") / "conversations.json").read_text())
    rec = report["details"]["reconciliation"]
    assert {f: c for f, c in rec.items() if f in ("coco", "spatialqa", "vqav2", "visualmrc", "openspaces")} == {
        "coco": {"exists": 11, "by_name": 0, "by_content": 0, "missing": 1},        # 000000999999: gone
        "spatialqa": {"exists": 0, "by_name": 4, "by_content": 0, "missing": 2},   # SPATIALQA_CASES
        "vqav2": {"exists": 0, "by_name": 0, "by_content": 5, "missing": 0},       # the seed's bytes = ours
        "visualmrc": {"exists": 0, "by_name": 0, "by_content": 1, "missing": 1},   # a PNG we re-encoded
        "openspaces": {"exists": 0, "by_name": 0, "by_content": 2, "missing": 2},  # RGBA PNG + unpublished
    }
    mapped = {r["image"]: r for r in pq.read_table(ingested.tables("spatial_llava_850k") / "image_map.parquet").to_pylist()}
    sqa = mapped["spatialqa/images/sqa_000001.jpg"]
    assert (sqa["ours"], sqa["how"]) == ("spatialqa_hub/images/sqa_000001.jpg", "by_name")
    textcaps = next(r for i, r in mapped.items() if i.startswith("textcaps/") and r["how"] == "by_content")
    assert textcaps["ours"].startswith("textcaps/images/")  # its bytes are also a TextVQA picture of ours
    reasons = _rejections(ingested, "spatial_llava_850k")
    assert reasons["ref-unpublished-image"] == "image_missing" and reasons["eos-in-answer"] == "llava_masking"
    assert report["details"]["expected_records"] == report["rows_read"] - report["rejections"]["image_missing"]


def test_reference_recipe_builds_the_published_mixture(ingested: Layout) -> None:
    recipe = load_recipe(PROJECT / "recipes" / "reference.toml")
    report = build(recipe, ingested, log=QUIET)
    (component,) = report.manifest["components"]
    source = json.loads((ingested.tables("spatial_llava_850k") / "conversations.json").read_text())
    assert component["expected"] == source["details"]["expected_records"]  # `expected = "source"`, resolved
    assert component["read"] == source["records"] and component["rejected"] == 0
    assert report.manifest["records"] == source["records"] - component["duplicates"]
    images = pq.read_table(report.parquet_path, columns=["image"]).column("image").to_pylist()
    assert all((ingested.data_root / i).is_file() for i in images if i)  # it trains on this data root


def _write(path: Path, records: list[dict]) -> Path:
    path.write_text(json.dumps(records))
    return path


def _rec(image: str | None, q: str, a: str) -> dict:
    rec = {"conversations": [{"from": "human", "value": ("<image>\n" if image else "") + q}, {"from": "gpt", "value": a}]}
    return rec | ({"image": image} if image else {})


def test_mixture_diff_counts_folders_sides_and_conversation_changes(tmp_path: Path, capsys) -> None:
    a = _write(tmp_path / "a.json", [_rec("coco/1.jpg", "What?", "A cat."), _rec("coco/1.jpg", "What?", "A cat."),
                                     _rec("vqav2/images/x.jpg", "How many?", "2"), _rec(None, "Rhyme?", "Hat."),
                                     _rec("spatialqa/images/s.jpg", "How far?", "1 m")])
    b = _write(tmp_path / "b.json", [_rec("coco/1.jpg", "What?", "A cat."), _rec("vqav2/images/x.jpg", "How many?", "3"),
                                     _rec(None, "Rhyme?", "Hat."), _rec("gqa/images/g.jpg", "Where?", "Left.")])
    d = diff(a, b)
    assert (d.records, d.only_a, d.only_b, d.shared, d.differ) == ({"a": 5, "b": 4}, 2, 1, 3, 1)
    assert d.by_folder["coco"] == {"a": 2, "b": 1, "only_a": 1, "only_b": 0, "differ": 0}  # repeats pair in order
    assert d.examples["differ"] == [{"image": "vqav2/images/x.jpg", "turn": 1, "a": {"from": "gpt", "value": "2"},
                                     "b": {"from": "gpt", "value": "3"}}]
    assert d.folders_off(0.5) == {"coco": d.by_folder["coco"]}
    assert cli(["mixture", "diff", str(a), str(b), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["only_b"] == 1
