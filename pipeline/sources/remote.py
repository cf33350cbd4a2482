"""An upstream file: its real location, what we know about it, and where it lands in the cache."""
from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..fetch import Expected, FetchResult, fetch, mirror_url
from ..progress import Log, default_log


@dataclass(frozen=True)
class RemoteFile:
    url: str
    size: int | None = None     # verified against the real upstream only (a mirror may hold a miniature)
    sha256: str | None = None

    @property
    def filename(self) -> str:
        return PurePosixPath(urllib.parse.urlsplit(self.url).path).name

    def fetch(self, cache: Path, mirror: str | None, log: Log = default_log) -> FetchResult:
        expected = Expected() if mirror else Expected(self.size, self.sha256)
        return fetch(mirror_url(self.url, mirror), cache / self.filename, expected, identity=self.url, log=log)
