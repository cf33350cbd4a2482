"""Source assets, made by one factory over the source registry (`pipeline.sources.registry.SOURCES`).

Per source: `<name>_download` (upstream files into the cache) and `<name>_images` (image-only
sources, partitioned by shard so a backfill runs shards as separate runs) or `<name>_conversations`
(sources that carry text: images and conversation tables; ingested whole, resuming file by file).
Checks that compare a run with its own report (manifest rows vs the upstream listing, rows accounted
for) run inside the asset; checks that re-read the files are separate (`assets/source_checks.py`).
Plus `coco_annotations` (the regions spatial QA starts from) and `cauldron_overlap` (what the flagged
sources repeat of the 665K). Every output reports its files as paths, its table's row count and
columns, a contact sheet of its images, and a data version from its steps' fingerprints."""

import contextlib
from typing import Any, Iterator

import dagster as dg

from pipeline.layout import Layout
from pipeline.sources.base import IngestReport, Source, SourceError
from pipeline.sources.registry import SOURCES, overlap_sources

from . import versions
from .catalog import describe
from .cluster import RayPlacement
from .lib import metadata, picture, rows_table, table_metadata
from .resources import Workspace

GROUPS = {"images": "image_sources", "hub": "hub_sources", "annotations": "annotation_sources",
          "benchmark": "evaluation"}
DOWNLOAD_KINDS = {"images": {"python", "http"}, "hub": {"python", "huggingface"}, "annotations": {"python", "http"},
                  "benchmark": {"python", "huggingface"}}
OVERLAP_REFERENCE = "llava_665k"


def output_asset(source: Source) -> str:
    """`<name>_conversations` for a source that writes conversation tables, else `<name>_images`."""
    return f"{source.name}_{'conversations' if source.tables else 'images'}"


def writes_images(source: Source) -> bool:
    """Records-only sources (the 665K, the 850K reference) and benchmarks (an eval table) write no images."""
    return source.family not in ("annotations", "benchmark")


@contextlib.contextmanager
def upstream_failures() -> Iterator[None]:
    """An upstream the engine refuses (wrong layout, unknown pin, incomplete file set, a download that
    failed for good) ends the step with one clear message instead of a stack trace."""
    from pipeline.fetch import FetchError

    try:
        yield
    except (SourceError, FetchError) as err:
        raise dg.Failure(description=str(err)) from None


def partitions(source: Source) -> dg.StaticPartitionsDefinition | None:
    """One partition per shard (sharded sources), shared by the asset and its checks."""
    return dg.StaticPartitionsDefinition(list(source.shard_keys)) if source.shard_keys else None


def _download_asset(source: Source) -> dg.AssetsDefinition:
    @dg.asset(name=f"{source.name}_download", group_name=GROUPS[source.family],
              description=f"Fetch {source.name}'s upstream files into the cache (resumable, verified): {source.upstream}.",
              **describe("sources", DOWNLOAD_KINDS[source.family], source=source.name, family=source.family))
    def download(context: dg.AssetExecutionContext, workspace: Workspace) -> dg.MaterializeResult:
        with upstream_failures():
            report = source.download(workspace.ingest_context(context.log.info))
        files = [f.path for f in report.files]
        return dg.MaterializeResult(
            metadata=metadata({"bytes": report.bytes, "fetched_now": report.fetched_now, "file": files,
                               **report.details}),
            data_version=versions.of_files(files))
    return download


def _report_specs(source: Source, name: str) -> list[dg.AssetCheckSpec]:
    """Checks of a run against its own report (the separate ones re-read files: source_checks.py)."""
    specs = []
    if source.shard_keys:
        specs.append(dg.AssetCheckSpec("manifest_covers_upstream", asset=name, partitions_def=partitions(source),
                                       description="one manifest row per upstream image of the shard"))
    if source.tables:
        specs.append(dg.AssetCheckSpec("rows_accounted", asset=name,
                                       description="every upstream row became a record or a rejection with a reason"))
    return specs


def _report_results(source: Source, report: IngestReport) -> list[dg.AssetCheckResult]:
    results = []
    if source.shard_keys:
        results.append(dg.AssetCheckResult(
            check_name="manifest_covers_upstream", passed=report.images == report.expected_images,
            metadata={"manifest_rows": report.images, "upstream_images": report.expected_images or 0}))
    if source.tables:
        unaccounted = (report.rows_read or 0) - report.records - sum(report.rejections.values())
        results.append(dg.AssetCheckResult(
            check_name="rows_accounted", passed=unaccounted == 0,
            metadata={"rows_read": report.rows_read or 0, "records": report.records,
                      "rejected": sum(report.rejections.values()), "unaccounted_rows": unaccounted}))
    return results


