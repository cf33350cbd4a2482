"""A larger TextVQA-shaped mirror than the sample's, for work that must take measurable time: the
Ray ingest benchmark and the killed-worker test. PNG members go through the re-encode path (decode
plus JPEG encode), the slow side of normalization."""
from __future__ import annotations

import random
import zipfile
from pathlib import Path

from pipeline.names import jpg_target
from pipeline.sharding import shard_of
from pipeline.sources.registry import TEXTVQA

from .media import PHOTOS, encode, mirror_file, photo
from .mirror import write_checksums


def write_textvqa_corpus(root: Path, images: int, shards: tuple[int, ...] | None = None, seed: int = 7,
                         size: tuple[int, int] = (800, 600)) -> Path:
    """`images` PNG photos in TextVQA's archive under mirror `root`, only in `shards` (default: all,
    as they fall); returns `root`."""
    rng = random.Random(seed)
    archive = mirror_file(root, TEXTVQA.archives[0].url)
    archive.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        written = 0
        while written < images:
            name = f"train_images/{rng.getrandbits(64):016x}.png"
            if shards is None or shard_of(jpg_target(name), TEXTVQA.shards) in shards:  # as the source shards it
                zf.writestr(name, encode(photo(rng.choice(PHOTOS), size, rng), "PNG", compress_level=1))
                written += 1
    write_checksums(root)  # the mirror declares its miniature archive (pipeline.verify)
    return root
