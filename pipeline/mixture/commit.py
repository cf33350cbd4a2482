"""One commit point for a mixture's outputs: a versioned folder and one pointer.

    <out>/v-<sha256 of the JSON, 16 hex>/   the JSON, the Parquet copy, the rejections, manifest.json
    <out>/current -> v-...                  the pointer, replaced by one atomic rename
    <out>/<name>.json -> current/<name>.json  stable names (what training reads: Layout.mixture_json),
    <out>/manifest.json -> current/...        and the same for every other output

Everything is written into a hidden staging folder first; the folder is renamed to its version name
and then the pointer is swapped. A kill at any moment leaves either the old mixture or the new one
under the stable names, never a new JSON beside an old manifest; the next commit clears what a
killed run left (staging folders, versions no pointer names)."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from pipeline.atomic import pid_alive

POINTER = "current"
VERSION_PREFIX = "v-"
STAGE_PREFIX = ".stage-"


def open_stage(out: Path) -> Path:
    """A fresh, empty staging folder inside `out` (unique to this process)."""
    stage = out / f"{STAGE_PREFIX}{os.getpid()}"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    return stage


def commit(out: Path, stage: Path, content_sha256: str) -> Path:
    """Make the staged outputs the current version; return the version folder."""
    version = out / f"{VERSION_PREFIX}{content_sha256[:16]}"
    if version.exists() and (out / POINTER).resolve() == version.resolve():
        version = version.with_name(f"{version.name}.{os.getpid()}")  # the same content rebuilt: never touch current
    shutil.rmtree(version, ignore_errors=True)
    os.replace(stage, version)
    _point(out, version.name)
    for name in os.listdir(version):
        link = out / name
        if not (link.is_symlink() and os.readlink(link) == f"{POINTER}/{name}"):
            tmp = out / f".{name}.{os.getpid()}.link"
            tmp.unlink(missing_ok=True)
            tmp.symlink_to(f"{POINTER}/{name}")
            os.replace(tmp, link)
    _clear_leftovers(out, version)
    return version


def _point(out: Path, target: str) -> None:
    tmp = out / f".{POINTER}.{os.getpid()}.link"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(target)
    os.replace(tmp, out / POINTER)


def _clear_leftovers(out: Path, version: Path) -> None:
    """Older versions and what killed runs left (their staging folders and temp links); a staging
    folder of a live process (a concurrent build) stays."""
    for entry in out.iterdir():
        if entry == version:
            continue
        if entry.is_symlink():
            if entry.name.endswith(".link") and not pid_alive(int(entry.name.rsplit(".", 2)[1])):
                entry.unlink(missing_ok=True)
        elif entry.is_dir() and entry.name.startswith(VERSION_PREFIX):
            shutil.rmtree(entry, ignore_errors=True)
        elif entry.is_dir() and entry.name.startswith(STAGE_PREFIX):
            if not pid_alive(int(entry.name[len(STAGE_PREFIX):])):
                shutil.rmtree(entry, ignore_errors=True)
