"""The merge: read and validate every component, drop duplicates, detect overlap with the reference,
sample, make ids unique, shuffle, and export the outputs and the manifest (`build`)."""
from __future__ import annotations

import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from pipeline import tables
from pipeline.layout import Layout
from pipeline.mixture.export import export, export_table
from pipeline.mixture.fingerprint import input_list, mixture_step, overlap_table
from pipeline.mixture.read import MixtureError, _image_column, component_path, read_component
from pipeline.mixture.contract import _in_slices, existing_images, missing_images, record_violations
from pipeline.progress import Log, default_log
from pipeline.recipe import Component, Recipe, resolve_expected, seed_deviation
from pipeline.step import Step


@dataclass(frozen=True)
class MixtureReport:
    manifest: dict[str, Any]
    out_dir: Path
    skipped: bool  # True when the inputs were unchanged and nothing was written

    @property
    def json_path(self) -> Path:
        return self.out_dir / self.manifest["outputs"]["json"]["file"]

    @property
    def parquet_path(self) -> Path:
        return self.out_dir / self.manifest["outputs"]["parquet"]["file"]

    @property
    def rejections_path(self) -> Path:
        return self.out_dir / self.manifest["outputs"]["rejections"]["file"]

    @property
    def manifest_path(self) -> Path:
        return self.out_dir / "manifest.json"


def _duplicates(records: pl.DataFrame, valid: pl.Expr) -> pl.DataFrame:
    """`_uid` of every valid record repeating an earlier valid one (same image path and same
    conversations) and the id of that first one. A 64-bit hash narrows the search to a few
    candidates; equality is then checked exactly on those."""
    # Hashing the nested column directly row-encodes it (a second copy of all text); hashing each
    # turn's text and folding the hashes, salted by turn position, costs no memory.
    turn_hash = (pl.element().struct.field("value").hash(seed=1)
                 ^ pl.int_range(pl.len()).cast(pl.UInt64).hash(seed=2))
    hashed = pl.when(valid).then(pl.col("image").hash(seed=0) ^ pl.col("conversations").list.eval(turn_hash).list.sum())
    candidates = records.filter(valid & hashed.is_duplicated())
    key = pl.struct("image", "conversations")
    return (candidates.with_columns(_first=pl.col("id").first().over(key))
            .filter(~key.is_first_distinct()).select("_uid", "_component", "_first"))


def _overlap(records: pl.DataFrame, keep: pl.Expr, recipe: Recipe, table: pl.DataFrame | None) -> pl.DataFrame:
    """Kept samples of the overlap components with the same image bytes and first question as a kept
    sample of the reference component, read from the overlap table (`pipeline.overlap`): `_uid`,
    component, and the first such reference id. `table` is None when the recipe configures no overlap."""
    if table is None:
        return pl.DataFrame(schema={"_uid": pl.Int64, "_component": pl.String, "_ref": pl.String})
    kept_refs = records.filter(keep & (pl.col("_component") == recipe.overlap.reference)).select("id")
    first_ref = (table.filter("same_question").join(kept_refs, left_on="llava_665k_id", right_on="id", how="semi")
                 .group_by("source", "id", maintain_order=True).agg(_ref=pl.col("llava_665k_id").first()))
    candidates = records.filter(keep & pl.col("image").is_not_null()
                                & pl.col("_component").is_in(recipe.overlap.sources)).select("_uid", "_component",
                                                                                             "source", "id")
    return candidates.join(first_ref, on=["source", "id"], how="inner").select("_uid", "_component", "_ref")


def _sample(kept: pl.DataFrame, recipe: Recipe) -> tuple[pl.DataFrame, dict[str, int]]:
    """Apply each component's `max_samples` / `fraction` to the kept rows (`_uid`, `_component`, in
    mixture order): a seeded subset, in the original order."""
    sizes = _counts(kept)
    picked: list[pl.DataFrame] = []
    sampled_out = {}
    for stream, c in enumerate(recipe.components):
        n = sizes.get(c.name, 0)
        k = n
        if c.fraction is not None:
            k = min(k, round(n * c.fraction))
        if c.max_samples is not None:
            k = min(k, c.max_samples)
        sampled_out[c.name] = n - k
        if k < n:
            rng = np.random.Generator(np.random.PCG64([recipe.seed, stream]))
            picked.append(pl.DataFrame({"_component": c.name, "_pos": np.sort(rng.choice(n, size=k, replace=False))},
                                       schema={"_component": pl.String, "_pos": pl.Int64}))
    if picked:
        sampled = [c.name for c in recipe.components if sampled_out[c.name]]
        positions = kept.with_columns(_pos=pl.int_range(pl.len(), dtype=pl.Int64).over("_component"))
        drop = (positions.filter(pl.col("_component").is_in(sampled))
                .join(pl.concat(picked), on=["_component", "_pos"], how="anti"))
        kept = kept.filter(~pl.col("_uid").is_in(drop["_uid"].implode()))
    return kept, sampled_out


