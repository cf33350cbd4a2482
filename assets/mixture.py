"""The `mixture` asset: merge every conversation table into the training mixture named by a recipe.

Thin by design: resolve the recipe and paths, call `pipeline.mixture.build`, turn its manifest into
metadata and check results. The engine skips the work when inputs and recipe are unchanged. It depends
on every asset that writes a conversation table (derived from the source registry), on `spatialqa`
and on `cauldron_overlap`, whose table it reads."""


from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg

from assets.resources import Workspace
from assets.settings import resolve_recipe
from assets.sources import output_asset
from pipeline.sources.registry import SOURCES

if TYPE_CHECKING:
    from pipeline.mixture import MixtureReport



def conversation_assets() -> list[str]:
    """What the mixture reads: every asset that writes a conversation table, and the overlap table."""
    return [output_asset(s) for s in SOURCES.values() if s.tables] + ["spatialqa", "cauldron_overlap"]

COUNTS_CHECK = "counts_within_tolerance"
IMAGES_CHECK = "image_paths_exist"
JSON_CHECK = "json_rereads_to_record_count"


class MixtureConfig(dg.Config):
    recipe: str = ""
    """Recipe file; empty: the workspace's (from the settings file). A relative path is looked up in the
    working directory, then the project root."""
    out_dir: str = ""
    """Output folder; empty: <data_root>/../mixtures/<recipe name>."""
    force: bool = False
    """Rebuild even when the inputs and the recipe are unchanged."""


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


def preview_markdown(report: "MixtureReport", n: int = 3) -> str:
    import polars as pl

    head = pl.read_parquet(report.parquet_path, n_rows=n)
    blocks = []
    for r in head.iter_rows(named=True):
        turns = "\n".join(f"> **{t['from']}**: {t['value'][:300]}" for t in r["conversations"][:4])
        blocks.append(f"**{r['id']}** ({r['source']}) `{r['image'] or 'text-only'}`\n\n{turns}")
    return "\n\n---\n\n".join(blocks)


def check_results(report: "MixtureReport", data_root: Path) -> list[dg.AssetCheckResult]:
    import polars as pl

    from pipeline.mixture import count_json_records, images_exist

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


def mixture_asset() -> dg.AssetsDefinition:
    """Built when the definitions are, so its dependencies follow the source registry."""
    @dg.asset(
        group_name="mixture",
        deps=conversation_assets(),
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
        from pipeline.mixture import build
        from pipeline.recipe import RecipeError, check_sources, load as load_recipe
        from pipeline.sources.registry import component_tables

        layout = workspace.layout()
        path = Path(resolve_recipe(config.recipe or workspace.recipe, Path.cwd()))
        try:
            recipe = check_sources(load_recipe(path), component_tables())
        except (RecipeError, FileNotFoundError) as err:
            raise dg.Failure(str(err)) from err
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
    return mixture


REFERENCE_RECIPE = "recipes/reference.toml"
REFERENCE_CHECK = "matches_reference"


def reference_check() -> dg.AssetChecksDefinition:
    """`matches_reference` on `mixture`: the workspace recipe's mixture against the published
    Spatial-LLaVA mixture (recipes/reference.toml, built here when stale; for the reference recipe
    itself, against the published annotation as downloaded). Passes when the reference's records
    missing from ours plus those whose conversations differ stay within the reference recipe's
    tolerance; records only ours hold (e.g. generated spatial QA) are reported, not counted."""
    @dg.asset_check(asset="mixture", name=REFERENCE_CHECK, additional_deps=["spatial_llava_850k_conversations"],
                    description="The mixture covers the published Spatial-LLaVA mixture (per folder, "
                                "records only in one, conversation differences)")
    def matches_reference(context: dg.AssetCheckExecutionContext, workspace: Workspace) -> dg.AssetCheckResult:
        from pipeline.mixture import build
        from pipeline.mixture_diff import diff
        from pipeline.recipe import load as load_recipe
        from pipeline.sources.registry import REFERENCE_850K

        from pipeline.recipe import RecipeError

        layout = workspace.layout()
        ours = load_recipe(resolve_recipe(workspace.recipe, Path.cwd()))
        reference = load_recipe(resolve_recipe(REFERENCE_RECIPE, Path.cwd()))
        try:
            if ours.name == reference.name:
                a, b = layout.mixture_dir(ours.name), REFERENCE_850K.annotation_path(layout)
            else:
                a, b = layout.mixture_dir(ours.name), build(reference, layout, log=context.log.info).out_dir
        except (FileNotFoundError, RecipeError) as err:  # the reference was not ingested: no comparison
            return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.WARN,
                                       metadata={"not_compared": dg.MetadataValue.text(str(err))})
        d = diff(a, b)
        allowed = reference.tolerance * d.records["b"]
        return dg.AssetCheckResult(
            passed=d.only_b + d.differ <= allowed,
            metadata={"mixture": dg.MetadataValue.path(str(a)), "reference": dg.MetadataValue.path(str(b)),
                      "by_folder": dg.MetadataValue.md(d.markdown()), "only_ours": d.only_a,
                      "only_reference": d.only_b, "in_both": d.shared, "conversations_differ": d.differ,
                      "allowed": dg.MetadataValue.float(allowed), "examples": dg.MetadataValue.json(d.examples)})
    return matches_reference
