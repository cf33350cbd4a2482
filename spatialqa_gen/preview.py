"""Tiles of a generated shard for a contact sheet: each scene with the boxes of its named objects (the
regions the questions talk about) and its first question."""
from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from pipeline.layout import Layout
from pipeline.preview import Tile
from pipeline.records import IMAGE_TOKEN
from spatialqa_gen.generate import coco_tasks, part_paths, scene_pool_tasks


def scene_tiles(layout: Layout, shard: str, scene_pool: Path | None, instances: Path | None,
                limit: int = 6) -> list[Tile]:
    """The shard's first `limit` records as tiles; boxes come from the same pool or instances table the
    shard was generated from (records keep the task's image id as `source_id`)."""
    conversations, _ = part_paths(layout, shard)
    if not conversations.is_file():
        return []
    rows = pq.read_table(conversations, columns=["image", "source_id", "conversations"]).slice(0, limit).to_pylist()
    wanted = {r["source_id"] for r in rows}
    if scene_pool is not None:
        tasks = [t for t in scene_pool_tasks(scene_pool) if t.image_id in wanted]
    elif instances is not None:
        tasks = coco_tasks(instances, layout.data_root, only=wanted)
    else:
        tasks = []
    regions = {t.image_id: t.regions for t in tasks}
    return [Tile(layout.data_root / r["image"], r["conversations"][0]["value"].removeprefix(IMAGE_TOKEN + "\n"),
                 tuple((g.name, g.box) for g in regions.get(r["source_id"], ()))) for r in rows]
