"""Hub-hosted sources on the sample mirror: readers, each rejection reason, idempotent re-runs, stable names."""
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipeline.layout import Layout
from sample.server import MirrorServer
from pipeline.records import Rejection
from sample.hub import HUB_BAD_INPUTS
from pipeline.sources import hub_ingest, hub_parquet
from pipeline.sources.cauldron import cauldron_turns
from pipeline.sources.registry import SOURCES
from pipeline.sources.openspaces import openspaces_turns
from pipeline.checks import check_conversations, check_manifest_images
from pipeline.sources.base import IngestReport
from pipeline.sources.hub_source import HubDataset

HUB_SOURCES = {name: s for name, s in SOURCES.items() if isinstance(s, HubDataset)}  # the Parquet ones
SAMPLE_ROWS = {"visualmrc": {"train": 3}, "textcaps": {"train": 3}, "clevr": {"train": 3},
               "vqav2": {"train": 7}, "openspaces": {"train": 6, "test": 3}}


def _ingest(name: str, layout: Layout, mirror: Path, workers: int = 1) -> IngestReport:
    hub_parquet.download(HUB_SOURCES[name], layout, str(mirror), log=lambda m: None)
    return hub_ingest.ingest(HUB_SOURCES[name], layout, workers, log=lambda m: None)


def _outcomes(name: str, layout: Layout) -> dict[str, str]:
    """HUB_BAD_INPUTS keys of this source -> upstream source_id (`<repo path>:<row>`)."""
    lock = hub_parquet.read_lock(HUB_SOURCES[name], layout)
    out = {}
    for key, outcome in HUB_BAD_INPUTS.items():
        source, split, file_no, row = key.split(":")
        if source == name:
            out[f"{lock.files[split][int(file_no)]}:{row}"] = outcome
    return out


def _snapshot(layout: Layout, name: str) -> dict[str, bytes]:
    """Every output file of a source (images and tables), by path relative to its roots."""
    files = {}
    for label, root in (("data", layout.data_root / name), ("tables", layout.tables(name))):
        for p in sorted(root.rglob("*")):
            if p.is_file():
                files[f"{label}/{p.relative_to(root).as_posix()}"] = p.read_bytes()
    return files


def test_sample_is_hub_shaped(sample_mirror: Path, tmp_path: Path) -> None:
    """`datasets` reads the sample folders the way it reads the hub repos (README configs, features)."""
    import datasets

    repo = sample_mirror / "huggingface.co" / "datasets"
    vqav2 = datasets.load_dataset(str(repo / "HuggingFaceM4" / "the_cauldron"), "vqav2", cache_dir=str(tmp_path))
    assert vqav2["train"].num_rows == 7
    assert isinstance(vqav2["train"].features["images"].feature, datasets.Image)
    spaces = datasets.load_dataset(str(repo / "remyxai" / "OpenSpaces"), cache_dir=str(tmp_path))
    assert {s: spaces[s].num_rows for s in spaces} == SAMPLE_ROWS["openspaces"]
    names = sorted(p.relative_to(repo).as_posix() for p in repo.rglob("*.parquet"))
    assert "remyxai/OpenSpaces/data/test-00000-of-00001.parquet" in names
    assert any(n.startswith("HuggingFaceM4/the_cauldron/vqav2/train-00001-of-00002-") for n in names)


def test_stream_reads_every_row_in_order_across_row_groups(sample_mirror: Path, layout: Layout) -> None:
    hub_parquet.download(HUB_SOURCES["vqav2"], layout, str(sample_mirror), log=lambda m: None)
    path = hub_parquet.read_lock(HUB_SOURCES["vqav2"], layout).local(layout, "vqav2", "train")[0]
    assert pq.ParquetFile(path).metadata.num_row_groups > 1
    streamed = [r for batch in hub_parquet.iter_batches(path, ["texts"], 3) for r in batch]
    assert streamed == pq.read_table(path, columns=["texts"]).to_pylist()
    with pytest.raises(ValueError, match="no column"):
        next(hub_parquet.iter_batches(path, ["messages"], 3))


