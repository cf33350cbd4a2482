"""An upstream file: its real location, what we know about it, and where it lands in the cache."""
from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..fetch import Expected, FetchResult, fetch_upstream
from ..progress import Log, default_log


@dataclass(frozen=True)
class RemoteFile:
    url: str
    size: int | None = None     # verified through mirrors too, unless the mirror's index lists its own copy
    sha256: str | None = None

    @property
    def filename(self) -> str:
        return PurePosixPath(urllib.parse.urlsplit(self.url).path).name

    def fetch(self, cache: Path, mirror: str | None, log: Log = default_log) -> FetchResult:
        return fetch_upstream(self.url, cache / self.filename, Expected(self.size, self.sha256), mirror, log=log)
