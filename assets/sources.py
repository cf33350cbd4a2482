"""Source assets, made by one factory over the source registry (`pipeline.sources.registry.SOURCES`).

Per source: `<name>_download` (upstream files into the cache) and `<name>_images` (image-only
sources, partitioned by shard so a backfill runs shards as separate runs) or `<name>_conversations`
(sources that carry text: images and conversation tables; ingested whole, resuming file by file).
Checks follow from what the source writes: images decode, manifests cover the upstream listing,
records pass the contract, every upstream row is accounted for. Plus `coco_annotations` (the regions
spatial QA starts from) and `cauldron_overlap` (what the flagged sources repeat of the 665K)."""

import contextlib
from typing import Iterator

import dagster as dg

from pipeline.sources.base import IngestReport, Source, SourceError
from pipeline.sources.registry import SOURCES, overlap_sources

from .lib import (images_decode_result, images_decode_spec, merge_counts, metadata, preview_table,
                  records_valid_result, records_valid_spec)
from .resources import Workspace

GROUPS = {"images": "image_sources", "hub": "hub_sources", "annotations": "annotation_sources",
          "benchmark": "evaluation"}
OVERLAP_REFERENCE = "llava_665k"


def output_asset(source: Source) -> str:
    """`<name>_conversations` for a source that writes conversation tables, else `<name>_images`."""
    return f"{source.name}_{'conversations' if source.tables else 'images'}"


def writes_images(source: Source) -> bool:
    return source.family != "annotations"


@contextlib.contextmanager
def upstream_failures() -> Iterator[None]:
    """An upstream the engine refuses (wrong layout, unknown pin, incomplete file set, a download that
    failed for good) ends the step with one clear message instead of a stack trace."""
    from pipeline.fetch import FetchError

    try:
        yield
    except (SourceError, FetchError) as err:
        raise dg.Failure(description=str(err)) from None


def _download_asset(source: Source) -> dg.AssetsDefinition:
    @dg.asset(name=f"{source.name}_download", group_name=GROUPS[source.family],
              description=f"Fetch {source.name}'s upstream files into the cache (resumable, verified): {source.upstream}.")
    def download(context: dg.AssetExecutionContext, workspace: Workspace) -> dg.MaterializeResult:
        with upstream_failures():
            report = source.download(workspace.ingest_context(context.log.info))
        return dg.MaterializeResult(metadata={
            "files": dg.MetadataValue.md("\n".join(f"- `{f.path}`" for f in report.files)),
            "bytes": report.bytes, "fetched_now": report.fetched_now, **metadata(report.details)})
    return download


def _checks(source: Source, name: str) -> list[dg.AssetCheckSpec]:
    specs = []
    if writes_images(source):
        specs.append(images_decode_spec(name))
    if source.shard_keys:
        specs.append(dg.AssetCheckSpec("manifest_covers_upstream", asset=name,
                                       description="one manifest row per upstream image of the shard"))
    if source.tables:
        specs += [records_valid_spec(name),
                  dg.AssetCheckSpec("rows_accounted", asset=name,
                                    description="every upstream row became a record or a rejection with a reason")]
    return specs


def _check_results(source: Source, report: IngestReport, workspace: Workspace) -> list[dg.AssetCheckResult]:
    from pipeline.checks import check_conversations, check_manifest_images

    layout = workspace.layout()
    results = []
    if writes_images(source):
        checked, problems = 0, []
        for manifest in report.manifests:
            n, bad = check_manifest_images(layout.data_root, manifest, workspace.worker_count())
            checked += n
            problems += bad
        results.append(images_decode_result(checked, problems))
    if source.shard_keys:
        results.append(dg.AssetCheckResult(
            check_name="manifest_covers_upstream", passed=report.images == report.expected_images,
            metadata={"manifest_rows": report.images, "upstream_images": report.expected_images or 0}))
    if source.tables:
        rows, violations = 0, []
        for table in report.tables.values():
            n, bad = check_conversations(layout.data_root, table)
            rows += n
            violations.append(bad)
        results.append(records_valid_result(rows, report.records, merge_counts(violations)))
        unaccounted = (report.rows_read or 0) - report.records - sum(report.rejections.values())
        results.append(dg.AssetCheckResult(check_name="rows_accounted", passed=unaccounted == 0,
                                           metadata={"unaccounted_rows": unaccounted}))
    return results


