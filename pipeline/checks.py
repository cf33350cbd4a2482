"""Independent checks of written output, used by the Dagster asset checks and the tests."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pyarrow.parquet as pq
from PIL import Image

from .layout import Layout
from .manifests import image_exists
from .parallel import process_pool
from .records import check_record, exists_under


def _check_image(args: tuple[Path, str, str]) -> str | None:
    root, rel, sha = args
    path = root / rel
    try:
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != sha:
            return f"{rel}: sha256 differs from the manifest"
        with Image.open(path) as im:
            if im.format != "JPEG" or im.mode not in ("RGB", "L"):
                return f"{rel}: {im.format} {im.mode}, not an RGB/L JPEG"
            im.load()
    except Exception as err:
        return f"{rel}: {type(err).__name__}: {err}"
    return None


def check_manifest_images(data_root: Path, manifest: Path, workers: int = 0) -> tuple[int, list[str]]:
    """Fully decode every image a manifest says was written; return (checked, problems)."""
    t = pq.read_table(manifest, columns=["path", "sha256"]).to_pydict()
    jobs = [(data_root, p, s) for p, s in zip(t["path"], t["sha256"]) if p]
    workers = workers or os.cpu_count() or 1
    if workers == 1 or len(jobs) < 256:
        problems = [r for r in map(_check_image, jobs) if r]
    else:
        with process_pool(workers) as pool:
            problems = [r for r in pool.map(_check_image, jobs, chunksize=64) if r]
    return len(jobs), problems


def check_conversations(layout: Layout, table: Path) -> tuple[int, dict[str, int]]:
    """Re-apply the record contract to a written conversation table; return (rows, violations by reason).
    An image must be listed by the manifests (what the contract reads) and, checked here too, on disk."""
    t = pq.read_table(table, columns=["id", "image", "conversations"]).to_pydict()
    listed, on_disk = image_exists(layout.data_root, layout.tables_root), exists_under(layout.data_root)

    def exists(rel: str) -> bool:
        return listed(rel) and on_disk(rel)

    bad: dict[str, int] = {}
    if len(set(t["id"])) != len(t["id"]):
        bad["duplicate_id"] = len(t["id"]) - len(set(t["id"]))
    for image, convs in zip(t["image"], t["conversations"]):
        rejection = check_record(image, convs, exists)
        if rejection:
            bad[rejection.reason] = bad.get(rejection.reason, 0) + 1
    return len(t["id"]), bad
