"""Scene pool on disk, shard outputs (contract, facts, idempotence, audit) and the Dagster asset."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import dagster as dg
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from pipeline.layout import Layout
from pipeline.records import check_record, exists_under
from spatialqa_gen.check import check_shard
from spatialqa_gen.definitions import QUALITATIVE
from spatialqa_gen.generate import (GenerateConfig, coco_tasks, generate_shard, part_paths, plan, run_shard,
                                    scene_pool_tasks, shard_step)
from spatialqa_gen.perception import ExactPerception, PerceptionSpec
from spatialqa_gen.scene_pool import SCENES, read_scene_pool, scene_pool_index, write_scene_pool

EXACT = PerceptionSpec(exact=True)


def _run(pool: Path, tasks: list, layout: Layout, key: str, config: GenerateConfig):
    step = shard_step(layout, key, tasks, config, EXACT, [scene_pool_index(pool)])
    return run_shard(tasks, ExactPerception, layout, step, config)


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("pool")
    write_scene_pool(folder, 8, seed=70)
    return folder


def test_scene_pool_layout_and_contents(pool: Path) -> None:
    table = pq.read_table(pool / "scenes.parquet")
    assert table.schema.equals(SCENES) and table.num_rows == 8
    mtime = (pool / "scenes.parquet").stat().st_mtime_ns
    write_scene_pool(pool, 8, seed=70)  # complete pool: left alone
    assert (pool / "scenes.parquet").stat().st_mtime_ns == mtime
    for scene in read_scene_pool(pool):
        with Image.open(scene.image_path) as im:
            assert im.format == "JPEG" and im.size == (scene.row["width"], scene.row["height"])
        p = scene.perception(scene.regions())
        assert p.depth.dtype == np.float32 and p.masks.shape[0] == len(scene.row["regions"])
        for region, mask in zip(scene.regions(), p.masks):
            ys, xs = np.nonzero(mask)
            assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == tuple(region.box)
            assert (p.depth[mask] > 0).all()


def test_shards_are_valid_auditable_and_idempotent(pool: Path, tmp_path: Path) -> None:
    layout = Layout.at(tmp_path / "data", tmp_path / "tables", tmp_path / "cache")
    config = GenerateConfig(target_pairs=24, pairs_per_image=4, num_shards=3)
    shards = plan(scene_pool_tasks(pool), config)
    assert sum(len(v) for v in shards.values()) == 7  # ceil(24 / 4 * 1.15 headroom) of the 8 scenes
    assert plan(scene_pool_tasks(pool), config) == shards  # deterministic
    total, records_written = 0, 0
    for key, tasks in shards.items():
        report = _run(pool, tasks, layout, key, config)
        conv, facts = part_paths(layout, key)
        audit = check_shard(conv, facts, layout.data_root)
        assert audit.ok and audit.turns == report.pairs and audit.records == report.records
        assert report.records + sum(report.rejections.values()) == len(tasks)  # every image written or counted
        total += report.pairs
        records_written += report.records
        again = _run(pool, tasks, layout, key, config)
        assert again.skipped and again.pairs == report.pairs and again.per_category == report.per_category
        assert again.rejections == report.rejections  # skips by reason survive a re-run
    assert total >= 24  # the headroom covers images skipped or giving fewer turns
    records = pq.read_table(layout.tables("spatialqa") / "conversations.parquet").to_pylist()
    exists = exists_under(layout.data_root)
    assert len({r["id"] for r in records}) == len(records) == records_written
    for r in records:
        assert check_record(r["image"], r["conversations"], exists) is None
        assert r["image"].startswith("spatialqa/images/") and r["conversations"][0]["value"].startswith("<image>\n")
    facts = pq.read_table(layout.tables("spatialqa") / "facts.parquet").to_pylist()
    assert len(facts) == total
    assert {f["frame"] for f in facts} == {"ransac"} and {f["definitions"] for f in facts} == {"geometric"}
    for f in facts:
        assert f["said"] is not None and f["order"] in (-1, 0, 1)
        assert 0.0 <= f["occluded_a"] <= 1.0 and 0.0 <= f["truncated_a"] <= 1.0
        assert (f["occluded_b"] is None) == (f["category"] in ("width", "height"))


def test_untrusted_frames_are_skipped_and_counted(pool: Path, tmp_path: Path) -> None:
    """No floor can be verified when the frame may not pitch down at all: every image is skipped."""
    from spatialqa_gen.analysis import AnalysisConfig
    from spatialqa_gen.frame import FrameConfig

    layout = Layout.at(tmp_path / "data", tmp_path / "tables", tmp_path / "cache")
    strict = AnalysisConfig(frame=FrameConfig(min_pitch_deg=89.0, max_pitch_deg=90.0))
    config = GenerateConfig(target_pairs=8, pairs_per_image=4, num_shards=1, analysis=strict)
    tasks = plan(scene_pool_tasks(pool), config)["000"]
    report = _run(pool, tasks, layout, "000", config)
    assert report.records == 0 and report.rejections["untrusted_frame"] == len(tasks) == report.frame_fallbacks
    again = _run(pool, tasks, layout, "000", config)
    assert again.skipped and again.rejections == report.rejections  # skips by reason survive a re-run


def test_shard_is_redone_when_its_plan_config_or_pool_change(pool: Path, tmp_path: Path) -> None:
    """The step contract: same inputs -> reused; another seed (a new plan), another config or a changed
    pool -> regenerated, never the stale shard."""
    layout = Layout.at(tmp_path / "data", tmp_path / "tables", tmp_path / "cache")
    config = GenerateConfig(target_pairs=8, pairs_per_image=4, num_shards=1)
    first = generate_shard(layout, "000", EXACT, config, scene_pool=pool)
    assert not first.skipped and generate_shard(layout, "000", EXACT, config, scene_pool=pool).skipped
    assert not generate_shard(layout, "000", EXACT, replace(config, seed=1), scene_pool=pool).skipped
    fewer = generate_shard(layout, "000", EXACT, replace(config, pairs_per_image=2), scene_pool=pool)
    assert not fewer.skipped and fewer.pairs <= 2 * fewer.records
    other = tmp_path / "other_pool"
    write_scene_pool(other, 8, seed=71)
    changed = generate_shard(layout, "000", EXACT, replace(config, pairs_per_image=2), scene_pool=other)
    assert not changed.skipped


def test_audit_catches_an_answer_that_does_not_match_its_fact(pool: Path, tmp_path: Path) -> None:
    layout = Layout.at(tmp_path / "data", tmp_path / "tables", tmp_path / "cache")
    config = GenerateConfig(target_pairs=8, pairs_per_image=4, num_shards=1)
    _run(pool, plan(scene_pool_tasks(pool), config)["000"], layout, "000", config)
    conv, facts = part_paths(layout, "000")
    original = pq.read_table(facts)
    for corrupt in ("said", "order"):
        rows = original.to_pylist()
        i = next(i for i, r in enumerate(rows) if r["category"] != "direction")
        if corrupt == "said":
            rows[i]["said"] = -rows[i]["said"] if rows[i]["category"] in QUALITATIVE else rows[i]["said"] * 1.5
        else:
            rows[i]["order"] = 1 - rows[i]["order"]  # claims an order the answer does not state, or drops it
        pq.write_table(pa.Table.from_pylist(rows, schema=original.schema), facts)
        audit = check_shard(conv, facts, layout.data_root)
        assert not audit.ok and len(audit.mismatches) == 1, (corrupt, audit.mismatches)


def test_coco_instances_table_to_named_regions(pool: Path, tmp_path: Path) -> None:
    rows = [
        {"image": "coco/train2017/1.jpg", "width": 640, "height": 480, "category": "chair",
         "bbox": [10.0, 10.0, 100.0, 200.0], "iscrowd": False},
        {"image": "coco/train2017/1.jpg", "width": 640, "height": 480, "category": "chair",
         "bbox": [300.0, 10.0, 100.0, 200.0], "iscrowd": False},
        {"image": "coco/train2017/1.jpg", "width": 640, "height": 480, "category": "person",
         "bbox": [0.0, 0.0, 600.0, 400.0], "iscrowd": True},   # crowd: skipped
        {"image": "coco/train2017/1.jpg", "width": 640, "height": 480, "category": "spoon",
         "bbox": [0.0, 0.0, 5.0, 5.0], "iscrowd": False},      # too small: skipped
        {"image": "coco/train2017/1.jpg", "width": 640, "height": 480, "category": "dining table",
         "bbox": [100.0, 250.0, 400.0, 200.0], "iscrowd": False},
    ]
    schema = pa.schema([("image", pa.string()), ("width", pa.int32()), ("height", pa.int32()),
                        ("category", pa.string()), ("bbox", pa.list_(pa.float64())), ("iscrowd", pa.bool_())])
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), tmp_path / "instances.parquet")
    [task] = coco_tasks(tmp_path / "instances.parquet", tmp_path / "data")
    assert task.path == tmp_path / "data" / "coco/train2017/1.jpg" and task.out_name == "coco_train2017_1.jpg"
    assert sorted(r.name for r in task.regions) == ["chair on the left", "chair on the right", "dining table"]
    table_box = next(r.box for r in task.regions if r.category == "dining table")
    assert table_box == (100.0, 250.0, 500.0, 450.0)


def test_dagster_asset_on_the_scene_pool(pool: Path, tmp_path: Path) -> None:
    from assets.resources import Workspace
    from assets.spatialqa import spatialqa_asset, spatialqa_checks

    ws = Workspace(data_root=str(tmp_path / "data"), tables_root=str(tmp_path / "tables"),
                   cache_root=str(tmp_path / "cache"), scene_pool=str(pool))
    spatialqa = spatialqa_asset(shards=8)
    pairs = 0
    for key in spatialqa.partitions_def.get_partition_keys():
        result = dg.materialize([spatialqa, *spatialqa_checks(8)], partition_key=key, resources={"workspace": ws},
                                run_config={"ops": {"spatialqa": {"config": {"target_pairs": 32}}}})
        assert result.success
        checks = result.get_asset_check_evaluations()  # separate checks, one result per shard
        assert {(c.check_name, c.partition, c.passed) for c in checks} == {
            ("answers_parse_back", key, True), ("records_valid", key, True)}
        meta = result.asset_materializations_for_node("spatialqa")[0].metadata
        assert meta["mode"].value == "scene_pool"
        assert sum(r.data["count"] for r in meta["pairs_per_category"].records) == meta["pairs"].value
        assert meta["dagster/row_count"].value == meta["records"].value
        if meta["records"].value:  # the scenes with the boxes of their named objects
            assert meta["contact_sheet"].value.startswith("![scenes and boxes](data:image/jpeg;base64,")
        pairs += meta["pairs"].value
    assert pairs > 0  # the 8-scene pool is all planned (target 32 x headroom needs 10): what it yields


def test_dagster_asset_real_mode_needs_its_inputs(tmp_path: Path) -> None:
    from assets.resources import Workspace
    from assets.spatialqa import spatialqa_asset

    spatialqa = spatialqa_asset(shards=8)
    ws = Workspace(data_root=str(tmp_path / "data"), tables_root=str(tmp_path / "tables"),
                   cache_root=str(tmp_path / "cache"))
    result = dg.materialize([spatialqa], partition_key="000", resources={"workspace": ws}, raise_on_error=False)
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error
    assert "instances.parquet missing" in failure.message
