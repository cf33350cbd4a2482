"""Names of files under the data root: one definition of a valid relative path, for what the ingest
writes and for what a record may reference, and the normalization of upstream names into targets.

A valid path is relative and normalized (no empty, `.` or `..` component, no leading `/`, no
backslash), free of control characters, with components of at most 255 UTF-8 bytes (what file
systems allow) and at most 1024 bytes in all. Upstream names are normalized before they pick a shard
(`//` and `./` collapse), so two names that land on the same file always meet in the same shard."""
from __future__ import annotations

import re
from pathlib import PurePosixPath

MAX_COMPONENT_BYTES = 255
MAX_PATH_BYTES = 1024
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
DOT_COMPONENT = re.compile(r"(?:^|/)\.{1,2}(?:/|$)")


def path_problem(rel: str) -> str | None:
    """Why `rel` is not a valid relative path under the data root, or None."""
    if not rel:
        return "empty path"
    try:
        size = len(rel.encode("utf-8"))
    except UnicodeEncodeError:
        return "not valid UTF-8"
    if CONTROL.search(rel):
        return "control character in path"
    if rel.startswith("/") or "\\" in rel or "//" in rel or rel.endswith("/") or DOT_COMPONENT.search(rel):
        return "not a relative, normalized path"
    if size > MAX_PATH_BYTES:
        return f"path longer than {MAX_PATH_BYTES} bytes"
    if max(len(part.encode("utf-8")) for part in rel.split("/")) > MAX_COMPONENT_BYTES:
        return f"a path component longer than {MAX_COMPONENT_BYTES} bytes"
    return None


def normal_member(name: str) -> str | None:
    """An archive member name with `//` and `.` components collapsed; None when it escapes (`..`),
    is absolute or uses backslashes (zip-slip)."""
    if not name or name.startswith(("/", "\\")) or "\\" in name or ":" in name.split("/")[0]:
        return None
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        return None
    return "/".join(parts)


def jpg_target(*parts: str) -> str:
    """The data-root path an image is written to: the joined parts, suffix forced to `.jpg`."""
    return str(PurePosixPath(*parts).with_suffix(".jpg"))


def target_conflicts(targets: list[str], originals: list[str]) -> list[str | None]:
    """Per target, in upstream order: why it may not be written, or None. A target repeating an earlier
    one is a `duplicate_target` (the first keeps the file); a target that another target needs as a
    folder is a `path_conflict`. Decided from the whole listing, so no shard order can change it."""
    first: dict[str, int] = {}
    out: list[str | None] = [None] * len(targets)
    for i, target in enumerate(targets):
        if target in first:
            out[i] = f"duplicate_target: same file as {originals[first[target]]}"
        else:
            first[target] = i
    folders = {str(parent) for t in first for parent in PurePosixPath(t).parents}
    for target, i in first.items():
        if target in folders:
            out[i] = f"path_conflict: {target} is also the folder of another image"
    return out
