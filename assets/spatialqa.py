"""Dagster asset `spatialqa`: metric spatial QA generated per shard of the image pool (engine: spatialqa_gen)."""

import json
import os
from pathlib import Path

import dagster as dg

from assets.resources import Workspace
from spatialqa_gen.audit import audit_shard
from spatialqa_gen.generate import (ExactPerception, GenerateConfig, ImageTask, ModelPerception, PerceptionStage,
                                    all_categories, coco_tasks, part_paths, plan, run_shard, scene_pool_tasks,
                                    shard_keys)

SHARDS = int(os.environ.get("SPATIALMIX_SPATIALQA_SHARDS", "8"))


def spatialqa_partition_keys() -> list[str]:
    """The shard keys of the `spatialqa` asset ("000", "001", ...; SPATIALMIX_SPATIALQA_SHARDS of them)."""
    return shard_keys(SHARDS)


spatialqa_partitions = dg.StaticPartitionsDefinition(spatialqa_partition_keys())


class SpatialQAConfig(dg.Config):
    """Input mode: a scene pool (exact depth and masks, no weights) when `scene_pool` or the environment
    variable SPATIALMIX_SCENE_POOL names one; otherwise real COCO images with SAM + a depth model."""

    scene_pool: str = ""
    device: str = "auto"                 # auto: cuda when available
    dtype: str = "bfloat16"              # autocast dtype on GPU (float32 on CPU)
    batch_size: int = 8                  # images per depth-model batch (SAM batches all boxes of an image)
    target_pairs: int = 14_000
    pairs_per_image: int = 4
    seed: int = 0
    instances_table: str = ""            # default <tables_root>/coco/instances.parquet
    sam_checkpoint: str = ""             # e.g. /models/sam_vit_h_4b8939.pth
    sam_model_type: str = "vit_h"
    depth_model: str = "depth_pro"       # depth_pro | depth_anything
    depth_model_id: str = "apple/DepthPro-hf"
    depth_revision: str = ""
    fov_deg: float = 60.0                # depth_anything without EXIF focal length

    def pool(self) -> str:
        return self.scene_pool or os.environ.get("SPATIALMIX_SCENE_POOL", "")


def _perception(config: SpatialQAConfig) -> PerceptionStage:
    import torch

    from spatialqa_gen.models import DepthAnythingEstimator, DepthProEstimator, SamMasker, parse_dtype

    device = ("cuda" if torch.cuda.is_available() else "cpu") if config.device == "auto" else config.device
    dtype = parse_dtype(config.dtype) if device.startswith("cuda") else None
    if not config.sam_checkpoint:
        raise dg.Failure("real mode needs `sam_checkpoint` (or set `scene_pool` / SPATIALMIX_SCENE_POOL)")
    masker = SamMasker.from_checkpoint(config.sam_checkpoint, config.sam_model_type, device, dtype)
    revision = config.depth_revision or None
    if config.depth_model == "depth_pro":
        depth = DepthProEstimator.from_pretrained(config.depth_model_id, revision, device, dtype, config.batch_size)
    elif config.depth_model == "depth_anything":
        depth = DepthAnythingEstimator.from_pretrained(config.depth_model_id, revision, config.fov_deg, device, dtype,
                                                       config.batch_size)
    else:
        raise dg.Failure(f"unknown depth_model {config.depth_model!r} (depth_pro | depth_anything)")
    return ModelPerception(masker, depth)


@dg.asset(
    group_name="spatialqa",
    pool="gpu",
    partitions_def=spatialqa_partitions,
    deps=["coco_images", "coco_annotations"],
    check_specs=[dg.AssetCheckSpec("answers_parse_back", asset="spatialqa",
                                   description="every answer states exactly the fact row it came from"),
                 dg.AssetCheckSpec("records_valid", asset="spatialqa",
                                   description="every record passes the conversation contract")],
    description="SpatialRGPT-style metric spatial QA (12 categories) with an auditable facts table.",
)
def spatialqa(context: dg.AssetExecutionContext, config: SpatialQAConfig, workspace: Workspace) -> dg.MaterializeResult:
    layout = workspace.layout()
    shard = context.partition_key
    gen = GenerateConfig(target_pairs=config.target_pairs, pairs_per_image=config.pairs_per_image,
                         num_shards=SHARDS, seed=config.seed, batch_size=config.batch_size)
    tasks: list[ImageTask]
    if config.pool():
        tasks, perception = scene_pool_tasks(Path(config.pool())), ExactPerception()
        mode = "scene_pool"
    else:
        table = Path(config.instances_table) if config.instances_table else layout.tables("coco") / "instances.parquet"
        if not table.exists():
            raise dg.Failure(f"{table} missing: materialize coco_annotations, or set scene_pool")
        tasks, perception, mode = coco_tasks(table, layout.data_root), None, "real"
    mine = plan(tasks, gen)[shard]
    conv, facts = part_paths(layout, shard)
    if perception is None and not (conv.exists() and facts.exists()):
        perception = _perception(config)  # load the models only when the shard has work to do
    report = run_shard(mine, perception or ExactPerception(), layout, shard, gen, context.log.info)
    audit = audit_shard(conv, facts, layout.data_root)
    preview = "\n\n".join(f"**Q:** {q}\n\n**A:** {a}" for q, a in report.preview)
    return dg.MaterializeResult(
        metadata={
            "mode": mode, "shard": shard, "skipped_finished_shard": report.skipped,
            "images_planned": len(mine), "records": report.records, "pairs": report.pairs,
            "pairs_per_category": dg.MetadataValue.json(all_categories(report)),
            "abstentions": dg.MetadataValue.json({k: int(v) for k, v in report.abstentions.items()}),
            "abstention_total": int(sum(report.abstentions.values())),
            "rejections": dg.MetadataValue.json(dict(report.rejections)),
            "frame_fallbacks": report.frame_fallbacks,
            "conversations": dg.MetadataValue.path(str(conv)), "facts": dg.MetadataValue.path(str(facts)),
            "preview": dg.MetadataValue.md(preview or "(no QA in this shard)"),
        },
        check_results=[
            dg.AssetCheckResult(check_name="answers_parse_back", passed=not audit.mismatches,
                                metadata={"turns": audit.turns, "mismatches": json.dumps(audit.mismatches)}),
            dg.AssetCheckResult(check_name="records_valid", passed=not audit.contract,
                                metadata={"records": audit.records, "rejections": json.dumps(dict(audit.contract))}),
        ],
    )


defs = dg.Definitions(assets=[spatialqa])