def _report_metadata(report: IngestReport) -> dict:
    import pyarrow.parquet as pq

    images = bool(report.manifests)
    values = {"images": report.images if images else None,
              "copied": report.actions["copied"] if images else None,
              "reencoded": report.actions["reencoded"] if images else None,
              "quarantined": report.actions["quarantined"] if images else None,
              "quarantine_reasons": dict(report.quarantine_reasons) if images else None,
              "bytes_written": report.bytes_written if images else None,
              "rows_read": report.rows_read, "records_written": report.records if report.tables else None,
              "rejected": sum(report.rejections.values()) if report.tables else None,
              "rejections": dict(report.rejections) if report.tables else None,
              "reused": report.reused, **report.details}
    out = metadata(values)
    if report.tables:
        rows = pq.read_table(next(iter(report.tables.values()))).slice(0, 3).to_pylist()
        out["tables"] = dg.MetadataValue.md("\n".join(f"- `{p}`" for p in report.tables.values()))
        out["preview"] = preview_table(
            [{"id": r["id"], "image": r["image"], "turns": len(r["conversations"]),
              "first_turn": r["conversations"][0]["value"]} for r in rows], ["id", "image", "turns", "first_turn"])
    elif images:
        out["manifests"] = dg.MetadataValue.md("\n".join(f"- `{m}`" for m in report.manifests))
        out["preview"] = preview_table(pq.read_table(report.manifests[0]).slice(0, 5).to_pylist(),
                                       ["path", "original_format", "action", "reason"])
    return out


def _output_asset(source: Source) -> dg.AssetsDefinition:
    name = output_asset(source)
    partitioned = bool(source.shard_keys)
    what = "images and conversation records" if source.tables else "images into the data root (JPEG contract)"

    @dg.asset(name=name, group_name=GROUPS[source.family],
              deps=[f"{source.name}_download", *(output_asset(SOURCES[n]) for n in source.needs)],
              partitions_def=dg.StaticPartitionsDefinition(list(source.shard_keys)) if partitioned else None,
              backfill_policy=dg.BackfillPolicy.multi_run(1) if partitioned else None,
              check_specs=_checks(source, name),
              description=f"Normalize {source.name}: {what}" + (", one shard per partition." if partitioned else "."))
    def output(context: dg.AssetExecutionContext, workspace: Workspace) -> dg.MaterializeResult:
        ctx = workspace.ingest_context(context.log.info)
        with upstream_failures():
            if partitioned:
                report = IngestReport(source.name, reused=True)
                for key in context.partition_keys:
                    report.add(source.ingest(ctx, key))
            else:
                report = source.ingest(ctx)
        return dg.MaterializeResult(metadata=_report_metadata(report),
                                    check_results=_check_results(source, report, workspace))
    return output


@dg.asset(name="coco_annotations", group_name="spatialqa", deps=["coco_download"],
          description="COCO instances_train2017 boxes as a Parquet table (regions for spatial QA).")
def coco_annotations_table(workspace: Workspace) -> dg.MaterializeResult:
    from pipeline.sources import coco_annotations

    counts = coco_annotations.build_instances(workspace.layout())
    return dg.MaterializeResult(metadata=metadata({**counts,
                                                   "table": coco_annotations.instances_path(workspace.layout())}))


def _overlap_asset() -> dg.AssetsDefinition:
    sources = overlap_sources(OVERLAP_REFERENCE)

    @dg.asset(name="cauldron_overlap", group_name="mixture",
              deps=[output_asset(SOURCES[s]) for s in (*sources, OVERLAP_REFERENCE)],
              description="Records of the sources flagged as repeating the 665K (the cauldron's VQAv2/TextCaps) "
                          "whose image (sha256) and first question also appear in it; the mixture reads this table.")
    def cauldron_overlap_asset(workspace: Workspace) -> dg.MaterializeResult:
        from pipeline.overlap import cauldron_overlap

        report = cauldron_overlap(workspace.layout(), sources, OVERLAP_REFERENCE)
        lines = ["| source | records | same image | same image + question | same question (any image) |",
                 "|---|---|---|---|---|"]
        lines += [f"| {s} | {o.records:,} | {o.same_image:,} | {o.same_image_and_question:,} | "
                  f"{o.same_question_any_image:,} |" for s, o in report.by_source.items()]
        values = {"table": report.table, "records_665k": report.records_665k, "reused": report.reused,
                  "overlap": dg.MetadataValue.md("\n".join(lines))}
        for s, o in report.by_source.items():
            values |= {f"{s}_same_image": o.same_image, f"{s}_same_image_and_question": o.same_image_and_question}
        return dg.MaterializeResult(metadata=metadata(values))
    return cauldron_overlap_asset


def source_assets() -> list[dg.AssetsDefinition]:
    """Built from the registry as it is when called (the definitions call it once)."""
    made = [f(s) for s in SOURCES.values() for f in (_download_asset, _output_asset)
            if s.family != "benchmark" or f is _download_asset]  # a benchmark's eval table: assets/evaluation.py
    return made + [coco_annotations_table, _overlap_asset()]


def ingest_jobs() -> list:
    """`ingest_<source>`: the shard partitions of one sharded source, for `dagster job backfill`."""
    return [dg.define_asset_job(f"ingest_{s.name}", selection=[output_asset(s)]) for s in SOURCES.values()
            if s.shard_keys]
