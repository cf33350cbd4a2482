"""Source assets, made by one factory over the source registry (not a copy per source).

Per image source: `<name>_download` (archives or index file into the cache) and `<name>_images`
(partitioned by shard, so a backfill runs shards as separate runs). Plus `coco_annotations` and the
665K: `llava_665k_download` -> `llava_665k_conversations`, which checks records against every image
source's output."""

import pyarrow.parquet as pq

import dagster as dg

from pipeline.shards import ShardReport, shard_keys
from pipeline.sources import coco_annotations, llava_665k
from pipeline.sources.ocr_vqa import OcrVqaSource
from pipeline.sources.registry import IMAGE_SOURCES
from pipeline.sources.zip_images import ZipImageSource
from pipeline.verify import verify_conversations, verify_manifest_images

from .lib import (counts_table, images_decode_result, images_decode_spec, merge_counts, preview_table,
                  records_valid_result, records_valid_spec)
from .resources import Workspace

GROUP = "sources"


def _download_asset(src: ZipImageSource | OcrVqaSource) -> dg.AssetsDefinition:
    @dg.asset(name=f"{src.name}_download", group_name=GROUP,
              description=f"Fetch {src.name}'s upstream files into the cache (resumable, verified).")
    def download(context: dg.AssetExecutionContext, workspace: Workspace) -> dg.MaterializeResult:
        results = src.download(workspace.layout(), workspace.mirror_or_none(), log=context.log.info)
        return dg.MaterializeResult(metadata={
            "files": dg.MetadataValue.md("\n".join(f"- `{r.path}`" for r in results)),
            "bytes": sum(r.bytes for r in results),
            "fetched_now": sum(r.downloaded for r in results),
        })
    return download


def _images_asset(src: ZipImageSource | OcrVqaSource) -> dg.AssetsDefinition:
    name = f"{src.name}_images"
    checks = [
        dg.AssetCheckSpec("manifest_covers_upstream", asset=name,
                          description="one manifest row per upstream image of the shard"),
        images_decode_spec(name),
    ]

    @dg.asset(name=name, group_name=GROUP, deps=[f"{src.name}_download"],
              partitions_def=dg.StaticPartitionsDefinition(shard_keys(src.shards)),
              backfill_policy=dg.BackfillPolicy.multi_run(1), check_specs=checks,
              description=f"Normalize {src.name} images into the data root (JPEG contract), one shard per partition.")
    def images(context: dg.AssetExecutionContext, workspace: Workspace) -> dg.MaterializeResult:
        layout = workspace.layout()
        reports: list[ShardReport] = []
        skipped = expected = checked = 0
        problems: list[str] = []
        for key in context.partition_keys:
            report, not_ingested = src.ingest_shard(layout, int(key), workspace.mirror_or_none(),
                                                    workspace.worker_count(), context.log.info)
            reports.append(report)
            skipped += not_ingested
            expected += src.expected_rows(layout, int(key))
            n, bad = verify_manifest_images(layout.data_root, report.manifest, workspace.worker_count())
            checked += n
            problems += bad
        rows = sum(r.images for r in reports)
        manifest_preview = pq.read_table(reports[0].manifest).slice(0, 5).to_pylist()
        return dg.MaterializeResult(
            metadata={
                "images": rows,
                "copied": sum(r.actions["copied"] for r in reports),
                "reencoded": sum(r.actions["reencoded"] for r in reports),
                "quarantined": sum(r.actions["quarantined"] for r in reports),
                "quarantine_reasons": counts_table(merge_counts(r.reasons for r in reports)),
                "bytes_written": sum(r.bytes_written for r in reports),
                "upstream_entries_not_ingested": skipped,
                "reused_finished_shard": all(r.reused for r in reports),
                "manifests": dg.MetadataValue.md("\n".join(f"- `{r.manifest}`" for r in reports)),
                "preview": preview_table(manifest_preview, ["path", "original_format", "action", "reason"]),
            },
            check_results=[
                dg.AssetCheckResult(check_name="manifest_covers_upstream", passed=rows == expected,
                                    metadata={"manifest_rows": rows, "upstream_images": expected}),
                images_decode_result(checked, problems),
            ],
        )
    return images


@dg.asset(name="coco_annotations", group_name=GROUP, deps=["coco_download"],
          description="COCO instances_train2017 boxes as a Parquet table (regions for spatial QA).")
def coco_annotations_table(workspace: Workspace) -> dg.MaterializeResult:
    counts = coco_annotations.build_instances(workspace.layout())
    return dg.MaterializeResult(metadata={**counts, "table": str(coco_annotations.instances_path(workspace.layout()))})


@dg.asset(name="llava_665k_download", group_name=GROUP,
          description="Fetch llava_v1_5_mix665k.json from the hub at a pinned revision (or the mirror).")
def llava_665k_download(context: dg.AssetExecutionContext, workspace: Workspace) -> dg.MaterializeResult:
    layout = workspace.layout()
    result, commit = llava_665k.ANNOTATIONS.fetch(layout.cache(llava_665k.SOURCE), workspace.mirror_or_none(),
                                                  context.log.info)
    return dg.MaterializeResult(metadata={"path": str(result.path), "bytes": result.bytes,
                                          "revision": commit, "fetched_now": result.downloaded})


@dg.asset(name="llava_665k_conversations", group_name=GROUP,
          deps=["llava_665k_download"] + [f"{n}_images" for n in IMAGE_SOURCES],
          check_specs=[records_valid_spec("llava_665k_conversations")],
          description="The 665K records as conversation rows, each checked against the images present.")
def llava_665k_conversations(context: dg.AssetExecutionContext, workspace: Workspace) -> dg.MaterializeResult:
    layout = workspace.layout()
    report = llava_665k.build_conversations(layout, context.log.info)
    rows, violations = verify_conversations(layout.data_root, report.table)
    preview = pq.read_table(report.table).slice(0, 3).to_pylist()
    return dg.MaterializeResult(
        metadata={
            "records_in": report.records_in,
            "records_written": report.written,
            "text_only": report.text_only,
            "by_image_folder": counts_table(report.by_prefix, "folder"),
            "rejections": counts_table(report.rejections),
            "image_token_moved_to_start": report.fixed_image_token,
            "renamed_duplicate_ids": report.renamed_ids,
            "reused": report.reused,
            "table": str(report.table),
            "preview": preview_table([{"id": r["id"], "image": r["image"],
                                       "first_turn": r["conversations"][0]["value"]} for r in preview],
                                     ["id", "image", "first_turn"]),
        },
        check_results=[records_valid_result(rows, report.written, violations)],
    )


def source_assets() -> list[dg.AssetsDefinition]:
    made = [f(src) for src in IMAGE_SOURCES.values() for f in (_download_asset, _images_asset)]
    return made + [coco_annotations_table, llava_665k_download, llava_665k_conversations]


def ingest_jobs() -> list:
    """`ingest_<source>`: the shard partitions of one image source, for `dagster job backfill`."""
    return [dg.define_asset_job(f"ingest_{n}", selection=[f"{n}_images"]) for n in IMAGE_SOURCES]


defs = dg.Definitions(assets=source_assets(), jobs=ingest_jobs())
