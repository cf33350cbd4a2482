"""Parquet datasets on the Hugging Face hub: which files make a split, fetching them, streaming their rows.

A hub dataset's split is a glob over repo files (the README's `configs: data_files`, e.g.
`vqav2/train-*`). The file list is resolved once, at the pinned revision, and locked in the cache
(`<cache>/<source>/files.json`) so every later step and re-run sees exactly the same shards and
therefore the same image names. Files are listed
- on the hub: `HfApi.list_repo_files` at the revision (a branch is resolved to its commit first);
- in a local mirror folder (or file://): by globbing the repo folder, shaped like the hub repo;
- in an HTTP mirror: from the hub's tree API answer mirrored at
  `<mirror>/huggingface.co/api/datasets/<repo>/tree/<revision>/<folder>` (an HTTP server cannot glob).
Rows are read in record batches, so memory is bounded by one Parquet row group plus one batch,
whatever the shard size."""
from __future__ import annotations

import fnmatch
import json
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Iterator

import pyarrow.parquet as pq

from ..atomic import write_text
from ..fetch import Expected, FetchResult, fetch_upstream, mirror_url
from ..layout import Layout
from ..progress import Log, default_log
from ..verify import expected_from_tree, redact

if TYPE_CHECKING:
    from .hub_source import HubDataset

HUB = "https://huggingface.co"
READ_BUFFER = 1 << 20  # buffered (not pre-buffered) column reads: pages stream instead of whole chunks



@dataclass(frozen=True)
class Locked:
    """The resolved file list of a source: commit ("mirror" when served by a mirror) and files per split."""

    commit: str
    files: dict[str, list[str]]
    expected: dict[str, list] = field(default_factory=dict)  # repo path -> [size, LFS sha256] as listed

    def expected_of(self, path: str) -> Expected | None:
        return Expected(*self.expected[path]) if path in self.expected else None

    def local(self, layout: Layout, source: str, split: str) -> list[Path]:
        return [layout.cache(source) / PurePosixPath(f).name for f in self.files[split]]


def _list_hub(ds: "HubDataset", log: Log) -> tuple[str, dict[str, Expected]]:
    from huggingface_hub import HfApi  # imported late: HF_* env is read at import

    api = HfApi()
    commit = ds.revision
    if len(commit) != 40:
        commit = api.repo_info(ds.repo_id, repo_type="dataset", revision=ds.revision).sha
        log(f"{ds.repo_id}@{ds.revision} resolved to commit {commit}")
    tree = api.list_repo_tree(ds.repo_id, recursive=True, revision=commit, repo_type="dataset")
    return commit, {f.path: Expected(f.size, f.lfs.sha256 if f.lfs else None) for f in tree if hasattr(f, "size")}


def tree_api_url(repo_id: str, revision: str, folder: str) -> str:
    """The hub's tree listing of one folder (a JSON list of {type, path, size, ...})."""
    return f"{HUB}/api/datasets/{repo_id}/tree/{urllib.parse.quote(revision, safe='')}/{folder}"


def _list_mirror(ds: "HubDataset", mirror: str, cache: Path) -> dict[str, Expected]:
    """Repo path -> its listed size and sha256 (a folder mirror lists none: its checksum index applies)."""
    repo_url = mirror_url(f"{HUB}/datasets/{ds.repo_id}", mirror)
    if repo_url.startswith("file://"):
        root = Path(urllib.parse.unquote(urllib.parse.urlsplit(repo_url).path))
        if not root.is_dir():
            raise FileNotFoundError(f"{ds.name}: mirror has no folder for {ds.repo_id}: {root}")
        return {p.relative_to(root).as_posix(): Expected() for p in root.rglob("*.parquet")}
    names: dict[str, Expected] = {}
    for folder in sorted({ds.folder_of(s) for s in ds.splits}):
        listing = cache / f"tree-{folder.replace('/', '_')}.json"
        url = tree_api_url(ds.repo_id, ds.revision, folder)
        fetch_upstream(url, listing, Expected(), mirror)
        names |= {e["path"]: expected_from_tree(e) for e in json.loads(listing.read_bytes()) if e.get("type") == "file"}
    return names


def resolve_files(ds: "HubDataset", mirror: str | None, cache: Path, log: Log = default_log) -> Locked:
    """The files of every split at the pinned revision, sorted (shard order = file order)."""
    if mirror:
        commit, listed = "mirror", _list_mirror(ds, mirror, cache)
    else:
        commit, listed = _list_hub(ds, log)
    names = list(listed)
    files = {split: sorted(n for n in names if fnmatch.fnmatchcase(n, glob) and n.endswith(".parquet"))
             for split, glob in ds.splits.items()}
    empty = [s for s, f in files.items() if not f]
    if empty:
        raise FileNotFoundError(f"{ds.name}: no parquet files for split(s) {empty} in {ds.repo_id} "
                                f"({'mirror ' + redact(mirror) if mirror else 'revision ' + commit})")
    chosen = {n for split in files.values() for n in split}
    return Locked(commit, files, {n: [e.size, e.sha256] for n, e in sorted(listed.items())
                                  if n in chosen and e != Expected()})


def read_lock(ds: "HubDataset", layout: Layout) -> Locked:
    path = ds.lock_path(layout)
    if not path.exists():
        raise FileNotFoundError(f"{ds.name}: not downloaded yet ({path} missing)")
    data = json.loads(path.read_bytes())
    return Locked(data["commit"], data["files"], data.get("expected", {}))


def download(ds: "HubDataset", layout: Layout, mirror: str | None,
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
            lock = Locked(stored["commit"], stored["files"], stored.get("expected", {}))
    fresh = lock is None
    if lock is None:
        lock = resolve_files(ds, mirror, cache, log)
    revision = ds.revision if mirror else lock.commit  # a mirror serves one snapshot, named by its path
    results = [ds.file(name, revision).fetch(cache, mirror, log, lock.expected_of(name))[0]
               for split in ds.splits for name in lock.files[split]]
    basenames = [PurePosixPath(n).name for s in ds.splits for n in lock.files[s]]
    if len(set(basenames)) != len(basenames):
        raise ValueError(f"{ds.name}: two files of {ds.repo_id} share a name; the cache is flat")
    if fresh:  # written once, after every file arrived: a re-run rewrites nothing
        write_text(ds.lock_path(layout), json.dumps(
            {"repo_id": ds.repo_id, "origin": origin, "commit": lock.commit, "files": lock.files,
             "expected": lock.expected}, indent=1))
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
