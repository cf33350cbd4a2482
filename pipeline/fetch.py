"""One download interface for HTTP(S), file:// and local paths.

Downloads resume with HTTP Range from a persistent `<dest>.part`, retry with exponential backoff,
verify size and sha256 where known, and become visible under their final name only when complete.
A finished file carries a `<dest>.src.json` sidecar naming where it came from, so a second call does
no network work at all."""
from __future__ import annotations

import hashlib
import json
import os
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import requests

from .digests import sidecar_path
from .progress import Log, Progress, default_log

CHUNK = 1 << 20


class FetchError(RuntimeError):
    """A download that failed. `permanent` errors (404, size or hash mismatch) are not retried."""

    def __init__(self, message: str, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class Expected:
    size: int | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class FetchResult:
    path: Path
    bytes: int
    downloaded: bool  # False when the file was already complete


def mirror_url(url: str, mirror: str | os.PathLike[str] | None) -> str:
    """Map an upstream URL into a mirror root: `<mirror>/<host>/<path>`.

    The same rule serves a loopback HTTP server, a `file://` URL and a plain local folder, so every
    upstream location (zip archives, per-image OCR-VQA URLs, hub files) is configurable by one root."""
    if not mirror:
        return url
    parts = urllib.parse.urlsplit(url)
    rel = f"{parts.netloc}{parts.path}"
    root = os.fspath(mirror)
    if "://" not in root:
        return Path(root, rel).resolve().as_uri()
    return root.rstrip("/") + "/" + urllib.parse.quote(rel)


def _is_complete(dest: Path, identity: str, expected: Expected) -> bool:
    side = sidecar_path(dest)
    if not (dest.exists() and side.exists()):
        return False
    meta = json.loads(side.read_text())
    if meta.get("url") != identity:
        return False
    size = dest.stat().st_size
    if expected.size is not None and size != expected.size:
        return False
    if expected.sha256 is not None and meta.get("sha256") != expected.sha256:
        return False
    return size == meta.get("bytes")


def _sha256_of(path: Path) -> "hashlib._Hash":
    """A running hash over the bytes already in `path` (a resumed download continues it)."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h


def _finish(part: Path, dest: Path, identity: str, expected: Expected, digest: str) -> int:
    size = part.stat().st_size
    if expected.size is not None and size != expected.size:
        part.unlink(missing_ok=True)
        raise FetchError(f"{identity}: size {size} != expected {expected.size}", permanent=True)
    if expected.sha256 is not None and digest != expected.sha256:
        part.unlink(missing_ok=True)
        raise FetchError(f"{identity}: sha256 {digest} != expected {expected.sha256}", permanent=True)
    os.replace(part, dest)
    side = sidecar_path(dest)
    tmp = side.with_name(side.name + ".tmp")
    mtime_ns = dest.stat().st_mtime_ns
    tmp.write_text(json.dumps({"url": identity, "bytes": size, "mtime_ns": mtime_ns, "sha256": digest}))
    os.replace(tmp, side)
    return size


def _local_source(url: str) -> Path | None:
    if url.startswith("file://"):
        return Path(urllib.request.url2pathname(urllib.parse.urlsplit(url).path))
    if "://" not in url:
        return Path(url)
    return None


def _copy_local(src: Path, part: Path, url: str, log: Log) -> str:
    if not src.is_file():
        raise FetchError(f"{url}: no such file", permanent=True)
    h = hashlib.sha256()
    progress = Progress(f"copy {src.name}", src.stat().st_size, "B", log)
    with src.open("rb") as fin, part.open("wb") as fout:
        while chunk := fin.read(CHUNK):
            fout.write(chunk)
            h.update(chunk)
            progress.advance(len(chunk))
    progress.close()
    return h.hexdigest()


def _http_once(session: "requests.Session", url: str, part: Path, timeout: float, log: Log) -> str:
    """One attempt: resume from the bytes already in `part`; return the sha256 of the whole file."""
    have = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    with session.get(url, headers=headers, stream=True, timeout=timeout) as resp:
        if resp.status_code == 416 and have:
            # Range not satisfiable: the part is already the whole file (or stale); verify it as is.
            return _sha256_of(part).hexdigest()
        if resp.status_code in (404, 410, 403, 401):
            raise FetchError(f"{url}: HTTP {resp.status_code}", permanent=True)
        if resp.status_code not in (200, 206):
            raise FetchError(f"{url}: HTTP {resp.status_code}")
        if resp.status_code == 200 and have:
            have = 0  # server ignored Range: start over
        h = _sha256_of(part) if have else hashlib.sha256()
        length = resp.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        progress = Progress(f"download {part.name[:-5]}", total, "B", log, start=have)
        with part.open("ab" if have else "wb") as f:
            for chunk in resp.iter_content(CHUNK):
                f.write(chunk)
                h.update(chunk)
                progress.advance(len(chunk))
        if total is not None and part.stat().st_size != total:
            raise FetchError(f"{url}: connection closed at {part.stat().st_size} of {total} bytes")
        progress.close()
        return h.hexdigest()


def fetch(url: str, dest: Path, expected: Expected = Expected(), *, identity: str | None = None,
          retries: int = 5, backoff: float = 1.0, timeout: float = 60.0, log: Log = default_log,
          session: requests.Session | None = None) -> FetchResult:
    """Make `dest` a complete, verified copy of `url` (http(s)://, file:// or a local path).

    `identity` names what the file is (the upstream URL when `url` is a mirror of it), so moving a
    mirror (another port, another folder) does not trigger a new download."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    identity = identity or url
    if _is_complete(dest, identity, expected):
        return FetchResult(dest, dest.stat().st_size, downloaded=False)
    part = dest.with_name(dest.name + ".part")
    local = _local_source(url)
    if local is not None:
        digest = _copy_local(local, part, url, log)
        return FetchResult(dest, _finish(part, dest, identity, expected, digest), downloaded=True)
    import requests  # imported here: loading the code location need not pay for it

    session = session or requests.Session()
    delay = backoff
    for attempt in range(1, retries + 1):
        try:
            digest = _http_once(session, url, part, timeout, log)
            return FetchResult(dest, _finish(part, dest, identity, expected, digest), downloaded=True)
        except FetchError as err:
            if err.permanent or attempt == retries:
                raise
            log(f"{err}; retry {attempt}/{retries - 1} in {delay:.1f}s (resuming)")
        except requests.RequestException as err:
            if attempt == retries:
                raise FetchError(f"{url}: {type(err).__name__}: {err}") from err
            log(f"{url}: {type(err).__name__}; retry {attempt}/{retries - 1} in {delay:.1f}s (resuming)")
        time.sleep(delay)
        delay *= 2
    raise AssertionError("unreachable")

