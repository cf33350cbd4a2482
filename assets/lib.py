"""Shared helpers of the Dagster layer: the one way engine reports become metadata, the standard table
metadata of Parquet outputs, pictures in metadata, and config classes derived from engine dataclasses."""
from __future__ import annotations

import base64
import dataclasses
import enum
import typing
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence

import dagster as dg
import pydantic


def counts_table(counts: Mapping[str, int], key: str = "reason") -> dg.TableMetadataValue:
    """{key: count} as a two-column table, largest first (empty when there is nothing to count)."""
    schema = dg.TableSchema(columns=[dg.TableColumn(key, "string"), dg.TableColumn("count", "int")])
    rows = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return dg.MetadataValue.table([dg.TableRecord({key: str(k), "count": int(v)}) for k, v in rows], schema)


def rows_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> dg.TableMetadataValue:
    """Rows of plain values as a table; a column's type from its first value (long text shortened)."""
    columns = list(columns or (rows[0].keys() if rows else []))
    kinds = {c: _column_type(next((r[c] for r in rows if r.get(c) is not None), None)) for c in columns}
    schema = dg.TableSchema(columns=[dg.TableColumn(c, kinds[c]) for c in columns])
    records = [dg.TableRecord({c: _cell(r.get(c), kinds[c]) for c in columns}) for r in rows]
    return dg.MetadataValue.table(records, schema)


def _column_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    return "int" if isinstance(value, int) else "float" if isinstance(value, float) else "string"


def _cell(value: Any, kind: str) -> Any:
    if value is None or kind != "string":
        return value
    text = str(value).replace("\n", " ")
    return text if len(text) <= 120 else text[:117] + "..."


def metadata(values: Mapping[str, Any]) -> dict[str, Any]:
    """An engine report (a mapping) as Dagster metadata, the same way for every asset: numbers and flags
    as they are, a path as a path (a list or mapping of paths: one path entry each), counts by key as a
    table, uniform rows (a list of them, or a mapping of them keyed by name) as a table, other lists and
    mappings as JSON, anything else as text.
    `None` values are left out."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if value is None:
            continue
        if isinstance(value, (bool, int, float)) or isinstance(value, dg.MetadataValue):
            out[key] = value
        elif isinstance(value, Path):
            out[key] = dg.MetadataValue.path(str(value))
        elif _paths(value):
            items = value.items() if isinstance(value, Mapping) else ((Path(p).name, p) for p in value)
            single = len(value) == 1 and not isinstance(value, Mapping)
            out |= {key if single else f"{key} [{name}]": dg.MetadataValue.path(str(p)) for name, p in items}
        elif isinstance(value, Mapping) and all(isinstance(v, int) and not isinstance(v, bool) for v in value.values()):
            out[key] = counts_table(value, _key_column(key))
        elif isinstance(value, (list, tuple)) and _uniform_rows(value):
            out[key] = rows_table(value)
        elif isinstance(value, Mapping) and _uniform_rows(list(value.values())):
            out[key] = rows_table([{_key_column(key): str(k), **v} for k, v in value.items()])
        elif isinstance(value, (Mapping, list, tuple)):
            out[key] = dg.MetadataValue.json(_plain(value))
        else:
            out[key] = dg.MetadataValue.text(str(value))
    return out


def _key_column(key: str) -> str:
    """The name of a table's key column, from the metadata key: `rejections` -> reason,
    `pairs_per_category` -> category, `by_split` -> split, else `key`."""
    if "reject" in key or "reason" in key:
        return "reason"
    for marker in ("_per_", "by_"):
        if marker in key:
            return key.rsplit(marker, 1)[1]
    return "key"


def _uniform_rows(rows: Sequence[Any]) -> bool:
    """Mappings with the same keys and scalar values: a table."""
    return bool(rows) and all(isinstance(r, Mapping) for r in rows) and len({tuple(r) for r in rows}) == 1 \
        and all(v is None or isinstance(v, (str, int, float, bool)) for r in rows for v in r.values())


def _paths(value: Any) -> bool:
    items = value.values() if isinstance(value, Mapping) else value if isinstance(value, (list, tuple)) else None
    return bool(items) and all(isinstance(p, Path) for p in items)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return str(value) if isinstance(value, Path) else value


def table_metadata(tables: Iterable[Path]) -> dict[str, Any]:
    """`dagster/row_count` and `dagster/column_schema` of Parquet outputs (files or folders of parts
    with one schema), read from their footers: the asset's Columns tab and row-count history."""
    import pyarrow.parquet as pq

    files = [f for t in tables for f in (sorted(t.glob("*.parquet")) if t.is_dir() else [t]) if f.is_file()]
    if not files:
        return {}
    schema = pq.read_schema(files[0])
    columns = [dg.TableColumn(f.name, str(f.type)) for f in schema]
    return {"dagster/row_count": sum(pq.read_metadata(f).num_rows for f in files),
            "dagster/column_schema": dg.TableSchema(columns=columns)}


def picture(data: bytes, mime: str, alt: str) -> dg.MarkdownMetadataValue:
    """An image shown inline in the UI (Markdown with a data URI: the UI renders it on the asset's
    page and in the run's events). Keep it small: it is stored with every materialization."""
    return dg.MetadataValue.md(f"![{alt}](data:{mime};base64,{base64.b64encode(data).decode()})")


def config_from(name: str, engine: type, *, exclude: Iterable[str] = (), optional: bool = False,
                extra: Mapping[str, tuple[Any, Any, str]] | None = None) -> type[dg.Config]:
    """A Dagster config class whose fields are an engine dataclass's fields (types resolved from its
    annotations), so the launchpad and the engine never drift apart. `optional`: every field defaults
    to None, meaning "the engine's default" (for overrides on top of a preset); otherwise the engine's
    defaults show. `extra`: further fields as {name: (type, default, description)} (an Enum type shows
    as a choice in the launchpad)."""
    hints = typing.get_type_hints(engine)
    fields: dict[str, Any] = {k: (t, pydantic.Field(d, description=desc)) for k, (t, d, desc) in (extra or {}).items()}
    for f in dataclasses.fields(engine):
        if f.name in exclude:
            continue
        kind = hints[f.name]
        help_text = f.metadata.get("help", "")
        if optional:
            fields[f.name] = (Optional[kind], pydantic.Field(None, description=f"{help_text} (empty: the preset's)"))
        else:
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
            fields[f.name] = (kind, pydantic.Field(default, description=help_text or None))
    return pydantic.create_model(name, __base__=dg.Config, **fields)


def choices(name: str, values: Iterable[str]) -> type[enum.Enum]:
    """An Enum of string choices (a dropdown in the launchpad); member names are the values."""
    return enum.Enum(name, {v: v for v in values}, type=str)


def merge_counts(counters: Iterable[Mapping[str, int]]) -> dict[str, int]:
    total: Counter = Counter()
    for c in counters:
        total.update(c)
    return dict(total)
