"""Write-then-rename helpers: a killed process never leaves a half-written output under its final name."""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

if TYPE_CHECKING:
    import pyarrow as pa


@contextlib.contextmanager
def atomic_path(dest: Path, tmp_dir: Path | None = None) -> Iterator[Path]:
    """Yield a temporary path next to `dest` (or in `tmp_dir`, same file system); rename on success."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    folder = tmp_dir or dest.parent
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=folder)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, dest)
    finally:
        tmp_path.unlink(missing_ok=True)


def write_bytes(dest: Path, data: bytes, tmp_dir: Path | None = None) -> None:
    """The hot path of image writing: one open, one write, one rename; folders made only when missing.
    The temp name is unique per process, and a process writes one file at a time."""
    tmp = (tmp_dir or dest.parent) / f".{dest.name}.{os.getpid()}.part"
    for attempt in (1, 2):
        try:
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, dest)
            return
        except FileNotFoundError:
            if attempt == 2:
                raise
            tmp.parent.mkdir(parents=True, exist_ok=True)
            dest.parent.mkdir(parents=True, exist_ok=True)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise


def write_text(dest: Path, text: str) -> None:
    write_bytes(dest, text.encode("utf-8"))


def write_table(dest: Path, table: "pa.Table") -> None:
    """Parquet is the project's one table format (zstd, readable by polars, pyarrow and datasets)."""
    import pyarrow.parquet as pq

    with atomic_path(dest) as tmp:
        pq.write_table(table, tmp, compression="zstd")
