"""Where upstream image bytes come from: members of zip or tar archives (read in place, never
extracted) or files in a folder. Readers are picklable so each worker process opens its own handles."""
from __future__ import annotations

import tarfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Iterator


def safe_member(name: str) -> bool:
    """Refuse archive names that would land outside the target folder (zip-slip)."""
    if not name or name.startswith(("/", "\\")) or "\\" in name or ":" in name.split("/")[0]:
        return False
    return ".." not in PurePosixPath(name).parts


@dataclass
class ZipReader:
    """Reads members of one or more archives; `key` is `<archive file name>:<member>`."""

    archives: dict[str, Path]
    _open: dict[str, zipfile.ZipFile] = field(default_factory=dict, repr=False, compare=False)

    def __getstate__(self) -> dict:
        return {"archives": self.archives, "_open": {}}

    def read(self, key: str) -> bytes:
        archive, member = key.split(":", 1)
        zf = self._open.get(archive)
        if zf is None:
            zf = self._open[archive] = zipfile.ZipFile(self.archives[archive])
        return zf.read(member)


@dataclass(frozen=True)
class DirReader:
    """Reads files from a folder; `key` is the path relative to it."""

    root: Path

    def read(self, key: str) -> bytes:
        return (self.root / key).read_bytes()


@dataclass
class TarReader:
    """Reads members of one or more uncompressed tar archives; `key` is `<archive file name>:<member>`.
    A compressed tar has no random access (each read would inflate from the start): refused."""

    archives: dict[str, Path]
    _open: dict[str, tarfile.TarFile] = field(default_factory=dict, repr=False, compare=False)

    def __getstate__(self) -> dict:
        return {"archives": self.archives, "_open": {}}

    def read(self, key: str) -> bytes:
        archive, member = key.split(":", 1)
        tf = self._open.get(archive)
        if tf is None:
            tf = self._open[archive] = tarfile.open(self.archives[archive], "r:")
        f = tf.extractfile(member)
        if f is None:
            raise KeyError(f"{archive}: {member} is not a regular file")
        return f.read()


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
        with zipfile.ZipFile(path) as zf:
            yield from (i.filename for i in zf.infolist() if not i.is_dir())
    else:
        with tarfile.open(path, "r:") as tf:
            yield from (m.name for m in tf if m.isfile())


def archive_reader(archives: dict[str, Path]) -> "ZipReader | TarReader":
    """The reader for a set of archives of one kind."""
    kinds = {archive_kind(p) for p in archives.values()}
    if len(kinds) > 1:
        raise ValueError(f"archives of mixed kinds {sorted(kinds)}: {sorted(archives)}")
    return ZipReader(archives) if kinds == {"zip"} else TarReader(archives)


Reader = ZipReader | TarReader | DirReader
