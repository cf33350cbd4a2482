"""What a downloaded file must be before it is trusted: its expected size and sha256 (from the source
registry, the hub's tree listing, or a mirror's checksum index) and the magic bytes of its format.

A mirror may serve miniatures of the upstream files (the embedded sample does), so it may publish its
own checksums: `SHA256SUMS` at the mirror root, in `sha256sum` format (`<sha256>  <host>/<path>` per
line, e.g. made with `cd mirror && find . -type f ! -name SHA256SUMS | sort | xargs sha256sum`). A file
the index lists is checked against the index; any other file against what the upstream is known to be.
Credentials in URLs (`http://user:secret@host`) are redacted wherever a URL is logged or stored."""
from __future__ import annotations

import os
import re
import threading
import time
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

INDEX_NAME = "SHA256SUMS"
INDEX_TTL = 300.0  # seconds a mirror's index is reused within one process
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Expected:
    size: int | None = None
    sha256: str | None = None


def redact(url: str) -> str:
    """`url` without the password (and user) of its authority: `http://***@host/...`."""
    parts = urllib.parse.urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urllib.parse.urlunsplit(parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]))


def expected_from_tree(entry: Mapping[str, Any]) -> Expected:
    """A hub tree-API entry (`{"type": "file", "size": n, "lfs": {"oid": sha256, ...}}`) as what its file
    must be; files outside LFS carry only their size."""
    lfs = entry.get("lfs") or {}
    sha = lfs.get("oid") or lfs.get("sha256")
    return Expected(entry.get("size"), sha if isinstance(sha, str) and _SHA256.match(sha) else None)


def format_problem(path: Path, name: str | None = None) -> str | None:
    """Why `path` cannot be what its name (`name`, default the path's) says it is, from its magic bytes
    and framing: a zip must hold an end-of-central-directory record, a Parquet file starts and ends with
    PAR1, a JSON document starts with `[` or `{` and ends with `]` or `}`. None when it looks right
    (other formats are not checked here: images go through the image contract)."""
    suffix = Path(name or path.name).suffix.lower()
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(64)
        f.seek(max(0, size - 64))
        tail = f.read(64)
    if suffix in (".zip", ".tar"):
        # archives are told apart by content (`readers.archive_kind`), so a tar served under a .zip name
        # passes; an HTML page or a truncated download does not
        from .readers import archive_kind

        try:
            archive_kind(path)
        except ValueError as err:
            return f"{str(err).split(': ', 1)[-1]} (starts with {head[:16]!r})"
    elif suffix == ".parquet":
        if head[:4] != b"PAR1" or tail[-4:] != b"PAR1":
            return f"not a Parquet file (starts with {head[:16]!r}, ends with {tail[-8:]!r})"
    elif suffix == ".json":
        first, last = head.lstrip()[:1], tail.rstrip()[-1:]
        if first not in (b"[", b"{") or last not in (b"]", b"}"):
            return f"not a JSON document (starts with {head[:16]!r}, ends with {tail[-16:]!r})"
    return None


def _parse_index(text: str) -> dict[str, str]:
    index = {}
    for line in text.splitlines():
        sha, _, path = line.strip().partition(" ")
        path = path.strip().lstrip("*").removeprefix("./")
        if _SHA256.match(sha.lower()) and path:
            index[path] = sha.lower()
    return index


def _local_root(mirror: str) -> Path | None:
    """The folder of a local (path or file://) mirror; None for an HTTP one."""
    if mirror.startswith("file://"):
        return Path(urllib.request.url2pathname(urllib.parse.urlsplit(mirror).path))
    return None if "://" in mirror else Path(mirror)


def _read_index(mirror: str) -> dict[str, str]:
    """The mirror's checksum index ({} when it has none)."""
    if (local := _local_root(mirror)) is not None:
        try:
            return _parse_index((local / INDEX_NAME).read_text("utf-8"))
        except FileNotFoundError:
            return {}
    import requests

    for attempt in range(3):
        try:
            resp = requests.get(mirror.rstrip("/") + "/" + INDEX_NAME, timeout=60)
            break
        except requests.RequestException as err:  # its message would carry the mirror's address
            if attempt == 2:
                raise OSError(f"the mirror's {INDEX_NAME} is unreachable ({type(err).__name__})") from None
            time.sleep(1.0 + attempt)
    if resp.status_code == 404:
        return {}
    if resp.status_code != 200:
        raise OSError(f"{redact(mirror)}/{INDEX_NAME}: HTTP {resp.status_code}")
    return _parse_index(resp.text)


_indexes: dict[str, tuple[object, dict[str, str]]] = {}
_index_lock = threading.Lock()


def _index_stamp(mirror: str) -> object:
    """What tells a reused index is still current: a local index file's size and mtime; for an HTTP
    mirror, the INDEX_TTL time slot (OCR-VQA asks once per cover, from many threads)."""
    if (local := _local_root(mirror)) is None:
        return int(time.monotonic() // INDEX_TTL)
    try:
        st = (local / INDEX_NAME).stat()
    except FileNotFoundError:
        return None
    return st.st_size, st.st_mtime_ns


def mirror_index(mirror: str) -> dict[str, str]:
    """`_read_index`, reused while its stamp holds."""
    with _index_lock:
        stamp = _index_stamp(mirror)
        hit = _indexes.get(mirror)
        if hit is None or hit[0] != stamp:
            hit = _indexes[mirror] = (stamp, _read_index(mirror))
        return hit[1]


def expected_through(url: str, known: Expected, mirror: str | os.PathLike[str] | None) -> Expected:
    """What the copy of upstream `url` must be: the mirror index's sha256 when the mirror lists the
    file (a mirror may hold a miniature), else what the upstream is `known` to be."""
    if not mirror:
        return known
    parts = urllib.parse.urlsplit(url)
    listed = mirror_index(os.fspath(mirror)).get(f"{parts.netloc}{parts.path}")
    return Expected(sha256=listed) if listed else known
