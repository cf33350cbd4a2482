"""Shard keys and the stable assignment of upstream names to shards (light: no I/O, no heavy imports)."""
from __future__ import annotations

import zlib


def shard_of(key: str, shards: int) -> int:
    """Stable shard assignment from the upstream name alone (same on every machine and re-run)."""
    return zlib.crc32(key.encode()) % shards


def shard_keys(shards: int) -> list[str]:
    """Partition keys "000", "001", ... of a source (or of spatial QA) with `shards` shards."""
    return [f"{i:03d}" for i in range(shards)]
