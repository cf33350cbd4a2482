"""Where upstream image bytes come from: members of zip archives (read in place, never extracted)
or files in a folder. Readers are picklable so each worker process opens its own handles.

Reads are bounded: a member is refused (`TooLarge`) when its declared size exceeds the cap, and is
read through a stream that never yields more than the cap, so a deflate bomb costs nothing.
Where an archive repeats a member name, the first entry is the one read."""
from __future__ import annotations

import contextlib
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


@dataclass(frozen=True)
class DirReader:
    """Reads files from a folder; `key` is the path relative to it."""

    root: Path
    max_bytes: int = MAX_IMAGE_BYTES

    def read(self, key: str) -> bytes:
        path = self.root / key
        with path.open("rb") as f:
            return read_bounded(f, path.stat().st_size, self.max_bytes, "file")


Reader = ZipReader | DirReader