def test_cauldron_turns() -> None:
    row = {"texts": [{"user": "Q1?\nGive a very brief answer.", "assistant": "A1", "source": "vqav2"},
                     {"user": "Q2?", "assistant": " A2 ", "source": "vqav2"}]}
    assert cauldron_turns(row) == [
        {"from": "human", "value": "<image>\nQ1?\nGive a very brief answer."}, {"from": "gpt", "value": "A1"},
        {"from": "human", "value": "Q2?"}, {"from": "gpt", "value": "A2"}]
    assert cauldron_turns({"texts": None}) == Rejection("no_messages", "texts is null or empty")
    assert cauldron_turns({"texts": [{"user": " ", "assistant": "A", "source": "x"}]}).reason == "empty_turn"


def test_openspaces_turns() -> None:
    image = {"index": 0, "text": None, "type": "image"}

    def text(t: str) -> dict:
        return {"index": None, "text": t, "type": "text"}

    row = {"messages": [{"role": "user", "content": [image, text("How far?")]},
                        {"role": "assistant", "content": [text("2 m.")]},
                        {"role": "user", "content": [text("Which is taller?")]},
                        {"role": "assistant", "content": [text("The lamp.")]}]}
    assert [t["value"] for t in openspaces_turns(row)] == ["<image>\nHow far?", "2 m.", "Which is taller?", "The lamp."]
    assert openspaces_turns({"messages": None}).reason == "no_messages"
    later = {"messages": [row["messages"][2], row["messages"][1], row["messages"][0], row["messages"][3]]}
    assert openspaces_turns(later).reason == "image_token"
    two = {"messages": [{"role": "user", "content": [image, image, text("Same?")]}, row["messages"][1]]}
    assert openspaces_turns(two).reason == "several_images"
    system = {"messages": [{"role": "system", "content": [text("Be brief.")]}] + row["messages"]}
    assert openspaces_turns(system).reason == "bad_turn"


@pytest.mark.parametrize("name", sorted(HUB_SOURCES))
def test_ingest_source_on_sample(name: str, sample_mirror: Path, layout: Layout) -> None:
    report = _ingest(name, layout, sample_mirror)
    ds = HUB_SOURCES[name]
    assert {split: n["rows"] for split, n in report.details["by_split"].items()} == SAMPLE_ROWS[name]
    expected = _outcomes(name, layout)
    rejected = {r["source_id"]: r["reason"] for split in ds.splits
                for r in pq.read_table(hub_ingest.rejections_path(ds, layout, split)).to_pylist()}
    assert rejected == {sid: o.split(": ")[1].split(" ")[0] for sid, o in expected.items() if o.startswith("rejected")}
    assert sum(report.rejections.values()) == len(rejected)
    assert report.records + len(rejected) == report.rows_read == sum(SAMPLE_ROWS[name].values())
    manifest = {r["original"]: r for m in report.manifests for r in pq.read_table(m).to_pylist()}
    for sid, outcome in expected.items():
        if outcome.startswith("reencoded"):
            assert manifest[sid]["action"] == "reencoded"
        if "image_undecodable" in outcome:
            assert manifest[sid]["action"] == "quarantined"
    for table in report.tables.values():
        rows, violations = check_conversations(layout.data_root, table)
        assert rows > 0 and violations == {}
        for rec in pq.read_table(table).to_pylist():
            assert rec["conversations"][0]["value"].startswith("<image>\n")
            assert rec["image"] == f"{name}/images/{rec['id'].removeprefix(name + '-')}.jpg"
            assert rec["source_id"] in manifest and manifest[rec["source_id"]]["path"] == rec["image"]
    for m in report.manifests:
        checked, problems = check_manifest_images(layout.data_root, m, workers=1)
        assert problems == []


