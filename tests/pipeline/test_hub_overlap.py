"""The cauldron/665K overlap report on the sample, and the hub source assets through Dagster."""
import zipfile
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq

from assets.resources import Workspace
from assets.sources import source_assets
from pipeline.layout import Layout
from pipeline.overlap import question_key
from sample.hub import OVERLAP_TEXTVQA_INDEX
from sample.media import mirror_file
from pipeline.sources import llava_665k
from pipeline.sources.base import IngestContext
from pipeline.sources.registry import COCO, SOURCES, TEXTVQA


def _materialize(workspace: Workspace, selection: list[str]) -> dg.ExecuteInProcessResult:
    res = dg.materialize(source_assets(), resources={"workspace": workspace}, selection=selection)
    assert res.success
    return res


def _metadata(res: dg.ExecuteInProcessResult, key: str) -> dict:
    (event,) = [e for e in res.get_asset_materialization_events() if e.asset_key.path[-1] == key]
    return {k: getattr(v, "value", v) for k, v in event.materialization.metadata.items()}


def test_question_key() -> None:
    assert question_key("<image>\nWhat is shown in this picture?\nAnswer the question using a single word or phrase.") \
        == question_key("What is shown in this picture?\nGive a very brief answer.") \
        == "what is shown in this picture"
    assert question_key("What is in the image?\n<image>") == "what is in the image"
    assert question_key("<image>\n") == ""


def test_hub_assets_materialize_with_checks(dagster_home: Path, sample_mirror: Path, layout: Layout) -> None:
    workspace = Workspace(data_root=str(layout.data_root), mirror=str(sample_mirror), workers=1)
    res = _materialize(workspace, ["openspaces_download", "openspaces_conversations"])
    meta = _metadata(res, "openspaces_conversations")
    assert (meta["rows_read"], meta["records_written"], meta["rejected"]) == (9, 5, 4)
    for reason in ("no_messages", "image_token", "image_undecodable", "empty_turn"):
        assert f"| {reason} | 1 |" in meta["rejections"]
    assert meta["preview"].count("openspaces/images/") == 3 and meta["preview"].count("<image> How far") == 1
    checks = {c.check_name: c.passed for c in res.get_asset_check_evaluations()}
    assert checks == {"records_valid": True, "images_decode": True, "rows_accounted": True}
    assert _metadata(res, "openspaces_download")["revision"] == SOURCES["openspaces"].revision

    # A written record whose image vanished fails the records_valid check on the next run.
    (layout.data_root / "openspaces/images/train-00000-000000.jpg").unlink()
    res = dg.materialize(source_assets(), resources={"workspace": workspace},
                         selection=["openspaces_conversations"], raise_on_error=False)
    checks = {c.check_name: c.passed for c in res.get_asset_check_evaluations()}
    assert checks["records_valid"] is False and checks["images_decode"] is False


def test_overlap_with_665k(dagster_home: Path, sample_mirror: Path, layout: Layout) -> None:
    mirror = str(sample_mirror)
    ctx = IngestContext(layout, mirror, 1, lambda m: None)
    for src in (COCO, TEXTVQA):  # the 665K's images that the cauldron subsets can share
        src.download(ctx)
        for shard in src.shard_keys:
            src.ingest(ctx, shard)
    SOURCES["llava_665k"].download(ctx)
    llava_665k.build_conversations(layout, (COCO, TEXTVQA), log=lambda m: None)
    workspace = Workspace(data_root=str(layout.data_root), mirror=mirror, workers=1)
    _materialize(workspace, ["vqav2_download", "vqav2_conversations", "textcaps_download", "textcaps_conversations"])

    meta = _metadata(_materialize(workspace, ["cauldron_overlap"]), "cauldron_overlap")
    # sample.hub.HUB_OVERLAPS: vqav2 rows 0 (same image and question) and 1 (same image; its COCO
    # picture sits in two 665K records), textcaps row 0 (same TextVQA image, other question).
    assert (meta["vqav2_same_image"], meta["vqav2_same_image_and_question"]) == (2, 1)
    assert (meta["textcaps_same_image"], meta["textcaps_same_image_and_question"]) == (1, 0)
    rows = pq.read_table(layout.tables("overlap") / "cauldron_vs_665k.parquet").to_pylist()
    textvqa_id = Path(_textvqa_member(sample_mirror)).stem
    assert sorted((r["source"], r["id"], r["llava_665k_id"], r["same_question"]) for r in rows) == [
        ("textcaps", "textcaps-train-00000-000000", textvqa_id, False),
        ("vqav2", "vqav2-train-00000-000000", "000000000036", True),
        ("vqav2", "vqav2-train-00000-000001", "000000000042", False),
        ("vqav2", "vqav2-train-00000-000001", "000000000042#2", False),
    ]


def _textvqa_member(mirror: Path) -> str:
    """The TextVQA sample member the textcaps sample reuses (see sample.hub.OVERLAP_TEXTVQA_INDEX)."""
    with zipfile.ZipFile(mirror_file(mirror, TEXTVQA.archives[0].url)) as zf:
        return zf.namelist()[OVERLAP_TEXTVQA_INDEX]
