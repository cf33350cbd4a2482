"""Where upstream image bytes come from: members of zip or uncompressed tar archives (read in place,
never extracted) or files in a folder. Readers are picklable so each worker process opens its own handles.

Reads are bounded: a member is refused (`TooLarge`) when its declared size exceeds the cap, and is
read through a stream that never yields more than the cap, so a deflate bomb costs nothing.
Where an archive repeats a member name, the first entry is the one read."""
from __future__ import annotations

import contextlib
import tarfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

# Above the largest real image in our sources by far (a few MB); configurable per source with the
# `max_image_bytes` option (`IngestContext.image_cap`).
MAX_IMAGE_BYTES = 64 * 2**20


class TooLarge(Exception):
    """Refused before reading: its message is the quarantine reason."""


class UnreadableFile(Exception):
    """A file that cannot be parsed at all (the source fails); the message names it and where."""


def open_zip(path: Path) -> zipfile.ZipFile:
    """A zip archive, or an error naming the file and what is wrong with it."""
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError) as err:
        size = path.stat().st_size if path.exists() else 0
        raise UnreadableFile(f"{path}: not a readable zip archive ({err}; no central directory found "
                             f"before byte {size})") from err


@contextlib.contextmanager
def unreadable_as(path: Path, kind: str) -> Iterator[None]:
    """Parse errors of the block (pyarrow's, a zip's) as an `UnreadableFile` naming `path`. pyarrow
    reports a garbled file as an OSError without errno; one with an errno is the environment's."""
    import pyarrow as pa

    try:
        yield
    except (pa.ArrowException, zipfile.BadZipFile, OSError) as err:
        if isinstance(err, OSError) and err.errno is not None:
            raise
        raise UnreadableFile(f"{path}: not a readable {kind} ({type(err).__name__}: {err})") from err


def read_bounded(stream, declared: int | None, cap: int, what: str) -> bytes:
    """At most `cap` bytes of `stream`, refusing what declares or turns out to be larger."""
    if declared is not None and declared > cap:
        raise TooLarge(f"too_large: {what} declares {declared:,} bytes (cap {cap:,})")
    # Ask for the declared size plus one (a read of `cap` bytes would allocate all of them); only a
    # stream longer than it declared is read on, still never past the cap.
    limit = cap if declared is None else declared
    data = stream.read(limit + 1)
    if len(data) > limit and limit < cap:
        data += stream.read(cap + 1 - len(data))
    if len(data) > cap:
        raise TooLarge(f"too_large: {what} holds more than {cap:,} bytes")
    return data


@dataclass
class ZipReader:
    """Reads members of one or more archives; `key` is `<archive file name>:<member>`."""

    archives: dict[str, Path]
    max_bytes: int = MAX_IMAGE_BYTES
    _open: dict[str, tuple[zipfile.ZipFile, dict[str, zipfile.ZipInfo]]] = field(
        default_factory=dict, repr=False, compare=False)

    def __getstate__(self) -> dict:
        return {"archives": self.archives, "max_bytes": self.max_bytes, "_open": {}}

    def read(self, key: str) -> bytes:
        archive, member = key.split(":", 1)
        if archive not in self._open:
            zf = open_zip(self.archives[archive])
            first: dict[str, zipfile.ZipInfo] = {}
            for info in zf.infolist():
                first.setdefault(info.filename, info)  # zipfile's own lookup would give the last
            self._open[archive] = zf, first
        zf, first = self._open[archive]
        info = first[member]
        with zf.open(info) as f:
            return read_bounded(f, info.file_size, self.max_bytes, "member")


@dataclass
class TarReader:
    """Reads members of one or more uncompressed tar archives; `key` is `<archive file name>:<member>`.
    A compressed tar has no random access (each read would inflate from the start): refused."""

    archives: dict[str, Path]
    max_bytes: int = MAX_IMAGE_BYTES
    _open: dict[str, tuple[tarfile.TarFile, dict[str, tarfile.TarInfo]]] = field(
        default_factory=dict, repr=False, compare=False)

    def __getstate__(self) -> dict:
        return {"archives": self.archives, "max_bytes": self.max_bytes, "_open": {}}

    def read(self, key: str) -> bytes:
        archive, member = key.split(":", 1)
        if archive not in self._open:
            tf = tarfile.open(self.archives[archive], "r:")
            first: dict[str, tarfile.TarInfo] = {}
            for info in tf.getmembers():
                first.setdefault(info.name, info)  # as for zips: a repeated name reads its first entry
            self._open[archive] = tf, first
        tf, first = self._open[archive]
        f = tf.extractfile(first[member])
        if f is None:
            raise KeyError(f"{archive}: {member} is not a regular file")
        return read_bounded(f, first[member].size, self.max_bytes, "member")


@dataclass(frozen=True)
class DirReader:
    """Reads files from a folder; `key` is the path relative to it."""

    root: Path
    max_bytes: int = MAX_IMAGE_BYTES

    def read(self, key: str) -> bytes:
        path = self.root / key
        with path.open("rb") as f:
            return read_bounded(f, path.stat().st_size, self.max_bytes, "file")


def archive_kind(path: Path) -> str:
    """"zip" or "tar" by content (not by name); anything else is refused with the reason."""
    if zipfile.is_zipfile(path):
        return "zip"
    try:
        with tarfile.open(path, "r:"):
            return "tar"
    except tarfile.ReadError:
        pass
    with open(path, "rb") as f:
        head = f.read(6)
    if head[:2] == b"\x1f\x8b" or head[:3] == b"BZh" or head == b"\xfd7zXZ\x00":
        raise ValueError(f"{path.name}: a compressed tar has no random access; use a zip or an uncompressed .tar")
    raise ValueError(f"{path.name}: neither a zip nor a tar archive")


def archive_members(path: Path) -> Iterator[str]:
    """Names of the regular files in a zip or tar archive, in archive order."""
    if archive_kind(path) == "zip":
        with open_zip(path) as zf:
            yield from (i.filename for i in zf.infolist() if not i.is_dir())
    else:
        with tarfile.open(path, "r:") as tf:
            yield from (m.name for m in tf if m.isfile())


def archive_reader(archives: dict[str, Path], max_bytes: int = MAX_IMAGE_BYTES) -> "ZipReader | TarReader":
    """The reader for a set of archives of one kind."""
    kinds = {archive_kind(p) for p in archives.values()}
    if len(kinds) > 1:
        raise ValueError(f"archives of mixed kinds {sorted(kinds)}: {sorted(archives)}")
    return ZipReader(archives, max_bytes) if kinds == {"zip"} else TarReader(archives, max_bytes)


Reader = ZipReader | TarReader | DirReader
