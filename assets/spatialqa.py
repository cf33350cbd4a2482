"""Dagster asset `spatialqa`: metric spatial QA generated per shard of the image pool (engine:
spatialqa_gen). The asset translates its config into the engine's perception spec and generation
config, and reports; the engine decides the input mode (scene pool or COCO + models), builds the
models only for a shard with work, and skips finished shards."""

import dataclasses
from pathlib import Path

import dagster as dg

from spatialqa_gen.perception import PerceptionSpec

from .lib import config_from, metadata
from .resources import Workspace

# Input: the workspace's scene pool (exact depth and masks, no weights) when it names one; otherwise real
# COCO images (the instances table) with SAM + a depth model, as the perception spec's fields say.
SpatialQAConfig = config_from("SpatialQAConfig", PerceptionSpec, exclude={"exact"}, extra={
    "target_pairs": (int, 14_000, "QA pairs to generate over all shards"),
    "pairs_per_image": (int, 4, "QA pairs per image"),
    "seed": (int, 0, "which images are chosen and which questions are asked"),
    "instances_table": (str, "", "COCO instances table; empty: <tables_root>/coco/instances.parquet"),
})


def spatialqa_asset(shards: int) -> dg.AssetsDefinition:
    from pipeline.sharding import shard_keys

    @dg.asset(
        name="spatialqa",
        group_name="spatialqa",
        pool="gpu",
        partitions_def=dg.StaticPartitionsDefinition(shard_keys(shards)),
        deps=["coco_images", "coco_annotations"],
        check_specs=[dg.AssetCheckSpec("answers_parse_back", asset="spatialqa",
                                       description="every answer states exactly the fact row it came from"),
                     dg.AssetCheckSpec("records_valid", asset="spatialqa",
                                       description="every record passes the conversation contract")],
        description="SpatialRGPT-style metric spatial QA (12 categories) with an auditable facts table.",
    )
    def spatialqa(context: dg.AssetExecutionContext, config: SpatialQAConfig,  # type: ignore[valid-type]
                  workspace: Workspace) -> dg.MaterializeResult:
        from spatialqa_gen.check import check_shard
        from spatialqa_gen.generate import GenerateConfig, all_categories, generate_shard, part_paths

        layout = workspace.layout()
        shard = context.partition_key
        spec = PerceptionSpec(**{f.name: getattr(config, f.name) for f in dataclasses.fields(PerceptionSpec)
                                 if f.name != "exact"})
        gen = GenerateConfig(target_pairs=config.target_pairs, pairs_per_image=config.pairs_per_image,
                             num_shards=shards, seed=config.seed, batch_size=config.batch_size)
        pool = Path(workspace.scene_pool) if workspace.scene_pool else None
        instances = Path(config.instances_table) if config.instances_table else layout.tables("coco") / "instances.parquet"
        try:
            report = generate_shard(layout, shard, spec, gen, pool, None if pool else instances, context.log.info)
        except (ValueError, FileNotFoundError) as err:
            raise dg.Failure(str(err)) from err
        conv, facts = part_paths(layout, shard)
        check = check_shard(conv, facts, layout.data_root)
        preview = "\n\n".join(f"**Q:** {q}\n\n**A:** {a}" for q, a in report.preview)
        return dg.MaterializeResult(
            metadata=metadata({
                "mode": "scene_pool" if pool else "real", "shard": shard, "skipped_finished_shard": report.skipped,
                "images_planned": report.images_planned, "records": report.records, "pairs": report.pairs,
                "pairs_per_category": dg.MetadataValue.json(all_categories(report)),
                "abstentions": dg.MetadataValue.json({k: int(v) for k, v in report.abstentions.items()}),
                "abstention_total": int(sum(report.abstentions.values())),
                "rejections": dict(report.rejections), "frame_fallbacks": report.frame_fallbacks,
                "conversations": conv, "facts": facts,
                "preview": dg.MetadataValue.md(preview or "(no QA in this shard)"),
            }),
            check_results=[
                dg.AssetCheckResult(check_name="answers_parse_back", passed=not check.mismatches,
                                    metadata={"turns": check.turns, "mismatches": dg.MetadataValue.json(check.mismatches)}),
                dg.AssetCheckResult(check_name="records_valid", passed=not check.contract,
                                    metadata={"records": check.records,
                                              "rejections": dg.MetadataValue.json(dict(check.contract))}),
            ],
        )
    return spatialqa
