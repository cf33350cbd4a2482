"""Shared helpers of the Dagster layer: turning engine reports into metadata."""
from __future__ import annotations

from collections import Counter
from typing import Iterable, Mapping

import dagster as dg


def counts_table(counts: Mapping[str, int], key: str = "reason") -> dg.MarkdownMetadataValue:
    if not counts:
        return dg.MetadataValue.md("none")
    lines = [f"| {key} | count |", "|---|---|"] + [f"| {k} | {v:,} |" for k, v in sorted(counts.items())]
    return dg.MetadataValue.md("\n".join(lines))


def preview_table(rows: Iterable[Mapping[str, object]], columns: list[str], limit: int = 5) -> dg.MarkdownMetadataValue:
    rows = list(rows)[:limit]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for r in rows:
        cells = [str(r.get(c, ""))[:80].replace("|", "\\|").replace("\n", " ") for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return dg.MetadataValue.md("\n".join(lines))


def merge_counts(counters: Iterable[Mapping[str, int]]) -> dict[str, int]:
    total: Counter = Counter()
    for c in counters:
        total.update(c)
    return dict(total)


# The two checks every ingest asset carries, defined once.
def images_decode_spec(asset: str) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec("images_decode", asset=asset,
                             description="every written image fully decodes as RGB/L JPEG and matches its sha256")


def images_decode_result(checked: int, problems: list[str]) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(check_name="images_decode", passed=not problems, metadata={
        "checked": checked, "problems": len(problems),
        "first_problems": dg.MetadataValue.md("\n".join(problems[:10]) or "none")})


def records_valid_spec(asset: str) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec("records_valid", asset=asset,
                             description="every written record passes the record contract (ids unique, image present)")


def records_valid_result(rows: int, expected_rows: int, violations: dict[str, int]) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(check_name="records_valid", passed=not violations and rows == expected_rows,
                               metadata={"rows": rows, "expected_rows": expected_rows,
                                         "violations": counts_table(violations)})
