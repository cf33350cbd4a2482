"""The fingerprint of a mixture's inputs, and whether an existing output still matches it."""
from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson

from pipeline.fetch import sha256_file
from pipeline.layout import Layout
from pipeline.mixture.read import _parquet_files, component_path
from pipeline.recipe import Recipe

# Bump when the engine's output for the same inputs changes, so old mixtures are rebuilt.
ENGINE_VERSION = "1"
WORKERS = min(4, os.cpu_count() or 1)  # threads hashing the input tables


def _inputs(recipe: Recipe, layout: Layout) -> list[Path]:
    files = [f for c in recipe.components for f in _parquet_files(component_path(layout, c))]
    if recipe.overlap.sources:
        files += sorted(p for p in layout.tables_root.glob("*/images/*.parquet")
                        if not p.name.startswith((".", "_")))
    return files


def fingerprint(recipe: Recipe, layout: Layout, check_images: bool) -> tuple[str, list[dict[str, Any]]]:
    """Content hash of everything the output depends on: engine version, recipe, roots, input tables.
    Image files are not hashed (millions of them); their tables and manifests change when they do."""
    files = _inputs(recipe, layout)
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:  # hashlib releases the GIL: one file per core
        digests = list(pool.map(sha256_file, files))
    inputs = [{"path": str(p.relative_to(layout.tables_root)) if p.is_relative_to(layout.tables_root) else str(p),
               "bytes": p.stat().st_size, "sha256": sha} for p, sha in zip(files, digests)]
    key = {"engine": ENGINE_VERSION, "recipe": recipe.raw, "data_root": str(layout.data_root),
           "check_images": check_images, "inputs": inputs}
    return hashlib.sha256(orjson.dumps(key, option=orjson.OPT_SORT_KEYS)).hexdigest(), inputs


def _outputs_intact(out: Path, manifest: dict[str, Any]) -> bool:
    outputs = manifest.get("outputs", {})
    return bool(outputs) and all(
        (out / o["file"]).is_file() and (out / o["file"]).stat().st_size == o["bytes"] for o in outputs.values())


def _read_manifest(path: Path) -> dict[str, Any] | None:
    try:
        return orjson.loads(path.read_bytes())
    except (FileNotFoundError, orjson.JSONDecodeError):
        return None
