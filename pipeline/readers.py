"""Where upstream image bytes come from: members of zip archives (read in place, never extracted)
or files in a folder. Readers are picklable so each worker process opens its own handles."""
from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath


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


Reader = ZipReader | DirReader
