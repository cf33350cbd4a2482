"""Where everything lives: the LLaVA data root, our Arrow tables, and the download cache."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DATA_ROOT = Path("playground/data")


@dataclass(frozen=True)
class Layout:
    """The three roots. The data root holds only normalized images (LLaVA's `image_folder`);
    tables and downloads sit beside it so training never sees them."""

    data_root: Path
    tables_root: Path
    cache_root: Path

    @classmethod
    def at(cls, data_root: str | os.PathLike[str] | None = None,
           tables_root: str | os.PathLike[str] | None = None,
           cache_root: str | os.PathLike[str] | None = None) -> "Layout":
        data = Path(data_root or os.environ.get("SPATIALMIX_DATA_ROOT") or DEFAULT_DATA_ROOT).resolve()
        tables = Path(tables_root or os.environ.get("SPATIALMIX_TABLES_ROOT") or data.parent / "tables")
        cache = Path(cache_root or os.environ.get("SPATIALMIX_CACHE_ROOT") or data.parent / "cache")
        return cls(data, tables.resolve(), cache.resolve())

    def tables(self, source: str) -> Path:
        return self.tables_root / source

    def cache(self, source: str) -> Path:
        return self.cache_root / source

    def staging(self, source: str, shard: str) -> Path:
        """Per-shard scratch folder on the data root's file system, so a finished file is renamed
        into place atomically and a killed shard's leftovers are cleared by its next run."""
        return self.data_root / ".staging" / f"{source}-{shard}"
