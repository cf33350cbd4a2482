"""Files of Hugging Face hub repos, at a verified revision, or from a mirror root.

A revision is resolved once through `huggingface_hub`: a branch to the commit it points at, a
40-hex pin checked to exist (a pin that does not exist fails at once, naming the repo and the pin),
and the commit is recorded in the cache beside the file (`<file>.revision.json`), so later runs
neither drift with the branch nor ask the hub again; delete the record to move on.
A mirror holds a folder shaped like the hub repo at `<mirror>/huggingface.co/datasets/<repo id>/`
(the same shape `datasets.load_dataset(folder)` reads). The token, where one is needed, is read by
huggingface_hub from HF_TOKEN; it is never passed through our code, logs or metadata."""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from ..atomic import write_text
from ..fetch import Expected, FetchResult, fetch, fetch_upstream
from ..progress import Log, default_log
from .base import SourceError

if TYPE_CHECKING:
    from ..layout import Layout

COMMIT = re.compile(r"[0-9a-f]{40}")


class HubRevisionError(SourceError):
    """A configured revision (branch, tag or commit) that the hub repo does not have."""


def resolve_revision(repo_id: str, revision: str, repo_type: str = "dataset", log: Log = default_log) -> str:
    """The commit `revision` names in `repo_id`, asked of the hub once; a missing pin fails clearly."""
    from huggingface_hub import HfApi  # imported late: HF_* env is read at import
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

    try:
        commit = HfApi().repo_info(repo_id, repo_type=repo_type, revision=revision).sha
    except RevisionNotFoundError as err:
        raise HubRevisionError(f"{repo_type} {repo_id} has no revision {revision!r}: the configured pin does not "
                               "exist (a typo, or a commit from another repo); pin an existing commit or a branch") from err
    except RepositoryNotFoundError as err:
        raise HubRevisionError(f"{repo_type} {repo_id} not found (private, gated without a token, or renamed)") from err
    if not commit or not COMMIT.fullmatch(commit) or (COMMIT.fullmatch(revision) and commit != revision):
        raise HubRevisionError(f"{repo_type} {repo_id}@{revision}: the hub answered commit {commit!r}")
    if commit != revision:
        log(f"{repo_id}@{revision} resolved to commit {commit}")
    return commit


def locked_commit(record: Path, repo_id: str, revision: str, repo_type: str = "dataset", log: Log = default_log) -> str:
    """`revision`'s commit, resolved at the first call and read from `record` afterwards."""
    try:
        stored = json.loads(record.read_bytes())
    except (FileNotFoundError, ValueError):
        stored = {}
    if stored.get("repo_id") == repo_id and stored.get("revision") == revision and stored.get("commit"):
        return stored["commit"]
    commit = resolve_revision(repo_id, revision, repo_type, log)
    write_text(record, json.dumps({"repo_id": repo_id, "revision": revision, "commit": commit}, indent=1))
    return commit


@dataclass(frozen=True)
class HubFile:
    repo_id: str
    filename: str
    revision: str            # a commit sha pins it; a branch is resolved and recorded at download
    repo_type: str = "dataset"

    def mirror_location(self) -> str:
        return f"https://huggingface.co/{self.repo_type}s/{self.repo_id}/{self.filename}"

    def fetch(self, cache: Path, mirror: str | None, log: Log = default_log,
              expected: Expected | None = None) -> tuple[FetchResult, str]:
        """Return the local file and the commit it came from (`mirror` when served by a mirror), verified
        against `expected` (the repo's listed size and LFS sha256; asked from the hub when not given)."""
        dest = cache / Path(self.filename).name
        if mirror:
            return fetch_upstream(self.mirror_location(), dest, expected or Expected(), mirror, log=log), "mirror"
        from huggingface_hub import HfApi, hf_hub_download  # imported late: HF_* env is read at import

        commit = locked_commit(dest.with_name(dest.name + ".revision.json"), self.repo_id, self.revision,
                               self.repo_type, log)
        if expected is None:
            (info,) = HfApi().get_paths_info(self.repo_id, [self.filename], revision=commit, repo_type=self.repo_type)
            expected = Expected(info.size, info.lfs.sha256 if info.lfs else None)
        local = hf_hub_download(self.repo_id, self.filename, repo_type=self.repo_type, revision=commit)
        # hub cache -> our cache through the same verified, atomic copy as any other file
        return fetch(os.fspath(local), dest, expected, identity=f"{self.mirror_location()}@{commit}", log=log), commit


class HubRepoFiles:
    """What `hub_parquet.download` needs of a source: the repo folder of a split, one file of the repo at
    a commit, and where the locked file list lives. Mixed into the source dataclasses that have `name`,
    `repo_id`, `revision` and `splits` (split -> glob over repo paths)."""

    name: str
    repo_id: str
    revision: str
    splits: dict[str, str]

    def folder_of(self, split: str) -> str:
        return str(PurePosixPath(self.splits[split]).parent)

    def file(self, filename: str, commit: str) -> HubFile:
        return HubFile(self.repo_id, filename, commit)

    def lock_path(self, layout: "Layout") -> Path:
        return layout.cache(self.name) / "files.json"
