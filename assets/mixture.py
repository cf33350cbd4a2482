"""The `mixture` asset: merge every conversation table into the training mixture named by a recipe.

Thin by design: resolve the recipe and paths, call `pipeline.mixture.build`, turn its manifest into
metadata. The engine skips the work when inputs and recipe are unchanged (and the data version, its
step fingerprint, stays the same). It depends on every asset that writes a conversation table (derived
from the source registry), on `spatialqa` and on `cauldron_overlap`, whose table it reads. Its checks
are separate and blocking (`assets/mixture_checks.py`): `finetune` does not start on a mixture that
failed them."""

from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg

from assets import versions
from assets.catalog import describe
from assets.lib import metadata, rows_table, table_metadata
from assets.resources import Workspace
from assets.settings import resolve_recipe
from assets.sources import output_asset
from pipeline.sources.registry import SOURCES

if TYPE_CHECKING:
    from pipeline.mixture import MixtureReport


def conversation_assets() -> list[str]:
    """What the mixture reads: every asset that writes a conversation table, and the overlap table."""
    return [output_asset(s) for s in SOURCES.values() if s.tables] + ["spatialqa", "cauldron_overlap"]


class MixtureConfig(dg.Config):
    recipe: str = ""
    """Recipe file; empty: the workspace's (from the settings file). A relative path is looked up in the
    working directory, then the project root."""
    out_dir: str = ""
    """Output folder; empty: <data_root>/../mixtures/<recipe name>."""
    force: bool = False
    """Rebuild even when the inputs and the recipe are unchanged."""


def per_component(manifest: dict[str, Any]) -> dg.TableMetadataValue:
    rows = [{"component": c["name"], "read": c["read"], "rejected": c["rejected"], "duplicates": c["duplicates"],
             "overlap": c["overlap"], "overlap_dropped": bool(c["overlap_dropped"]), "sampled_out": c["sampled_out"],
             "records": c["records"], "expected": c["expected"], "tolerance": float(c["tolerance"] or 0.0),
             "within_tolerance": {True: "yes", False: "no", None: "n/a"}[c["within_tolerance"]]}
            for c in manifest["components"]]
    return rows_table(rows)


def preview_markdown(report: "MixtureReport", n: int = 3) -> str:
    import polars as pl

    head = pl.read_parquet(report.parquet_path, n_rows=n)
    blocks = []
    for r in head.iter_rows(named=True):
        turns = "\n".join(f"> **{t['from']}**: {t['value'][:300]}" for t in r["conversations"][:4])
        blocks.append(f"**{r['id']}** ({r['source']}) `{r['image'] or 'text-only'}`\n\n{turns}")
    return "\n\n---\n\n".join(blocks)


def mixture_asset() -> dg.AssetsDefinition:
    """Built when the definitions are, so its dependencies follow the source registry."""
    @dg.asset(
        group_name="mixture",
        deps=conversation_assets(),
        **describe("mixture", {"polars", "parquet", "json"}),
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
        out = metadata({
            "records": m["records"], "reused": report.skipped, "recipe": path,
            "rejections": m["rejections"], "duplicates": m["duplicates"], "overlap": m["overlap"], "ids": m["ids"],
            "json_path": report.json_path, "parquet_path": report.parquet_path,
            "rejections_path": report.rejections_path, "manifest_path": report.manifest_path,
            "content_hash": m["content_hash"],
        }) | table_metadata([report.parquet_path])
        out["per_component"] = per_component(m)
        out["preview"] = dg.MetadataValue.md(preview_markdown(report))
        return dg.MaterializeResult(metadata=out, data_version=versions.of_markers([report.manifest_path]))

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
