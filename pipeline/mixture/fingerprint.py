"""The mixture as a step of the step contract: its inputs (component tables, and the overlap table when
the recipe configures overlap), its config (the recipe as parsed, the data root) and its marker (the
manifest). The overlap table is produced by the overlap step (`pipeline.overlap`), run here when stale,
so the mixture always reads the overlap of exactly its inputs and never computes overlap itself."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.digests import file_identity
from pipeline.layout import Layout
from pipeline.manifests import manifest_files
from pipeline.mixture.read import MixtureError, _parquet_files, component_path
from pipeline.overlap import cauldron_overlap
from pipeline.progress import Log, default_log
from pipeline.recipe import Recipe
from pipeline.sources.registry import overlap_sources
from pipeline.step import Step

# Bump when the engine's output for the same inputs changes, so old mixtures are rebuilt.
ENGINE_VERSION = "2"


def overlap_table(recipe: Recipe, layout: Layout, log: Log = default_log) -> Path | None:
    """The overlap table the recipe's `[overlap]` reads (None when it configures none), made current."""
    if not recipe.overlap.sources:
        return None
    reference = recipe.component(recipe.overlap.reference).source
    measured = overlap_sources(reference)
    unmeasured = sorted({recipe.component(n).source for n in recipe.overlap.sources} - set(measured))
    if unmeasured:
        raise MixtureError(f"overlap: the overlap report does not measure {unmeasured} against {reference!r} "
                           f"(it measures {list(measured)}: sources flagged overlaps={reference!r} in the registry)")
    report = cauldron_overlap(layout, measured, reference)
    log(f"overlap vs {reference}: " + ", ".join(f"{s} {o.same_image_and_question:,}" for s, o in report.by_source.items())
        + (" (reused)" if report.reused else ""))
    return report.table


def mixture_step(recipe: Recipe, layout: Layout, out: Path, check_images: bool, overlap: Path | None) -> Step:
    """Image files are not inputs (millions of them): their manifests are, as the image check reads them."""
    files = [f for c in recipe.components for f in _parquet_files(component_path(layout, c))]
    images = manifest_files(layout.tables_root) if check_images else []
    return Step(out / "manifest.json", ENGINE_VERSION, [*files, *([overlap] if overlap else []), *images],
                {"recipe": recipe.raw, "data_root": str(layout.data_root), "check_images": check_images})


def input_list(step: Step, layout: Layout) -> list[dict[str, Any]]:
    """The step's input files as the manifest lists them: path (relative to the tables root), bytes, sha256."""
    listed = []
    for p in step.inputs:
        size, sha = file_identity(p).split(":", 1)
        path = str(p.relative_to(layout.tables_root)) if p.is_relative_to(layout.tables_root) else str(p)
        listed.append({"path": path, "bytes": int(size), "sha256": sha})
    return listed
