"""Dagster asset `spatialqa`: metric spatial QA generated per shard of the image pool (engine:
spatialqa_gen). The asset translates its config into the engine's perception spec and generation
config, and reports; the engine decides the input mode (scene pool or COCO + models), builds the
models only for a shard with work, and skips finished shards. Its checks re-read a shard's parts and
are separate, partitioned asset checks (each shard its own result; executable alone)."""

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg

from spatialqa_gen.perception import PerceptionSpec

from . import versions
from .catalog import describe
from .checks import nothing_to_check, problem_list
from .cluster import RayPlacement
from .lib import config_from, counts_table, metadata, picture, table_metadata
from .resources import Workspace

if TYPE_CHECKING:
    from spatialqa_gen.check import ShardCheck

# Input: the workspace's scene pool (exact depth and masks, no weights) when it names one; otherwise real
# COCO images (the instances table) with SAM + a depth model, as the perception spec's fields say.
SpatialQAConfig = config_from("SpatialQAConfig", PerceptionSpec, exclude={"exact"}, extra={
    "target_pairs": (int, 14_000, "QA pairs to generate over all shards"),
    "pairs_per_image": (int, 4, "QA pairs per image"),
    "seed": (int, 0, "which images are chosen and which questions are asked"),
    "definitions": (str, "geometric", "'geometric' (the project's) or 'spatialrgpt' (SpatialRGPT's definitions)"),
    "instances_table": (str, "", "COCO instances table; empty: <tables_root>/coco/instances.parquet"),
})


def _partitions(shards: int) -> dg.StaticPartitionsDefinition:
    from pipeline.sharding import shard_keys

    return dg.StaticPartitionsDefinition(shard_keys(shards))


def spatialqa_asset(shards: int, ray: RayPlacement = RayPlacement()) -> dg.AssetsDefinition:
    @dg.asset(
        name="spatialqa",
        group_name="spatialqa",
        pool="gpu",
        **ray.step(num_cpus=1, num_gpus=1),  # deployment "ray": a Ray job on a GPU node
        partitions_def=_partitions(shards),
        deps=["coco_images", "coco_annotations"],
        description="SpatialRGPT-style metric spatial QA (12 categories) with an auditable facts table.",
        **describe("spatialqa", {"pytorch", "open3d", "parquet"}),
    )
    def spatialqa(context: dg.AssetExecutionContext, config: SpatialQAConfig,  # type: ignore[valid-type]
                  workspace: Workspace) -> dg.MaterializeResult:
        from pipeline.preview import contact_sheet
        from spatialqa_gen.analysis import AnalysisConfig
        from spatialqa_gen.generate import GenerateConfig, all_categories, generate_shard, marker_path, part_paths
        from spatialqa_gen.preview import scene_tiles

        layout = workspace.layout()
        shard = context.partition_key
        spec = PerceptionSpec(**{f.name: getattr(config, f.name) for f in dataclasses.fields(PerceptionSpec)
                                 if f.name != "exact"})
        gen = GenerateConfig(target_pairs=config.target_pairs, pairs_per_image=config.pairs_per_image,
                             num_shards=shards, seed=config.seed, batch_size=config.batch_size,
                             analysis=AnalysisConfig(definitions=config.definitions))
        pool = Path(workspace.scene_pool) if workspace.scene_pool else None
        instances = Path(config.instances_table) if config.instances_table else layout.tables("coco") / "instances.parquet"
        try:
            report = generate_shard(layout, shard, spec, gen, pool, None if pool else instances, context.log.info)
        except (ValueError, FileNotFoundError) as err:  # a spec that cannot be built, inputs not there
            raise dg.Failure(str(err)) from err
        conv, facts = part_paths(layout, shard)
        preview = "\n\n".join(f"**Q:** {q}\n\n**A:** {a}" for q, a in report.preview)
        out = metadata({
            "mode": "scene_pool" if pool else "real", "shard": shard, "skipped_finished_shard": report.skipped,
            "images_planned": report.images_planned, "records": report.records, "pairs": report.pairs,
            "pairs_per_category": all_categories(report), "definitions": config.definitions,
            # images skipped, by reason: no verified floor (untrusted_frame), too few objects, nothing askable
            "skips_by_reason": dict(report.rejections),
            "conversations": conv, "facts": facts,
            "preview": dg.MetadataValue.md(preview or "(no QA in this shard)"),
        }) | table_metadata([conv])
        tiles = scene_tiles(layout, shard, pool, None if pool else instances)
        if tiles:
            out["contact_sheet"] = picture(contact_sheet(tiles, columns=3, size=200), "image/jpeg", "scenes and boxes")
        return dg.MaterializeResult(metadata=out, data_version=versions.of_markers([marker_path(layout, shard)]))
    return spatialqa


# `dagster job backfill -j generate_spatialqa --all true`: one queued run per shard, like ingest_<source>.
generate_spatialqa = dg.define_asset_job("generate_spatialqa", selection=["spatialqa"],
                                         description="Spatial QA shards, for backfills.")


def spatialqa_checks(shards: int) -> list[dg.AssetChecksDefinition]:
    """The shard checks, partitioned like the asset."""

    @dg.asset_check(asset="spatialqa", name="answers_parse_back", partitions_def=_partitions(shards),
                    description="every answer states exactly the fact row it came from")
    def answers_parse_back(context: dg.AssetCheckExecutionContext, workspace: Workspace) -> dg.AssetCheckResult:
        check = _check(context.partition_key, workspace)
        if check is None:
            return nothing_to_check("answers_parse_back", "spatialqa")
        return dg.AssetCheckResult(passed=not check.mismatches, metadata={
            "turns": check.turns, "mismatches": len(check.mismatches),
            "first_mismatches": problem_list(check.mismatches)})

    @dg.asset_check(asset="spatialqa", name="records_valid", partitions_def=_partitions(shards),
                    description="every record passes the conversation contract")
    def records_valid(context: dg.AssetCheckExecutionContext, workspace: Workspace) -> dg.AssetCheckResult:
        check = _check(context.partition_key, workspace)
        if check is None:
            return nothing_to_check("records_valid", "spatialqa")
        return dg.AssetCheckResult(passed=not check.contract, metadata={
            "records": check.records, "violations": counts_table(dict(check.contract))})

    return [answers_parse_back, records_valid]


def _check(shard: str, workspace: Workspace) -> "ShardCheck | None":
    """The shard's parts re-read and checked; None when the shard has not been written yet."""
    from spatialqa_gen.check import check_shard
    from spatialqa_gen.generate import part_paths

    conv, facts = part_paths(workspace.layout(), shard)
    if not (conv.is_file() and facts.is_file()):
        return None
    return check_shard(conv, facts, workspace.layout().data_root)
