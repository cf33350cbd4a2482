"""Write-then-rename helpers: a killed process never leaves a half-written output under its final name.

Temp files are named `.<dest name, bounded>.<pid>.<tag>.part` beside their destination (or in a
staging folder), created with the process umask (0644 under 022: a training job under another user
can read what we write), and `sweep_stale_temps` removes those of dead processes, so a rerun after a
kill leaves no litter. A write that fails (disk full, quota, read-only) names the file it was writing."""
from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

if TYPE_CHECKING:
    import pyarrow as pa

# File names longer than this (in UTF-8 bytes) are shortened in temp names: most file systems allow
# 255 bytes per name, and the temp prefix and suffix must still fit.
_NAME_BYTES = 160
_TEMP = re.compile(r"^\..*\.(\d+)\.[0-9a-z]+\.part$")


def temp_name(dest_name: str, tag: str) -> str:
    """`.<name>.<pid>.<tag>.part`, with `<name>` cut (plus a hash of the whole) when too long."""
    raw = dest_name.encode("utf-8", "surrogateescape")
    if len(raw) > _NAME_BYTES:
        short = raw[:_NAME_BYTES].decode("utf-8", "ignore")
        dest_name = f"{short}~{hashlib.sha256(raw).hexdigest()[:12]}"
    return f".{dest_name}.{os.getpid()}.{tag}.part"


def named(err: OSError, path: Path) -> OSError:
    """`err` with `path` attached when it lacks a file name (ENOSPC, EDQUOT, EIO from a write)."""
    if err.filename is None and err.errno is not None:
        return OSError(err.errno, f"{os.strerror(err.errno)} while writing", str(path))
    return err


@contextlib.contextmanager
def named_errors(path: Path) -> Iterator[None]:
    """Raise OSErrors of the block with `path` attached (see `named`)."""
    try:
        yield
    except OSError as err:
        if (new := named(err, path)) is err:
            raise
        raise new from err


def _create(path: Path) -> int:
    """A new file opened for writing, with the umask's permissions (mkstemp would force 0600)."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)


@contextlib.contextmanager
def atomic_path(dest: Path, tmp_dir: Path | None = None) -> Iterator[Path]:
    """Yield a new empty temporary path next to `dest` (or in `tmp_dir`, same file system); rename on success."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    folder = tmp_dir or dest.parent
    folder.mkdir(parents=True, exist_ok=True)
    tmp_path = folder / temp_name(dest.name, secrets.token_hex(4))
    os.close(_create(tmp_path))
    try:
        with named_errors(dest):
            yield tmp_path
        os.replace(tmp_path, dest)
    finally:
        tmp_path.unlink(missing_ok=True)


def write_bytes(dest: Path, data: bytes, tmp_dir: Path | None = None) -> None:
    """The hot path of image writing: one open, one write, one rename; folders made only when missing.
    The temp name is unique per process, and a process writes one file at a time."""
    tmp = (tmp_dir or dest.parent) / temp_name(dest.name, "w")
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
        except BaseException as err:
            tmp.unlink(missing_ok=True)
            if isinstance(err, OSError) and (new := named(err, dest)) is not err:
                raise new from err
            raise


def write_text(dest: Path, text: str) -> None:
    write_bytes(dest, text.encode("utf-8"))


def write_table(dest: Path, table: "pa.Table") -> None:
    """Parquet is the project's one table format (zstd, readable by polars, pyarrow and datasets)."""
    import pyarrow.parquet as pq

    with atomic_path(dest) as tmp:
        pq.write_table(table, tmp, compression="zstd")


def pid_alive(pid: int) -> bool:
    """Whether process `pid` is running (ours included; another user's counts as running)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def sweep_stale_temps(folder: Path) -> int:
    """Remove the temp files a killed process left in `folder` (those of live processes stay)."""
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return 0
    for entry in entries:
        match = _TEMP.match(entry.name)
        if match and entry.is_file(follow_symlinks=False) and not pid_alive(int(match.group(1))):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)
                removed += 1
    return removed