def _report_metadata(report: IngestReport, layout: Layout) -> dict[str, Any]:
    import pyarrow.parquet as pq

    from pipeline.preview import contact_sheet, manifest_tiles, record_tiles

    images = bool(report.manifests)
    tables = list(report.tables.values())
    values = {"images": report.images if images else None,
              "copied": report.actions["copied"] if images else None,
              "reencoded": report.actions["reencoded"] if images else None,
              "quarantined": report.actions["quarantined"] if images else None,
              "quarantine_reasons": dict(report.quarantine_reasons) if images else None,
              "bytes_written": report.bytes_written if images else None,
              "rows_read": report.rows_read, "records_written": report.records if tables else None,
              "rejected": sum(report.rejections.values()) if tables else None,
              "rejections": dict(report.rejections) if tables else None,
              "reused": report.reused, **report.details,
              "manifest": report.manifests or None, "table": dict(report.tables) or None}
    out = metadata(values) | table_metadata(tables or report.manifests)
    if tables:
        rows = pq.read_table(tables[0]).slice(0, 3).to_pylist()
        out["sample_records"] = rows_table([{"id": r["id"], "image": r["image"], "turns": len(r["conversations"]),
                                             "first_turn": r["conversations"][0]["value"]} for r in rows])
        # the records' pictures, then what this source refused (placeholders naming the reason)
        tiles = record_tiles(tables[0], layout.data_root, limit=6)
        tiles += [t for t in manifest_tiles(report.manifests, layout.data_root, 2, 2) if t.image is None]
    else:
        if images:
            out["sample_rows"] = rows_table(pq.read_table(report.manifests[0]).slice(0, 5).to_pylist(),
                                            ["path", "original", "original_format", "action", "reason"])
        tiles = manifest_tiles(report.manifests, layout.data_root)
    if tiles:
        out["contact_sheet"] = picture(contact_sheet(tiles), "image/jpeg", "sample images")
    return out


def _output_asset(source: Source, ray: RayPlacement) -> dg.AssetsDefinition:
    name = output_asset(source)
    partitioned = bool(source.shard_keys)
    what = "images and conversation records" if source.tables else "images into the data root (JPEG contract)"
    # deployment "ray": image shards and hub conversions hold CPUs on a Ray node (records-only steps do not)
    placed = source.family in ("images", "hub")

    @dg.asset(name=name, group_name=GROUPS[source.family],
              deps=[f"{source.name}_download", *(output_asset(SOURCES[n]) for n in source.needs)],
              partitions_def=partitions(source),
              backfill_policy=dg.BackfillPolicy.multi_run(1) if partitioned else None,
              check_specs=_report_specs(source, name),
              description=f"Normalize {source.name}: {what}" + (", one shard per partition." if partitioned else "."),
              **(ray.shard() if placed else {}),
              **describe("sources", {"python", "parquet", "jpeg"} if writes_images(source) else {"python", "parquet"},
                         source=source.name, family=source.family))
    def output(context: dg.AssetExecutionContext, workspace: Workspace) -> dg.MaterializeResult:
        ctx = workspace.ingest_context(context.log.info, ray.shard_workers if placed else None)
        with upstream_failures():
            if partitioned:
                report = IngestReport(source.name, reused=True)
                for key in context.partition_keys:
                    report.add(source.ingest(ctx, key))
            else:
                report = source.ingest(ctx)
        return dg.MaterializeResult(metadata=_report_metadata(report, workspace.layout()),
                                    check_results=_report_results(source, report),
                                    data_version=versions.of_outputs([*report.manifests, *report.tables.values()]))
    return output


@dg.asset(name="coco_annotations", group_name="spatialqa", deps=["coco_download"],
          description="COCO instances_train2017 boxes as a Parquet table (regions for spatial QA).",
          **describe("spatialqa", {"python", "parquet"}, source="coco"))
def coco_annotations_table(workspace: Workspace) -> dg.MaterializeResult:
    from pipeline.sources import coco_annotations

    counts = coco_annotations.build_instances(workspace.layout())
    table = coco_annotations.instances_path(workspace.layout())
    return dg.MaterializeResult(metadata=metadata({**counts, "table": table}) | table_metadata([table]),
                                data_version=versions.of_outputs([table]))


def _overlap_asset() -> dg.AssetsDefinition:
    sources = overlap_sources(OVERLAP_REFERENCE)

    @dg.asset(name="cauldron_overlap", group_name="mixture",
              deps=[output_asset(SOURCES[s]) for s in (*sources, OVERLAP_REFERENCE)],
              description="Records of the sources flagged as repeating the 665K (the cauldron's VQAv2/TextCaps) "
                          "whose image (sha256) and first question also appear in it; the mixture reads this table.",
              **describe("mixture", {"polars", "parquet"}))
    def cauldron_overlap_asset(workspace: Workspace) -> dg.MaterializeResult:
        from pipeline.overlap import cauldron_overlap

        report = cauldron_overlap(workspace.layout(), sources, OVERLAP_REFERENCE)
        by_source = [{"source": s, "records": o.records, "same_image": o.same_image,
                      "same_image_and_question": o.same_image_and_question,
                      "same_question_any_image": o.same_question_any_image} for s, o in report.by_source.items()]
        values = {"table": report.table, "records_665k": report.records_665k, "reused": report.reused,
                  "overlap": by_source}
        for s, o in report.by_source.items():
            values |= {f"{s}_same_image": o.same_image, f"{s}_same_image_and_question": o.same_image_and_question}
        return dg.MaterializeResult(metadata=metadata(values) | table_metadata([report.table]),
                                    data_version=versions.of_outputs([report.table]))
    return cauldron_overlap_asset


def source_assets(ray: RayPlacement = RayPlacement()) -> list[dg.AssetsDefinition]:
    """Built from the registry as it is when called (the definitions call it once); `ray`: what the
    output steps ask of Ray under deployment "ray"."""
    made = []
    for source in SOURCES.values():
        made.append(_download_asset(source))
        if source.family != "benchmark":  # a benchmark's eval table: assets/evaluation.py
            made.append(_output_asset(source, ray))
    return made + [coco_annotations_table, _overlap_asset()]


def ingest_jobs() -> list:
    """`ingest_<source>`: the shard partitions of one sharded source, for `dagster job backfill`."""
    return [dg.define_asset_job(f"ingest_{s.name}", selection=[output_asset(s)]) for s in SOURCES.values()
            if s.shard_keys]
