"""Checks of the source assets that re-read what was written, as separate asset checks: each can be
executed alone (the UI's *Execute*), and the checks of a sharded asset are partitioned like it, so
each shard shows its own result. They read the files the asset's latest materialization of that
partition reported (`assets/checks.py`)."""

from pathlib import Path

import dagster as dg

from pipeline.sources.base import Source
from pipeline.sources.registry import SOURCES

from .checks import nothing_to_check, number, paths, problem_list, reported
from .lib import counts_table, merge_counts
from .resources import Workspace
from .sources import output_asset, partitions, writes_images


def _images_decode(source: Source) -> dg.AssetChecksDefinition:
    asset = output_asset(source)

    @dg.asset_check(asset=asset, name="images_decode", partitions_def=partitions(source),
                    description="every written image fully decodes as an RGB/L JPEG and matches its manifest's sha256")
    def images_decode(context: dg.AssetCheckExecutionContext, workspace: Workspace) -> dg.AssetCheckResult:
        from pipeline.checks import check_manifest_images

        meta = reported(context, asset)
        if meta is None:
            return nothing_to_check("images_decode", asset)
        checked, problems = 0, []
        for manifest in paths(meta, "manifest"):
            if not manifest.is_file():
                problems.append(f"{manifest}: manifest missing")
                continue
            n, bad = check_manifest_images(workspace.layout().data_root, manifest, workspace.worker_count())
            checked, problems = checked + n, problems + bad
        return dg.AssetCheckResult(passed=not problems, metadata={
            "images_checked": checked, "problems": len(problems), "first_problems": problem_list(problems)})
    return images_decode


def _records_valid(source: Source) -> dg.AssetChecksDefinition:
    asset = output_asset(source)

    @dg.asset_check(asset=asset, name="records_valid",
                    description="every written record passes the record contract (ids unique, image present), "
                                "and the tables hold the records the run reported")
    def records_valid(context: dg.AssetCheckExecutionContext, workspace: Workspace) -> dg.AssetCheckResult:
        from pipeline.checks import check_conversations

        meta = reported(context, asset)
        if meta is None:
            return nothing_to_check("records_valid", asset)
        rows, violations = 0, []
        for table in paths(meta, "table"):
            if not Path(table).is_file():
                violations.append({"table_missing": 1})
                continue
            n, bad = check_conversations(workspace.layout(), table)
            rows, violations = rows + n, violations + [bad]
        expected = number(meta, "records_written") or 0
        merged = merge_counts(violations)
        return dg.AssetCheckResult(passed=not merged and rows == expected, metadata={
            "rows": rows, "expected_rows": expected, "violations": counts_table(merged)})
    return records_valid


def source_checks() -> list[dg.AssetChecksDefinition]:
    """The separate checks of every source output, from the registry as it is when called."""
    checks = [_images_decode(s) for s in SOURCES.values() if writes_images(s)]
    return checks + [_records_valid(s) for s in SOURCES.values() if s.tables]
