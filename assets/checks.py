"""What separate asset checks share: they re-examine the files an asset's latest materialization (of
the check's partition) reported, so each can be executed alone from the UI, at any time, against
what is on disk now."""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

import dagster as dg


def reported(context: dg.AssetCheckExecutionContext, asset: str) -> Mapping[str, dg.MetadataValue] | None:
    """The metadata of `asset`'s latest materialization (of this check's partition), or None."""
    partition = context.partition_key if context.has_partition_key else None
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[partition] if partition else None),
        limit=1).records
    if not records or records[0].asset_materialization is None:
        return None
    return records[0].asset_materialization.metadata


def paths(meta: Mapping[str, dg.MetadataValue], prefix: str) -> list[Path]:
    """The file paths reported under `prefix` (one entry per file, see `assets.lib.metadata`)."""
    return [Path(v.value) for k, v in meta.items()
            if (k == prefix or k.startswith(f"{prefix} [")) and isinstance(v, dg.PathMetadataValue)]


def number(meta: Mapping[str, dg.MetadataValue], key: str) -> int | None:
    value = meta.get(key)
    return None if value is None else int(value.value)  # type: ignore[arg-type]


def nothing_to_check(check: str, asset: str) -> dg.AssetCheckResult:
    """Run before the asset has a materialization (of this partition): a warning, not an error."""
    return dg.AssetCheckResult(check_name=check, passed=False, severity=dg.AssetCheckSeverity.WARN,
                               description=f"{asset} has no materialization to check yet",
                               metadata={"reason": dg.MetadataValue.text("not materialized yet")})


def problem_list(problems: list[str], limit: int = 10) -> dg.MarkdownMetadataValue:
    shown = "\n".join(f"- `{p}`" for p in problems[:limit]) or "none"
    more = f"\n\n… and {len(problems) - limit} more" if len(problems) > limit else ""
    return dg.MetadataValue.md(shown + more)