def _unique_ids(df: pl.DataFrame) -> tuple[pl.DataFrame, int, int]:
    """Fill missing ids as `<component>-<row>`; rename later repeats `<id>~<component>-<k>` (k-th
    repeat, in mixture order) until every id is unique. Returns the frame, #assigned, #renamed."""
    missing = pl.col("id").is_null() | (pl.col("id") == "")
    assigned = df.select(missing.sum()).item()
    df = df.with_columns(id=pl.when(missing).then(pl.format("{}-{}", "_component", "_row")).otherwise("id"))
    renamed = 0
    for _ in range(8):
        repeat = ~pl.col("id").is_first_distinct()
        n = df.select(repeat.sum()).item()
        if n == 0:
            return df, assigned, renamed
        renamed += n
        k = pl.int_range(pl.len()).over("id")
        df = df.with_columns(id=pl.when(repeat).then(pl.format("{}~{}-{}", "id", "_component", k)).otherwise("id"))
    raise MixtureError("could not make ids unique after 8 renaming rounds")


def _rejection_rows(df: pl.DataFrame, reason: pl.Expr, detail: pl.Expr) -> pl.DataFrame:
    return df.select(source=pl.col("source"), source_id=pl.coalesce("source_id", "id"), reason=reason, detail=detail)


def _counts(df: pl.DataFrame) -> dict[str, int]:
    return dict(df.group_by("_component").len().iter_rows())


def build(recipe: Recipe, layout: Layout, out_dir: Path | None = None, *, check_images: bool = True,
          force: bool = False, log: Log = default_log) -> MixtureReport:
    """Merge, validate and export the mixture. `check_images=False` skips the image-existence rule
    (for benchmarks of the merge alone; the manifest records it). Reruns over unchanged inputs
    return the existing manifest with `skipped=True` unless `force`."""
    out = Path(out_dir) if out_dir else layout.mixture_dir(recipe.name)
    recipe = resolve_expected(recipe, layout.tables_root)  # `expected = "source"`: from the source's report
    overlap = overlap_table(recipe, layout, log)
    step = mixture_step(recipe, layout, out, check_images, overlap)
    if not force and (done := step.current()) is not None:
        log(f"mixture {recipe.name}: inputs unchanged ({step.fingerprint[:12]}), keeping {out}")
        return MixtureReport(done, out, skipped=True)

    # Side work runs in a background thread while the main thread reads (polars releases the GIL):
    # the image listing, then half of the validation.
    background = ThreadPoolExecutor(max_workers=1)
    try:
        return _build(recipe, layout, out, step, overlap, check_images, background, log)
    finally:
        background.shutdown(cancel_futures=True)


