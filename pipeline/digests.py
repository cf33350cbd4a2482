"""Content identity of files: the project's one file hasher, and the identity steps fingerprint.

A download's sha256 is computed as it arrives and kept in its fetch sidecar (`<file>.src.json`) with
the size and mtime the file had then; `file_identity` trusts it while both still match, so a step
over a 20 GB archive does not re-read the archive on every run. Anything else is hashed, once per
process for an unchanged file."""
from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterable

_CHUNK = 1 << 20
_known: dict[tuple[str, int, int], str] = {}  # (path, size, mtime_ns) -> sha256, per process


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def sidecar_path(dest: Path) -> Path:
    """Where `fetch` records a finished download's origin, size, mtime and sha256."""
    return dest.with_name(dest.name + ".src.json")


def sidecar_sha256(path: Path, st: os.stat_result) -> str | None:
    """The sha256 the fetch sidecar recorded, if the file still has the size and mtime it had then."""
    try:
        meta = json.loads(sidecar_path(path).read_bytes())
    except (FileNotFoundError, ValueError):
        return None
    if meta.get("bytes") == st.st_size and meta.get("mtime_ns") == st.st_mtime_ns:
        return meta.get("sha256")
    return None


def file_identity(path: Path) -> str:
    """`<size>:<sha256>` of a file's content."""
    path = Path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _known:
        _known[key] = sidecar_sha256(path, st) or sha256_file(path)
    return f"{st.st_size}:{_known[key]}"


def file_identities(paths: Iterable[Path]) -> list[str]:
    """`file_identity` of each path, in order; hashed on a few threads (hashlib releases the GIL)."""
    paths = list(paths)
    if len(paths) < 2:
        return [file_identity(p) for p in paths]
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1, len(paths))) as pool:
        return list(pool.map(file_identity, paths))


def digest(values: Iterable[str]) -> str:
    """A short stand-in for a long list in a step's config (e.g. the member names of a shard)."""
    h = hashlib.sha256()
    for v in values:
        h.update(v.encode("utf-8", "surrogatepass") + b"\n")
    return h.hexdigest()
