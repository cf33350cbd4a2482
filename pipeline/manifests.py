"""The image manifests are the truth about the data root: which images were written (ok rows, with
their sha256), read by every record's existence check instead of the disk, so an image a source no
longer writes (quarantined, or gone upstream) is never trusted even while an old file is still there.
A shard also removes such files itself (`remove_stale_images`).

Images of a top-level folder for which no source keeps manifests (spatial QA's copies) are checked
on disk."""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable

from .names import path_problem
from .records import exists_under

if TYPE_CHECKING:
    import polars as pl  # imported where used: the ingest processes need not pay for it


def manifest_files(tables_root: Path) -> list[Path]:
    """Every shard manifest under the tables root (`<source>/images/<shard>.parquet`)."""
    return sorted(p for p in tables_root.glob("*/images/*.parquet") if not p.name.startswith((".", "_")))


def image_hashes(tables_root: Path) -> "pl.DataFrame":
    """(path, sha256) of every written image, from all sources' image manifests."""
    import polars as pl

    files = manifest_files(tables_root)
    if not files:
        return pl.DataFrame(schema={"path": pl.String, "sha256": pl.String})
    return (pl.scan_parquet(files).select("path", "sha256")
            .filter(pl.col("path").is_not_null() & pl.col("sha256").is_not_null())
            .unique("path", keep="first", maintain_order=True).collect())


def written_paths(manifests: Iterable[Path]) -> set[str]:
    """The paths the given manifests list as written (absent manifests list nothing)."""
    import pyarrow.parquet as pq  # here, not at module level: the Dagster definitions import this module

    return {p for m in manifests if m.is_file() for p in pq.read_table(m, columns=["path"]).column(0).to_pylist() if p}


def covered_folders(tables_root: Path) -> set[str]:
    """Top-level data-root folders whose images are listed by manifests (a source's folder is its name)."""
    return {m.parent.parent.name for m in manifest_files(tables_root)}


def image_exists(data_root: Path, tables_root: Path) -> Callable[[str], bool]:
    """The record contract's `image_exists`: listed as written by a manifest (for folders that have
    manifests), else a file under the data root."""
    written = written_paths(manifest_files(tables_root))
    covered = covered_folders(tables_root)
    on_disk = exists_under(data_root)

    def exists(rel: str) -> bool:
        if rel.split("/", 1)[0] in covered:
            return rel in written
        try:
            return on_disk(rel)
        except (ValueError, OSError):  # e.g. an embedded NUL byte: no such file can exist
            return False

    return exists


def remove_stale_images(data_root: Path, manifest: Path, now_written: set[str]) -> int:
    """Delete the images `manifest` (a shard's previous manifest) lists and the shard no longer
    writes, unless another manifest of the same source lists them now; return how many were removed.
    Call before the shard's new manifest replaces the old one, so a kill in between loses nothing."""
    stale = written_paths([manifest]) - now_written
    if not stale:
        return 0
    stale -= written_paths(m for m in manifest.parent.glob("*.parquet")
                           if m != manifest and not m.name.startswith((".", "_")))
    removed = 0
    for rel in sorted(r for r in stale if path_problem(r) is None):
        try:
            os.unlink(data_root / rel)
            removed += 1
        except FileNotFoundError:
            pass
    return removed
