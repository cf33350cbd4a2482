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