def _build(recipe: Recipe, layout: Layout, out: Path, step: Step, overlap: Path | None, check_images: bool,
           background: ThreadPoolExecutor, log: Log) -> MixtureReport:
    existing = (background.submit(lambda: existing_images(_image_column(recipe, layout), layout.data_root))
                if check_images else None)
    frames = []
    for c in recipe.components:
        df = read_component(component_path(layout, c))
        log(f"mixture {recipe.name}: {c.name}: {df.height:,} records from {component_path(layout, c)}")
        frames.append(df.with_columns(source=pl.col("source").fill_null(c.source), _component=pl.lit(c.name),
                                      _row=pl.int_range(pl.len(), dtype=pl.Int64)))
    records = pl.concat(frames, rechunk=False).with_columns(_uid=pl.int_range(pl.len(), dtype=pl.Int64))
    del frames
    counts = {"read": _counts(records)}

    violations = _in_slices(record_violations, records, background)
    image_ok = records["image"].is_in(existing.result().implode()).fill_null(False) if existing else None
    records = records.with_columns(missing_images(violations, records["image"], image_ok))
    del violations
    bad = records.filter(pl.col("reason").is_not_null())
    rejections = [_rejection_rows(bad, pl.col("reason"), pl.col("detail"))]
    counts["rejected"] = _counts(bad)
    by_reason = dict(bad.group_by("reason").len().sort("reason").iter_rows())
    del bad
    # Records are never copied from here on: each step narrows `keep`, and the export gathers the
    # kept rows batch by batch.
    records = records.with_columns(image=pl.when(pl.col("image") == "").then(None).otherwise("image"))
    log(f"mixture {recipe.name}: {records.height - sum(by_reason.values()):,} valid, "
        f"{sum(by_reason.values()):,} rejected by the contract")
    keep = pl.col("reason").is_null()

    dups = _duplicates(records, keep)
    counts["duplicates"] = _counts(dups)
    if recipe.duplicates == "drop":
        rejections.append(_rejection_rows(records.join(dups, on="_uid", how="inner"), pl.lit("duplicate"),
                                          pl.format("same image and conversations as {}", "_first")))
        keep = keep & ~pl.col("_uid").is_in(dups["_uid"].implode())

    hits = _overlap(records, keep, recipe, pl.read_parquet(overlap) if overlap else None)
    counts["overlap"] = _counts(hits)
    if recipe.overlap.policy == "drop":
        dropped = records.join(hits.drop("_component"), on="_uid", how="inner")
        rejections.append(_rejection_rows(dropped, pl.lit("overlap"), pl.format(
            "same image and first question as {} {}", pl.lit(recipe.overlap.reference), "_ref")))
        keep = keep & ~pl.col("_uid").is_in(hits["_uid"].implode())

    kept = records.select("_uid", "_component", "_row", "id", _keep=keep).filter("_keep").drop("_keep")
    kept, sampled_out = _sample(kept, recipe)
    kept, ids_assigned, ids_renamed = _unique_ids(kept)
    order = kept[np.random.Generator(np.random.PCG64(recipe.seed)).permutation(kept.height)].select("_uid", "id")
    counts["records"] = _counts(kept)
    log(f"mixture {recipe.name}: {order.height:,} records after dedup/overlap/sampling, shuffled (seed {recipe.seed})")

    rejected = pl.concat(rejections)
    # Everything is written into a hidden staging folder first and moved into place only once all
    # of it exists, manifest last: a killed run never leaves a new JSON beside an old manifest.
    stage = out / f".staging-{step.fingerprint[:16]}"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    try:
        json_out, parquet_out = export(records, order, stage / f"{recipe.name}.json",
                                       stage / f"{recipe.name}.parquet")
        assert parquet_out is not None
        rejections_out = export_table(rejected, stage / "rejections.parquet", tables.REJECTIONS)
        manifest = {
            "name": recipe.name,
            "recipe_version": recipe.version,
            "recipe": recipe.raw,
            "recipe_sha256": recipe.sha256,
            "inputs": input_list(step, layout),
            "data_root": str(layout.data_root),
            "check_images": check_images,
            "seed": recipe.seed,
            "records": order.height,
            "content_hash": json_out["sha256"],
            "components": [_component_counts(c, recipe, counts, sampled_out[c.name]) for c in recipe.components],
            "seed_composition": seed_deviation(recipe, counts["records"]),
            "rejections": by_reason,
            "duplicates": {"policy": recipe.duplicates, "found": dups.height},
            "overlap": {"policy": recipe.overlap.policy, "sources": list(recipe.overlap.sources),
                        "reference": recipe.overlap.reference, "found": hits.height},
            "ids": {"assigned": ids_assigned, "renamed": ids_renamed},
            "outputs": {"json": json_out, "parquet": parquet_out, "rejections": rejections_out},
        }
        written = (json_out, parquet_out, rejections_out)
        for o in written:
            os.replace(stage / o["file"], out / o["file"])
        step.finish(manifest, [out / o["file"] for o in written], {out / o["file"]: o["sha256"] for o in written})
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    log(f"mixture {recipe.name}: wrote {out / json_out['file']} ({json_out['bytes']:,} B), "
        f"{parquet_out['file']}, {rejections_out['file']} and manifest.json")
    return MixtureReport(manifest, out, skipped=False)


def _component_counts(c: Component, recipe: Recipe, counts: dict[str, dict[str, int]],
                      sampled_out: int) -> dict[str, Any]:
    def n(stage: str) -> int:
        return counts[stage].get(c.name, 0)
    records = n("records")
    tol = recipe.tolerance_of(c)
    within = None if c.expected is None else abs(records - c.expected) <= tol * c.expected
    return {"name": c.name, "source": c.source, "table": c.table, "read": n("read"), "rejected": n("rejected"),
            "duplicates": n("duplicates"),
            "duplicates_dropped": n("duplicates") if recipe.duplicates == "drop" else 0,
            "overlap": n("overlap"), "overlap_dropped": n("overlap") if recipe.overlap.policy == "drop" else 0,
            "sampled_out": sampled_out, "records": records, "expected": c.expected, "tolerance": tol,
            "within_tolerance": within}
