"""Reading the inputs: each component's conversation table (a parquet file or a folder of parts) and
the image manifests' (path, sha256) pairs."""
from __future__ import annotations

from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from pipeline import tables
from pipeline.layout import Layout
from pipeline.recipe import Component, Recipe

CONVERSATIONS_SCHEMA = pl.Schema(pl.from_arrow(tables.CONVERSATIONS.empty_table()).schema)  # type: ignore[union-attr]


class MixtureError(RuntimeError):
    """An input the recipe needs is missing or unreadable; the message names it."""


def component_path(layout: Layout, c: Component) -> Path:
    return layout.tables(c.source) / c.table


def _parquet_files(path: Path) -> list[Path]:
    """A table is one parquet file or a folder of parts; hidden/underscore files are temp or metadata."""
    if path.is_file():
        return [path]
    if path.is_dir():
        parts = sorted(p for p in path.rglob("*.parquet") if not p.name.startswith((".", "_")))
        if parts:
            return parts
    raise MixtureError(f"conversation table not found: {path} (a parquet file or a folder of parts)")


def read_component(path: Path) -> pl.DataFrame:
    """Read a conversation table in the CONVERSATIONS schema (extra columns are ignored)."""
    parts = []
    for f in _parquet_files(path):
        names = pq.read_schema(f).names
        missing = [n for n in CONVERSATIONS_SCHEMA if n not in names]
        if missing:
            raise MixtureError(f"{f}: missing columns {missing}; expected the CONVERSATIONS schema")
        part = pl.read_parquet(f, columns=list(CONVERSATIONS_SCHEMA))
        if part.schema != CONVERSATIONS_SCHEMA:
            try:
                part = part.cast(CONVERSATIONS_SCHEMA)  # type: ignore[arg-type]
            except pl.exceptions.PolarsError as e:
                raise MixtureError(f"{f}: columns do not match the CONVERSATIONS schema: {e}") from e
        parts.append(part)
    return pl.concat(parts, rechunk=False)


def _image_column(recipe: Recipe, layout: Layout) -> pl.Series:
    """Every component's image paths, read alone (a small column) so the image listing can start
    before the full tables are read. A malformed table fails here too, but `read_component` reports it."""
    files = [f for c in recipe.components for f in _parquet_files(component_path(layout, c))]
    return pl.concat([pl.read_parquet(f, columns=["image"])["image"].cast(pl.String).unique() for f in files])
