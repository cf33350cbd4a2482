"""The mixture's checks: separate, blocking asset checks. In a run that also materializes `finetune`, a
failed one (severity ERROR) stops it; on its own, `finetune` refuses a mixture whose latest checks did
not pass (`assets/training.py`). Each can be executed alone: it re-reads the files the latest `mixture`
materialization reported.

Counts are graded: a component within its recipe tolerance passes; one within `WARN_BAND` times its
tolerance is a WARN (reported, training proceeds); further off is an ERROR."""

import json
from pathlib import Path
from typing import Any

import dagster as dg

from .checks import nothing_to_check, paths, reported
from .lib import rows_table
from .resources import Workspace

COUNTS_CHECK = "counts_within_tolerance"
IMAGES_CHECK = "image_paths_exist"
JSON_CHECK = "json_rereads_to_record_count"
MIXTURE_CHECKS = (COUNTS_CHECK, IMAGES_CHECK, JSON_CHECK)
WARN_BAND = 2.0  # a count off by up to twice its tolerance is worth a look, not a stop


def grade(records: int, expected: int | None, tolerance: float) -> str:
    """`ok`, `warn` or `error` for one component's count (`n/a` without an expectation)."""
    if expected is None:
        return "n/a"
    off = abs(records - expected) / expected if expected else (0.0 if records == 0 else float("inf"))
    return "ok" if off <= tolerance else "warn" if off <= tolerance * WARN_BAND else "error"


def _manifest(meta: dict[str, Any]) -> dict[str, Any]:
    return json.loads(Path(paths(meta, "manifest_path")[0]).read_text())


@dg.asset_check(asset="mixture", name=COUNTS_CHECK, blocking=True,
                description=f"Records per component within the recipe's tolerance (WARN within {WARN_BAND:g}x the "
                            "tolerance, ERROR beyond: blocks finetune)")
def counts_within_tolerance(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    meta = reported(context, "mixture")
    if meta is None:
        return nothing_to_check(COUNTS_CHECK, "mixture")
    rows = []
    for c in _manifest(meta)["components"]:
        tolerance = float(c["tolerance"] or 0.0)
        rows.append({"component": c["name"], "records": c["records"], "expected": c["expected"],
                     "tolerance": tolerance, "grade": grade(c["records"], c["expected"], tolerance)})
    grades = {r["grade"] for r in rows}
    severity = dg.AssetCheckSeverity.ERROR if "error" in grades else dg.AssetCheckSeverity.WARN
    return dg.AssetCheckResult(passed=not grades & {"warn", "error"}, severity=severity, metadata={
        "components": rows_table(rows), "off": sum(r["grade"] in ("warn", "error") for r in rows),
        "no_expectation": sum(r["grade"] == "n/a" for r in rows)})


@dg.asset_check(asset="mixture", name=IMAGES_CHECK, blocking=True,
                description="Every image path of the mixture exists under the data root")
def image_paths_exist(context: dg.AssetCheckExecutionContext, workspace: Workspace) -> dg.AssetCheckResult:
    import polars as pl

    from pipeline.mixture import images_exist

    meta = reported(context, "mixture")
    if meta is None:
        return nothing_to_check(IMAGES_CHECK, "mixture")
    images = pl.read_parquet(paths(meta, "parquet_path")[0], columns=["image"])["image"].drop_nulls()
    missing = images.filter(~images_exist(images, workspace.layout().data_root))
    return dg.AssetCheckResult(passed=missing.len() == 0, metadata={
        "images": images.len(), "missing": missing.len(),
        "first_missing": dg.MetadataValue.md("\n".join(f"- `{p}`" for p in missing.head(10).to_list()) or "none")})


@dg.asset_check(asset="mixture", name=JSON_CHECK, blocking=True,
                description="The LLaVA JSON re-reads to the manifest's record count")
def json_rereads(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    from pipeline.mixture import count_json_records

    meta = reported(context, "mixture")
    if meta is None:
        return nothing_to_check(JSON_CHECK, "mixture")
    expected = _manifest(meta)["records"]
    try:
        found = count_json_records(paths(meta, "json_path")[0])
    except (ValueError, OSError) as err:
        return dg.AssetCheckResult(passed=False, metadata={"manifest_records": expected,
                                                           "error": dg.MetadataValue.text(str(err))})
    return dg.AssetCheckResult(passed=found == expected, metadata={"manifest_records": expected, "json_records": found})


def mixture_checks() -> list[dg.AssetChecksDefinition]:
    return [counts_within_tolerance, image_paths_exist, json_rereads]