def test_openspaces_splits_kept_apart(sample_mirror: Path, layout: Layout) -> None:
    report = _ingest("openspaces", layout, sample_mirror)
    train = pq.read_table(layout.tables("openspaces") / "conversations-train.parquet").to_pylist()
    test = pq.read_table(layout.tables("openspaces") / "conversations-test.parquet").to_pylist()
    assert report.tables == {"train": layout.tables("openspaces") / "conversations-train.parquet",
                                    "test": layout.tables("openspaces") / "conversations-test.parquet"}
    assert len(train) == 3 and len(test) == 2
    assert all(r["source_id"].startswith("data/train-") and "-train-" in r["id"] for r in train)
    assert all(r["source_id"].startswith("data/test-") and "-test-" in r["id"] for r in test)
    assert max(len(r["conversations"]) for r in train) == 6  # the long multi-turn row stays whole


def test_rerun_is_idempotent_and_names_stable(sample_mirror: Path, tmp_path: Path) -> None:
    first = Layout.at(tmp_path / "a" / "data")
    report = _ingest("vqav2", first, sample_mirror)
    before = _snapshot(first, "vqav2")
    again = hub_ingest.ingest(HUB_SOURCES["vqav2"], first, 1, log=lambda m: None)
    assert again.reused and again.details["reused_shards"] == again.details["shards"] == report.details["shards"] == 2
    assert _snapshot(first, "vqav2") == before

    # A shard killed before its marker was written is redone, to the same output.
    report.manifests[1].with_suffix(".json").unlink()
    redo = hub_ingest.ingest(HUB_SOURCES["vqav2"], first, 1, log=lambda m: None)
    assert redo.details["reused_shards"] == 1 and not redo.reused
    marker = "tables/images/train-00001.json"  # it records timings: everything else must be the same
    assert {k: v for k, v in _snapshot(first, "vqav2").items() if k != marker} == \
        {k: v for k, v in before.items() if k != marker}

    # A fresh install at the same revision, with a process pool, names and writes the same files.
    second = Layout.at(tmp_path / "b" / "data")
    _ingest("vqav2", second, sample_mirror, workers=2)
    assert _snapshot(second, "vqav2").keys() == before.keys()
    images = sorted(k for k in before if k.startswith("data/"))
    assert images == [f"data/images/train-0000{f}-00000{r}.jpg" for f, r in
                      [(0, 0), (0, 1), (0, 3), (1, 1), (1, 2)]]
    assert all(_snapshot(second, "vqav2")[k] == before[k] for k in images)


def test_http_mirror_lists_through_the_tree_api(sample_mirror: Path, tmp_path: Path) -> None:
    by_folder = Layout.at(tmp_path / "folder" / "data")
    by_http = Layout.at(tmp_path / "http" / "data")
    lock_folder, _ = hub_parquet.download(HUB_SOURCES["openspaces"], by_folder, str(sample_mirror), log=lambda m: None)
    with MirrorServer(sample_mirror) as server:
        lock_http, results = hub_parquet.download(HUB_SOURCES["openspaces"], by_http, server.url, log=lambda m: None)
        assert server.requests == 1 + 3  # one listing for `data/`, one GET per parquet file
    assert lock_http == lock_folder
    assert lock_http.files == {"train": ["data/train-00000-of-00002.parquet", "data/train-00001-of-00002.parquet"],
                               "test": ["data/test-00000-of-00001.parquet"]}
    assert [r.path.read_bytes() for r in results] == [p.read_bytes() for s in ("train", "test")
                                                       for p in lock_folder.local(by_folder, "openspaces", s)]
    assert json.loads(HUB_SOURCES["openspaces"].lock_path(by_http).read_text())["origin"] == "mirror"


def test_missing_split_is_a_clear_error(sample_mirror: Path, layout: Layout) -> None:
    from dataclasses import replace

    broken = replace(HUB_SOURCES["openspaces"], splits={"train": "data/train-*", "validation": "data/validation-*"})
    with pytest.raises(FileNotFoundError, match="validation"):
        hub_parquet.download(broken, layout, str(sample_mirror), log=lambda m: None)
