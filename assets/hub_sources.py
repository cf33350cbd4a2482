"""Hub-hosted source assets (the_cauldron configs, OpenSpaces), made by one factory over HUB_SOURCES.

Per source: `<name>_download` (the split's Parquet files at the pinned revision, or from the mirror,
into the cache; the file list is locked) and `<name>_conversations` (images into `<name>/images/` and
the conversation tables; finished Parquet shards are skipped on re-run). Plus `cauldron_overlap`,
which measures what the cauldron's VQAv2/TextCaps share with the 665K. Not partitioned: the shard
count is only known after listing the repo, and a re-run already resumes shard by shard."""

import dagster as dg

from pipeline.overlap import cauldron_overlap
from pipeline.sources import hub_ingest, hub_parquet
from pipeline.sources.hub_parquet import HubDataset
from pipeline.sources.hub_registry import HUB_SOURCES
from pipeline.verify import verify_conversations, verify_manifest_images

from .lib import (counts_table, images_decode_result, images_decode_spec, merge_counts, preview_table,
                  records_valid_result, records_valid_spec)
from .resources import Workspace

GROUP = "sources"
OVERLAP_SOURCES = ("vqav2", "textcaps")


def _download_asset(ds: HubDataset) -> dg.AssetsDefinition:
    @dg.asset(name=f"{ds.name}_download", group_name=GROUP,
              description=f"Fetch {ds.repo_id} ({', '.join(ds.splits.values())}) at a pinned revision "
                          "(or from the mirror) into the cache, and lock the file list.")
    def download(context: dg.AssetExecutionContext, workspace: Workspace) -> dg.MaterializeResult:
        lock, results = hub_parquet.download(ds, workspace.layout(), workspace.mirror_or_none(), context.log.info)
        return dg.MaterializeResult(metadata={
            "repo_id": ds.repo_id,
            "revision": ds.revision,
            "commit": lock.commit,
            "files": dg.MetadataValue.md("\n".join(f"- `{f}`" for s in ds.splits for f in lock.files[s])),
            "bytes": sum(r.bytes for r in results),
            "fetched_now": sum(r.downloaded for r in results),
        })
    return download


def _conversations_asset(ds: HubDataset) -> dg.AssetsDefinition:
    name = f"{ds.name}_conversations"
    checks = [
        records_valid_spec(name),
        images_decode_spec(name),
        dg.AssetCheckSpec("rows_accounted", asset=name,
                          description="every upstream row became a record or a rejection with a reason"),
    ]

    @dg.asset(name=name, group_name=GROUP, deps=[f"{ds.name}_download"], check_specs=checks,
              description=f"{ds.repo_id} rows -> JPEGs under `{ds.name}/images/` and conversation records "
                          f"({', '.join(ds.splits)}), rejections counted by reason.")
    def conversations(context: dg.AssetExecutionContext, workspace: Workspace) -> dg.MaterializeResult:
        layout = workspace.layout()
        report = hub_ingest.ingest(ds, layout, workspace.worker_count(), context.log.info)
        rows = 0
        bad: list[dict[str, int]] = []
        for table in report.conversations.values():
            n, problems = verify_conversations(layout.data_root, table)
            rows += n
            bad.append(problems)
        checked, problems = 0, []
        for manifest in report.manifests:
            n, p = verify_manifest_images(layout.data_root, manifest, workspace.worker_count())
            checked += n
            problems += p
        violations = merge_counts(bad)
        written = sum(report.written.values())
        unaccounted = {s: report.rows_read[s] - report.written[s] - report.rejected[s] for s in ds.splits}
        preview = [{"id": r["id"], "image": r["image"], "turns": len(r["conversations"]),
                    "first_turn": r["conversations"][0]["value"], "answer": r["conversations"][1]["value"]}
                   for r in hub_ingest.preview(report)]
        return dg.MaterializeResult(
            metadata={
                "commit": report.commit,
                "rows_read": sum(report.rows_read.values()),
                "records_written": written,
                "rejected": sum(report.rejected.values()),
                "by_split": dg.MetadataValue.md("\n".join(
                    ["| split | rows | records | rejected | upstream rows |", "|---|---|---|---|---|"]
                    + [f"| {s} | {report.rows_read[s]:,} | {report.written[s]:,} | {report.rejected[s]:,} "
                       f"| {ds.expected_rows[s]:,} |" for s in ds.splits])),
                "rejections": counts_table(report.rejections),
                "copied": report.image_actions["copied"],
                "reencoded": report.image_actions["reencoded"],
                "quarantined": report.image_actions["quarantined"],
                "quarantine_reasons": counts_table(report.quarantine_reasons),
                "shards": report.shards,
                "reused_shards": report.reused_shards,
                "tables": dg.MetadataValue.md("\n".join(f"- `{p}`" for p in report.conversations.values())),
                "preview": preview_table(preview, ["id", "image", "turns", "first_turn", "answer"], limit=3),
            },
            check_results=[
                records_valid_result(rows, written, violations),
                images_decode_result(checked, problems),
                dg.AssetCheckResult(check_name="rows_accounted", passed=not any(unaccounted.values()),
                                    metadata={"unaccounted_rows": sum(unaccounted.values())}),
            ],
        )
    return conversations


@dg.asset(name="cauldron_overlap", group_name=GROUP,
          deps=[f"{s}_conversations" for s in OVERLAP_SOURCES] + ["llava_665k_conversations"],
          description="Records of the cauldron's VQAv2/TextCaps whose image (sha256) and first question "
                      "also appear in the 665K; writes overlap/cauldron_vs_665k.parquet for the mixture.")
def cauldron_overlap_asset(workspace: Workspace) -> dg.MaterializeResult:
    report = cauldron_overlap(workspace.layout(), OVERLAP_SOURCES)
    lines = ["| source | records | same image | same image + question | same question (any image) |",
             "|---|---|---|---|---|"]
    lines += [f"| {s} | {o.records:,} | {o.same_image:,} | {o.same_image_and_question:,} | "
              f"{o.same_question_any_image:,} |" for s, o in report.by_source.items()]
    metadata = {"table": str(report.table), "records_665k": report.records_665k,
                "overlap": dg.MetadataValue.md("\n".join(lines))}
    for s, o in report.by_source.items():
        metadata |= {f"{s}_same_image": o.same_image, f"{s}_same_image_and_question": o.same_image_and_question}
    return dg.MaterializeResult(metadata=metadata)


def hub_source_assets() -> list[dg.AssetsDefinition]:
    made = [f(ds) for ds in HUB_SOURCES.values() for f in (_download_asset, _conversations_asset)]
    return made + [cauldron_overlap_asset]


defs = dg.Definitions(assets=hub_source_assets())
