"""Where everything lives: the LLaVA data root, our tables, the download cache, mixtures and checkpoints."""
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
        """The tables and cache roots default to folders beside the data root."""
        data = Path(data_root or DEFAULT_DATA_ROOT).resolve()
        tables = Path(tables_root or data.parent / "tables")
        cache = Path(cache_root or data.parent / "cache")
        return cls(data, tables.resolve(), cache.resolve())

    def tables(self, source: str) -> Path:
        return self.tables_root / source

    def cache(self, source: str) -> Path:
        return self.cache_root / source

    def mixture_dir(self, name: str) -> Path:
        """Where the mixture named `name` (its recipe's name) is exported."""
        return self.data_root.parent / "mixtures" / name

    def mixture_json(self, name: str) -> Path:
        """The LLaVA-format JSON of the mixture `name`, what training reads."""
        return self.mixture_dir(name) / f"{name}.json"

    def checkpoints(self, mixture: Path, key: str, profile: str) -> Path:
        """A finetune's output folder, keyed by its mixture's content (`key`) and the trainer profile: a
        rerun on the same mixture and profile resumes its checkpoints; a new mixture or another profile
        starts fresh instead of resuming (or reusing) another run's."""
        return self.data_root.parent / "checkpoints" / "finetune" / f"{mixture.stem}-{key[:12]}-{profile}"

    def evaluations(self) -> Path:
        """Predictions, verdicts and scores of the `evaluate` asset, per benchmark and checkpoint."""
        return self.data_root.parent / "evaluation"

    def staging(self, source: str, shard: str) -> Path:
        """Per-shard scratch folder on the data root's file system, so a finished file is renamed
        into place atomically and a killed shard's leftovers are cleared by its next run."""
        return self.data_root / ".staging" / f"{source}-{shard}"
