"""The `mixture` asset: merge every conversation table into the training mixture named by a recipe.

Thin by design: resolve the recipe and paths, call `pipeline.mixture.build`, turn its manifest into
metadata and check results. The engine skips the work when inputs and recipe are unchanged."""
# No `from __future__ import annotations`: Dagster reads the config and resource annotations at runtime.

import os
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl

from assets.resources import Workspace
from pipeline.mixture import MixtureReport, build, count_json_records, images_exist
from pipeline.recipe import load as load_recipe

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CONVERSATION_ASSETS = ["llava_665k_conversations", "visualmrc_conversations", "textcaps_conversations",
                       "clevr_conversations", "vqav2_conversations", "openspaces_conversations", "spatialqa"]
COUNTS_CHECK = "counts_within_tolerance"
IMAGES_CHECK = "image_paths_exist"
JSON_CHECK = "json_rereads_to_record_count"


class MixtureConfig(dg.Config):
    recipe: str = ""
    """Recipe file; empty: $SPATIALMIX_RECIPE (read at run time) or recipes/spatial_llava.toml. A relative
    path is looked up in the working directory, then the project root."""
    out_dir: str = ""
    """Output folder; empty: <data_root>/../mixtures/<recipe name>."""
    force: bool = False
    """Rebuild even when the inputs and the recipe are unchanged."""


def recipe_path(value: str) -> Path:
    path = Path(value)
    if path.is_absolute() or path.exists():
        return path
    return PROJECT_ROOT / path


def per_source_markdown(manifest: dict[str, Any]) -> str:
    rows = ["| component | read | rejected | duplicates | overlap | sampled out | records | expected | ok |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for c in manifest["components"]:
        ok = {True: "yes", False: "**no**", None: "n/a"}[c["within_tolerance"]]
        expected = "" if c["expected"] is None else f"{c['expected']:,} ± {c['tolerance']:.0%}"
        overlap = f"{c['overlap']:,}" + (" dropped" if c["overlap_dropped"] else "")
        rows.append(f"| {c['name']} | {c['read']:,} | {c['rejected']:,} | {c['duplicates']:,} | {overlap} | "
                    f"{c['sampled_out']:,} | {c['records']:,} | {expected} | {ok} |")
    return "\n".join(rows)


def preview_markdown(report: MixtureReport, n: int = 3) -> str:
    head = pl.read_parquet(report.parquet_path, n_rows=n)
    blocks = []
    for r in head.iter_rows(named=True):
        turns = "\n".join(f"> **{t['from']}**: {t['value'][:300]}" for t in r["conversations"][:4])
        blocks.append(f"**{r['id']}** ({r['source']}) `{r['image'] or 'text-only'}`\n\n{turns}")
    return "\n\n---\n\n".join(blocks)


def check_results(report: MixtureReport, data_root: Path) -> list[dg.AssetCheckResult]:
    m = report.manifest
    off = [c for c in m["components"] if c["within_tolerance"] is False]
    unchecked = [c["name"] for c in m["components"] if c["within_tolerance"] is None]
    counts = dg.AssetCheckResult(
        check_name=COUNTS_CHECK, passed=not off,
        metadata={"outside_tolerance": dg.MetadataValue.json(
                      {c["name"]: {"records": c["records"], "expected": c["expected"], "tolerance": c["tolerance"]}
                       for c in off}),
                  "no_expectation": dg.MetadataValue.json(unchecked)})

    images = pl.read_parquet(report.parquet_path, columns=["image"])["image"]
    with_image = images.drop_nulls()
    missing = with_image.filter(~images_exist(with_image, data_root))
    exist = dg.AssetCheckResult(
        check_name=IMAGES_CHECK, passed=missing.len() == 0,
        metadata={"images": with_image.len(), "missing": missing.len(),
                  "first_missing": dg.MetadataValue.json(missing.head(10).to_list())})

    try:
        reread: int | str = count_json_records(report.json_path)
    except ValueError as e:
        reread = str(e)
    rereads = dg.AssetCheckResult(
        check_name=JSON_CHECK, passed=reread == m["records"],
        metadata={"manifest_records": m["records"], "json_records": dg.MetadataValue.text(str(reread))})
    return [counts, exist, rereads]


@dg.asset(
    group_name="mixture",
    deps=CONVERSATION_ASSETS,
    kinds={"polars", "parquet", "json"},
    check_specs=[
        dg.AssetCheckSpec(COUNTS_CHECK, asset="mixture",
                          description="Records per component within the recipe's tolerance of its expectation"),
        dg.AssetCheckSpec(IMAGES_CHECK, asset="mixture",
                          description="Every image path of the mixture exists under the data root"),
        dg.AssetCheckSpec(JSON_CHECK, asset="mixture",
                          description="The LLaVA JSON re-reads to the manifest's record count"),
    ],
)
def mixture(context: dg.AssetExecutionContext, config: MixtureConfig, workspace: Workspace) -> dg.MaterializeResult:
    """The LLaVA-format training mixture (JSON + Parquet with provenance + rejections + manifest)."""
    layout = workspace.layout()
    path = recipe_path(config.recipe or os.environ.get("SPATIALMIX_RECIPE", "recipes/spatial_llava.toml"))
    recipe = load_recipe(path)
    report = build(recipe, layout, Path(config.out_dir) if config.out_dir else None, force=config.force,
                   log=context.log.info)
    m = report.manifest
    return dg.MaterializeResult(
        metadata={
            "records": m["records"],
            "reused": report.skipped,
            "recipe": dg.MetadataValue.path(str(path)),
            "per_source": dg.MetadataValue.md(per_source_markdown(m)),
            "rejections": dg.MetadataValue.json(m["rejections"]),
            "duplicates": dg.MetadataValue.json(m["duplicates"]),
            "overlap": dg.MetadataValue.json(m["overlap"]),
            "ids": dg.MetadataValue.json(m["ids"]),
            "json_path": dg.MetadataValue.path(str(report.json_path)),
            "parquet_path": dg.MetadataValue.path(str(report.parquet_path)),
            "rejections_path": dg.MetadataValue.path(str(report.rejections_path)),
            "manifest_path": dg.MetadataValue.path(str(report.manifest_path)),
            "content_hash": m["content_hash"],
            "preview": dg.MetadataValue.md(preview_markdown(report)),
        },
        check_results=check_results(report, layout.data_root),
    )


defs = dg.Definitions(assets=[mixture])
