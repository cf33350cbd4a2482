"""Listing a hub repo's files (with the sizes and LFS sha256 the listing carries) and validating the
file set of a split before any row is read.

A split written by `datasets` is `<prefix>-{i:05d}-of-{n:05d}[-<hash>].parquet`: the set must hold
exactly the indices 0..n-1 once each, with one n. the_cauldron's clevr config once held two files for
shards 00000 and 00001 (removed upstream in April 2024); a pin before that would ingest those rows
twice. Several files claiming one index are accepted only when they are byte-identical (same size and
sha256): the copies are dropped and counted. Anything else fails with the files named, as does
identical content under two different indices."""
from __future__ import annotations

import json
import re
import urllib.parse
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable

from ..digests import sha256_file
from ..fetch import fetch, mirror_url
from ..progress import Log, default_log
from .base import SourceError

HUB = "https://huggingface.co"
SHARD_NAME = re.compile(r"-(\d{5})-of-(\d{5})(?:-[0-9A-Za-z]+)?\.parquet$")


class HubFileSetError(SourceError):
    """A split's files are not one complete, duplicate-free set of shards."""


@dataclass(frozen=True)
class Entry:
    path: str                 # repo path
    size: int | None = None
    sha256: str | None = None  # LFS sha256 from the listing, or of the local file


def tree_api_url(repo_id: str, revision: str, folder: str) -> str:
    """The hub's tree listing of one folder (a JSON list of {type, path, size, lfs?, ...})."""
    url = f"{HUB}/api/datasets/{repo_id}/tree/{urllib.parse.quote(revision, safe='')}"
    return f"{url}/{folder}" if folder else url


def list_hub(repo_id: str, commit: str, folder: str = "") -> list[Entry]:
    from huggingface_hub import HfApi  # imported late: HF_* env is read at import
    from huggingface_hub.hf_api import RepoFile

    tree = HfApi().list_repo_tree(repo_id, path_in_repo=folder or None, recursive=True, revision=commit,
                                  repo_type="dataset")
    return [Entry(f.path, f.size, f.lfs.sha256 if f.lfs else None) for f in tree if isinstance(f, RepoFile)]


def mirror_root(repo_id: str, mirror: str) -> Path | None:
    """The repo's folder in a local (folder or file://) mirror; None for an HTTP mirror."""
    repo_url = mirror_url(f"{HUB}/datasets/{repo_id}", mirror)
    if not repo_url.startswith("file://"):
        return None
    root = Path(urllib.parse.unquote(urllib.parse.urlsplit(repo_url).path))
    if not root.is_dir():
        raise FileNotFoundError(f"mirror has no folder for {repo_id}: {root}")
    return root


def list_mirror(repo_id: str, revision: str, folders: list[str], mirror: str, cache: Path) -> list[Entry]:
    """A local mirror folder is walked (sizes; hashes only where sizes collide, see `validate_split`);
    an HTTP mirror serves the hub's tree-API answer per folder (an HTTP server cannot be walked)."""
    if (root := mirror_root(repo_id, mirror)) is not None:
        return [Entry(p.relative_to(root).as_posix(), p.stat().st_size) for p in sorted(root.rglob("*")) if p.is_file()]
    entries: list[Entry] = []
    for folder in folders:
        listing = cache / f"tree-{folder.replace('/', '_') or 'root'}.json"
        url = tree_api_url(repo_id, revision, folder)
        fetch(mirror_url(url, mirror), listing, identity=url)
        entries += [Entry(e["path"], e.get("size"), (e.get("lfs") or {}).get("oid"))
                    for e in json.loads(listing.read_bytes()) if e.get("type") == "file"]
    return entries


def validate_split(source: str, split: str, entries: list[Entry],
                   local_sha: Callable[[Entry], str | None] = lambda e: e.sha256) -> tuple[list[str], list[str]]:
    """The split's files to read, in shard order, and the byte-identical copies dropped. `local_sha`
    supplies a hash where the listing has none (asked only for entries whose sizes collide)."""
    named = {e.path: SHARD_NAME.search(PurePosixPath(e.path).name) for e in entries}
    if not any(named.values()):
        return sorted(e.path for e in entries), []  # not a sharded split (e.g. one train.parquet)
    if unnamed := sorted(p for p, m in named.items() if m is None):
        raise HubFileSetError(f"{source} {split}: {unnamed} do not follow -NNNNN-of-NNNNN beside sharded files")
    totals = {int(m.group(2)) for m in named.values()}
    if len(totals) != 1:
        raise HubFileSetError(f"{source} {split}: files disagree on the shard count: {sorted(totals)}")
    total = totals.pop()
    by_index: dict[int, list[Entry]] = defaultdict(list)
    for e in sorted(entries, key=lambda e: e.path):
        by_index[int(named[e.path].group(1))].append(e)
    missing = sorted(set(range(total)) - set(by_index))
    extra = sorted(set(by_index) - set(range(total)))
    if missing or extra:
        raise HubFileSetError(f"{source} {split}: shards {missing} of {total} missing, {extra} out of range: "
                              "an incomplete upload or a moved revision")
    sizes = defaultdict(int)
    for e in entries:
        sizes[e.size] += 1
    identity = {e.path: (e.size, (e.sha256 or (local_sha(e) if sizes[e.size] > 1 else None))) for e in entries}
    kept, dropped = [], []
    for index in range(total):
        first, *copies = by_index[index]
        for copy in copies:
            if identity[copy.path][1] is None or identity[copy.path] != identity[first.path]:
                raise HubFileSetError(
                    f"{source} {split}: {first.path} and {copy.path} both claim shard {index} of {total} with "
                    "different content; the revision predates a de-duplication: pin a later commit")
            dropped.append(copy.path)
        kept.append(first.path)
    seen: dict[tuple, str] = {}
    for path in kept:
        if identity[path][1] is not None and (other := seen.setdefault(identity[path], path)) != path:
            raise HubFileSetError(f"{source} {split}: {other} and {path} are byte-identical under two shard indices")
    return kept, dropped


def local_sha(root: Path) -> Callable[[Entry], str]:
    """A `local_sha` for files under `root` (a mirror folder or the download cache)."""
    return lambda e: sha256_file(root / e.path)


def log_dropped(source: str, dropped: list[str], log: Log = default_log) -> None:
    if dropped:
        log(f"{source}: dropped {len(dropped)} byte-identical duplicate shard file(s): {dropped}")
