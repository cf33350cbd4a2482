"""One download interface for HTTP(S), file:// and local paths.

Downloads resume with HTTP Range from a persistent `<dest>.part` (a 206 must start where asked, a
`.part` begun for another file or longer than the file is discarded, `If-Range` keeps a changed file
from being joined to an old head), retry with exponential backoff, and become visible under their
final name only when complete and verified: size and sha256 where known (`verify.Expected`, through
mirrors too) and the magic bytes of the format. A finished file carries a `<dest>.src.json` sidecar
naming where it came from, so a second call does no network work at all; a cached file is verified
again before it is trusted, and one that fails is fetched once more (the reason is logged).
Concurrent fetches of the same file wait for each other on `<dest>.lock`. Messages name the upstream
URL (`identity`), never a mirror's address or credentials."""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

if TYPE_CHECKING:
    import requests

from .atomic import named_errors, write_text
from .digests import sha256_file, sidecar_path, sidecar_sha256
from .progress import Log, Progress, default_log
from .verify import Expected, expected_through, format_problem, redact

__all__ = ["CHUNK", "Expected", "FetchError", "FetchResult", "fetch", "fetch_upstream", "mirror_url"]

CHUNK = 1 << 20
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)$")


class FetchError(RuntimeError):
    """A download that failed. `permanent` errors (404, size or hash mismatch) are not retried."""

    def __init__(self, message: str, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


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


def _cache_problem(dest: Path, identity: str, expected: Expected) -> str | None:
    """Why the cached `dest` cannot be trusted as `identity` ("absent" when there is none), or None."""
    side = sidecar_path(dest)
    try:
        meta = json.loads(side.read_bytes())
        st = dest.stat()
    except (FileNotFoundError, ValueError):
        return "absent"
    if meta.get("url") != identity:
        return f"the cached file came from {meta.get('url')}"
    if st.st_size != meta.get("bytes") or (expected.size is not None and st.st_size != expected.size):
        return f"size {st.st_size} != {expected.size if expected.size is not None else meta.get('bytes')}"
    # The sidecar's sha256 holds while the file keeps its size and mtime; otherwise hash it again.
    sha = sidecar_sha256(dest, st) or sha256_file(dest)
    if sha != meta.get("sha256") or (expected.sha256 is not None and sha != expected.sha256):
        return f"sha256 {sha} != {expected.sha256 or meta.get('sha256')}"
    return format_problem(dest)


def _sha256_of(path: Path) -> "hashlib._Hash":
    """A running hash over the bytes already in `path` (a resumed download continues it)."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h


def _finish(part: Path, dest: Path, identity: str, expected: Expected, digest: str) -> int:
    size = part.stat().st_size
    problem = None
    if expected.size is not None and size != expected.size:
        problem = f"size {size} != expected {expected.size}"
    elif expected.sha256 is not None and digest != expected.sha256:
        problem = f"sha256 {digest} != expected {expected.sha256}"
    else:
        problem = format_problem(part, dest.name)
    if problem:
        _discard(part)
        raise FetchError(f"{identity}: {problem}", permanent=True)
    os.replace(part, dest)
    _part_meta(part).unlink(missing_ok=True)
    write_text(sidecar_path(dest), json.dumps(
        {"url": identity, "bytes": size, "mtime_ns": dest.stat().st_mtime_ns, "sha256": digest}))
    return size


def _part_meta(part: Path) -> Path:
    """What a `.part` is a head of: the identity and expectation it was begun for, and the server's
    validator (ETag or Last-Modified) of the response that began it."""
    return part.with_name(part.name + ".json")


def _discard(part: Path) -> None:
    part.unlink(missing_ok=True)
    _part_meta(part).unlink(missing_ok=True)


def _resumable(part: Path, identity: str, expected: Expected) -> tuple[int, str | None]:
    """(bytes to resume from, validator) of an existing `.part`; a part begun for another file, or
    longer than the file can be, is discarded and the download starts over."""
    try:
        meta = json.loads(_part_meta(part).read_bytes())
        have = part.stat().st_size
    except (FileNotFoundError, ValueError):
        _discard(part)
        return 0, None
    if meta.get("url") != identity or meta.get("expected") != [expected.size, expected.sha256] \
            or (expected.size is not None and have > expected.size):
        _discard(part)
        return 0, None
    return have, meta.get("validator")


def _copy_local(src: Path, part: Path, identity: str, log: Log) -> str:
    if not src.is_file():
        raise FetchError(f"{identity}: no such file", permanent=True)
    h = hashlib.sha256()
    progress = Progress(f"copy {src.name}", src.stat().st_size, "B", log)
    with src.open("rb") as fin, part.open("wb") as fout, named_errors(part):
        while chunk := fin.read(CHUNK):
            fout.write(chunk)
            h.update(chunk)
            progress.advance(len(chunk))
    progress.close()
    return h.hexdigest()


def _http_once(session: "requests.Session", url: str, part: Path, identity: str, expected: Expected,
               timeout: float, log: Log) -> str:
    """One attempt: resume from the bytes already in `part`; return the sha256 of the whole file."""
    have, validator = _resumable(part, identity, expected)
    headers = {"Range": f"bytes={have}-", **({"If-Range": validator} if validator else {})} if have else {}
    with session.get(url, headers=headers, stream=True, timeout=timeout) as resp:
        if resp.status_code == 416 and have:
            total = resp.headers.get("Content-Range", "").rpartition("/")[2]
            if total == str(have):
                return _sha256_of(part).hexdigest()  # the part already is the whole file: verified next
            _discard(part)
            raise FetchError(f"{identity}: a partial download of {have} bytes does not fit the file; starting over")
        if resp.status_code in (404, 410, 403, 401):
            raise FetchError(f"{identity}: HTTP {resp.status_code}", permanent=True)
        if resp.status_code not in (200, 206):
            raise FetchError(f"{identity}: HTTP {resp.status_code}")
        now = resp.headers.get("ETag") or resp.headers.get("Last-Modified")
        if resp.status_code == 206:
            match = _CONTENT_RANGE.match(resp.headers.get("Content-Range", ""))
            if not have or match is None or int(match.group(1)) != have or (validator and now and now != validator):
                _discard(part)
                raise FetchError(f"{identity}: the server answered a resume from byte {have} with "
                                 f"{resp.headers.get('Content-Range')!r}; starting over")
        else:
            have = 0  # a 200: the whole file (the server ignored Range, or the file changed)
            write_text(_part_meta(part), json.dumps(
                {"url": identity, "expected": [expected.size, expected.sha256], "validator": now}))
        h = _sha256_of(part) if have else hashlib.sha256()
        length = resp.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        if expected.size is not None and total is not None and total != expected.size:
            _discard(part)
            raise FetchError(f"{identity}: size {total} (announced) != expected {expected.size}", permanent=True)
        progress = Progress(f"download {part.name[:-5]}", total, "B", log, start=have)
        with part.open("ab" if have else "wb") as f, named_errors(part):
            for chunk in resp.iter_content(CHUNK):
                f.write(chunk)
                h.update(chunk)
                progress.advance(len(chunk))
                if expected.size is not None and progress.done > expected.size:
                    f.close()
                    _discard(part)
                    raise FetchError(f"{identity}: size exceeds the expected {expected.size}", permanent=True)
        if total is not None and part.stat().st_size != total:
            raise FetchError(f"{identity}: connection closed at {part.stat().st_size} of {total} bytes")
        progress.close()
        return h.hexdigest()


@contextlib.contextmanager
def _locked(dest: Path) -> Iterator[None]:
    """Hold `<dest>.lock` (an flock): a second process fetching the same file waits, then finds it done.
    The lock file is removed on release; a waiter that wakes on a removed file takes the new one."""
    lock = dest.with_name(dest.name + ".lock")
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            same = os.fstat(fd).st_ino == os.stat(lock).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)
        os.close(fd)


def _local_source(url: str) -> Path | None:
    if url.startswith("file://"):
        return Path(urllib.request.url2pathname(urllib.parse.urlsplit(url).path))
    if "://" not in url:
        return Path(url)
    return None


def _download(url: str, dest: Path, identity: str, expected: Expected, retries: int, backoff: float,
              timeout: float, log: Log, session: "requests.Session | None") -> int:
    part = dest.with_name(dest.name + ".part")
    local = _local_source(url)
    if local is not None:
        return _finish(part, dest, identity, expected, _copy_local(local, part, identity, log))
    import requests  # imported here: loading the code location need not pay for it

    session = session or requests.Session()
    delay = backoff
    for attempt in range(1, retries + 1):
        try:
            return _finish(part, dest, identity, expected, _http_once(session, url, part, identity, expected,
                                                                     timeout, log))
        except FetchError as err:
            if err.permanent or attempt == retries:
                raise
            log(f"{err}; retry {attempt}/{retries - 1} in {delay:.1f}s (resuming)")
        except requests.RequestException as err:
            if attempt == retries:
                raise FetchError(f"{identity}: {type(err).__name__} after {retries} attempts") from None
            log(f"{identity}: {type(err).__name__}: {redact(str(err))}; retry {attempt}/{retries - 1} "
                f"in {delay:.1f}s (resuming)")
        time.sleep(delay)
        delay *= 2
    raise AssertionError("unreachable")


def fetch(url: str, dest: Path, expected: Expected = Expected(), *, identity: str | None = None,
          retries: int = 5, backoff: float = 1.0, timeout: float = 60.0, log: Log = default_log,
          session: requests.Session | None = None) -> FetchResult:
    """Make `dest` a complete, verified copy of `url` (http(s)://, file:// or a local path).

    `identity` names what the file is (the upstream URL when `url` is a mirror of it), so moving a
    mirror (another port, another folder) does not trigger a new download."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    identity = redact(identity or url)
    with _locked(dest):
        problem = _cache_problem(dest, identity, expected)
        if problem is None:
            return FetchResult(dest, dest.stat().st_size, downloaded=False)
        if problem != "absent":
            log(f"{identity}: cached {dest} is not trusted ({problem}); fetching it again")
            dest.unlink(missing_ok=True)
            sidecar_path(dest).unlink(missing_ok=True)
        size = _download(url, dest, identity, expected, retries, backoff, timeout, log, session)
    return FetchResult(dest, size, downloaded=True)


def fetch_upstream(url: str, dest: Path, known: Expected, mirror: str | None, **kwargs) -> FetchResult:
    """Fetch upstream `url`, from `mirror` when one is set, verified against what the file is known to
    be (`known`) or what the mirror's index says its copy is (`verify.expected_through`)."""
    return fetch(mirror_url(url, mirror), dest, expected_through(url, known, mirror), identity=url, **kwargs)
