"""Parquet datasets on the Hugging Face hub: which files make a split, fetching them, streaming their rows.

A hub dataset's split is a glob over repo files (the README's `configs: data_files`, e.g.
`vqav2/train-*`). The file list is resolved once, at the source's revision (a branch resolved to its
commit, a pin verified to exist: `hub.resolve_revision`), validated (`hub_files.validate_split`:
every `-NNNNN-of-NNNNN` index exactly once, byte-identical copies dropped and counted) and locked in
the cache (`<cache>/<source>/files.json`) so every later step and re-run sees exactly the same shards
and therefore the same image names. After the download the set is validated again with every file's
sha256 (from the fetch sidecars), before any row is read. Files are listed
- on the hub: `HfApi.list_repo_tree` at the commit (with sizes and LFS sha256);
- in a local mirror folder (or file://): by walking the repo folder, shaped like the hub repo;
- in an HTTP mirror: from the hub's tree API answer mirrored at
  `<mirror>/huggingface.co/api/datasets/<repo>/tree/<revision>/<folder>` (an HTTP server cannot glob).
Rows are read in record batches, so memory is bounded by one Parquet row group plus one batch,
whatever the shard size."""
from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Iterator

import pyarrow.parquet as pq

from ..atomic import write_text
from ..digests import file_identity
from ..fetch import Expected, FetchResult
from ..layout import Layout
from ..progress import Log, default_log
from ..verify import redact
from .hub import HubRepoFiles, resolve_revision
from .hub_files import Entry, list_hub, list_mirror, local_sha, log_dropped, mirror_root, validate_split

READ_BUFFER = 1 << 20  # buffered (not pre-buffered) column reads: pages stream instead of whole chunks



@dataclass(frozen=True)
class Locked:
    """The resolved file list of a source: commit ("mirror" when served by a mirror), files per split,
    and per split the byte-identical duplicate files left out."""

    commit: str
    files: dict[str, list[str]]
    dropped: dict[str, list[str]] = field(default_factory=dict)
    expected: dict[str, list] = field(default_factory=dict)  # repo path -> [size, LFS sha256] as listed

    def expected_of(self, path: str) -> Expected | None:
        return Expected(*self.expected[path]) if path in self.expected else None

    def local(self, layout: Layout, source: str, split: str) -> list[Path]:
        return [layout.cache(source) / PurePosixPath(f).name for f in self.files[split]]


def resolve_files(ds: HubRepoFiles, mirror: str | None, cache: Path, log: Log = default_log) -> Locked:
    """The validated files of every split at the source's revision, in shard order."""
    if mirror:
        commit = "mirror"
        entries = list_mirror(ds.repo_id, ds.revision, sorted({ds.folder_of(s) for s in ds.splits}), mirror, cache)
        root = mirror_root(ds.repo_id, mirror)
        sha = local_sha(root) if root else (lambda e: None)
    else:
        commit = resolve_revision(ds.repo_id, ds.revision, log=log)
        entries, sha = [e for f in sorted({ds.folder_of(s) for s in ds.splits}) for e in list_hub(ds.repo_id, commit, f)], \
            (lambda e: None)
    files, dropped = {}, {}
    for split, glob in ds.splits.items():
        matched = [e for e in entries if fnmatch.fnmatchcase(e.path, glob) and e.path.endswith(".parquet")]
        if not matched:
            raise FileNotFoundError(f"{ds.name}: no parquet files for split {split!r} ({glob}) in {ds.repo_id} "
                                    f"({'mirror ' + redact(mirror) if mirror else 'commit ' + commit})")
        files[split], dropped[split] = validate_split(ds.name, split, matched, sha)
        log_dropped(ds.name, dropped[split], log)
    chosen = {n for split in files.values() for n in split}
    # what each file must be, as the listing states it: checked at download, through a mirror too
    expected = {e.path: [e.size, e.sha256] for e in sorted(entries, key=lambda e: e.path)
                if e.path in chosen and (e.size is not None or e.sha256 is not None)}
    return Locked(commit, files, dropped, expected)


def read_lock(ds: HubRepoFiles, layout: Layout) -> Locked:
    path = ds.lock_path(layout)
    if not path.exists():
        raise FileNotFoundError(f"{ds.name}: not downloaded yet ({path} missing)")
    data = json.loads(path.read_bytes())
    return Locked(data["commit"], data["files"], data.get("dropped", {}), data.get("expected", {}))


def _revalidate(ds: HubRepoFiles, lock: Locked, layout: Layout) -> None:
    """The downloaded set once more, every file with its sha256, before any row is read."""
    for split in ds.splits:
        local = lock.local(layout, ds.name, split)
        entries = [Entry(name, p.stat().st_size, file_identity(p).split(":", 1)[1])
                   for name, p in zip(lock.files[split], local)]
        validate_split(ds.name, split, entries)


def download(ds: HubRepoFiles, layout: Layout, mirror: str | None,
             log: Log = default_log) -> tuple[Locked, list[FetchResult]]:
    """Fetch every parquet file of every split into `<cache>/<source>/` and lock the file list.

    A lock from an earlier run with the same origin (hub revision or mirror) is reused as is, so a
    branch revision cannot drift between re-runs; delete `files.json` to re-resolve."""
    cache = layout.cache(ds.name)
    cache.mkdir(parents=True, exist_ok=True)
    origin = "mirror" if mirror else ds.revision
    lock: Locked | None = None
    if ds.lock_path(layout).exists():
        stored = json.loads(ds.lock_path(layout).read_bytes())
        if stored.get("origin") == origin and set(stored["files"]) == set(ds.splits):
            lock = Locked(stored["commit"], stored["files"], stored.get("dropped", {}), stored.get("expected", {}))
    fresh = lock is None
    if lock is None:
        lock = resolve_files(ds, mirror, cache, log)
    basenames = [PurePosixPath(n).name for s in ds.splits for n in lock.files[s]]
    if len(set(basenames)) != len(basenames):
        raise ValueError(f"{ds.name}: two files of {ds.repo_id} share a name; the cache is flat")
    revision = ds.revision if mirror else lock.commit  # a mirror serves one snapshot, named by its path
    results = [ds.file(name, revision).fetch(cache, mirror, log, lock.expected_of(name))[0]
               for split in ds.splits for name in lock.files[split]]
    _revalidate(ds, lock, layout)
    if fresh:  # written once, after every file arrived and passed: a re-run rewrites nothing
        write_text(ds.lock_path(layout), json.dumps(
            {"repo_id": ds.repo_id, "origin": origin, "commit": lock.commit, "files": lock.files,
             "dropped": lock.dropped, "expected": lock.expected}, indent=1))
    return lock, results


def iter_batches(path: Path, columns: list[str], batch_size: int) -> Iterator[list[dict[str, Any]]]:
    """Rows of one Parquet file as lists of dicts, `batch_size` rows at a time (bounded memory)."""
    pf = pq.ParquetFile(path, buffer_size=READ_BUFFER, pre_buffer=False)
    missing = [c for c in columns if c not in pf.schema_arrow.names]
    if missing:
        raise ValueError(f"{path.name}: no column(s) {missing}; has {pf.schema_arrow.names}")
    for batch in pf.iter_batches(batch_size=batch_size, columns=columns, use_threads=False):
        yield batch.to_pylist()


def row_count(path: Path) -> int:
    return pq.ParquetFile(path).metadata.num_rows
