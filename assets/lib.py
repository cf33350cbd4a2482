"""Shared helpers of the Dagster layer: the one way engine reports become metadata, and the checks
that several assets carry."""
from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional

import dagster as dg
import pydantic

_TYPES = {"str": str, "int": int, "float": float, "bool": bool}


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


def metadata(values: Mapping[str, Any]) -> dict[str, Any]:
    """An engine report (a flat mapping) as Dagster metadata, the same way for every asset: numbers and
    flags as they are, paths as paths, counts by key as a table, lists and nested mappings as JSON,
    anything else as text. `None` values are left out."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if value is None:
            continue
        if isinstance(value, (bool, int, float)) or isinstance(value, dg.MetadataValue):
            out[key] = value
        elif isinstance(value, Path):
            out[key] = dg.MetadataValue.path(str(value))
        elif isinstance(value, Mapping) and all(isinstance(v, int) and not isinstance(v, bool) for v in value.values()):
            out[key] = counts_table(value, "key" if key != "rejections" else "reason")
        elif isinstance(value, (Mapping, list, tuple)):
            out[key] = dg.MetadataValue.json(_plain(value))
        else:
            out[key] = dg.MetadataValue.text(str(value))
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return str(value) if isinstance(value, Path) else value


def config_from(name: str, engine: type, *, exclude: Iterable[str] = (), optional: bool = False,
                extra: Mapping[str, tuple[type, Any, str]] | None = None) -> type[dg.Config]:
    """A Dagster config class whose fields are an engine dataclass's (simple-typed) fields, so the
    launchpad and the engine never drift apart. `optional`: every field defaults to None, meaning
    "the engine's default" (for overrides on top of a preset); otherwise the engine's defaults show.
    `extra`: further fields as {name: (type, default, description)}."""
    fields: dict[str, Any] = {k: (t, pydantic.Field(d, description=desc)) for k, (t, d, desc) in (extra or {}).items()}
    for f in dataclasses.fields(engine):
        if f.name in exclude:
            continue
        kind = _TYPES[str(f.type)] if isinstance(f.type, str) else f.type
        help_text = f.metadata.get("help", "")
        if optional:
            fields[f.name] = (Optional[kind], pydantic.Field(None, description=f"{help_text} (empty: the preset's)"))
        else:
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
            fields[f.name] = (kind, pydantic.Field(default, description=help_text or None))
    return pydantic.create_model(name, __base__=dg.Config, **fields)


def merge_counts(counters: Iterable[Mapping[str, int]]) -> dict[str, int]:
    total: Counter = Counter()
    for c in counters:
        total.update(c)
    return dict(total)


# The checks every ingest asset carries, defined once.
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
