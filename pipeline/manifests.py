"""Reading the image manifests of every source: which images were written, and their sha256."""
from __future__ import annotations

from pathlib import Path

import polars as pl


def manifest_files(tables_root: Path) -> list[Path]:
    """Every shard manifest under the tables root (`<source>/images/<shard>.parquet`)."""
    return sorted(p for p in tables_root.glob("*/images/*.parquet") if not p.name.startswith((".", "_")))


def image_hashes(tables_root: Path) -> pl.DataFrame:
    """(path, sha256) of every written image, from all sources' image manifests."""
    files = manifest_files(tables_root)
    if not files:
        return pl.DataFrame(schema={"path": pl.String, "sha256": pl.String})
    return (pl.scan_parquet(files).select("path", "sha256")
            .filter(pl.col("path").is_not_null() & pl.col("sha256").is_not_null())
            .unique("path", keep="first", maintain_order=True).collect())
