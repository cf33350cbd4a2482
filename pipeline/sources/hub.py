"""Files of Hugging Face hub repos, at a pinned revision, or from a mirror root.

A mirror holds a folder shaped like the hub repo at `<mirror>/huggingface.co/datasets/<repo id>/`
(the same shape `datasets.load_dataset(folder)` reads). The token, where one is needed, is read by
huggingface_hub from HF_TOKEN; it is never passed through our code, logs or metadata."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..fetch import Expected, FetchResult, fetch, fetch_upstream
from ..progress import Log, default_log


@dataclass(frozen=True)
class HubFile:
    repo_id: str
    filename: str
    revision: str            # a commit sha pins it; a branch name is resolved and recorded at download
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

        commit = self.revision
        if len(commit) != 40:
            commit = HfApi().repo_info(self.repo_id, repo_type=self.repo_type, revision=self.revision).sha
            log(f"{self.repo_id}@{self.revision} resolved to commit {commit}")
        if expected is None:
            (info,) = HfApi().get_paths_info(self.repo_id, [self.filename], revision=commit, repo_type=self.repo_type)
            expected = Expected(info.size, info.lfs.sha256 if info.lfs else None)
        local = hf_hub_download(self.repo_id, self.filename, repo_type=self.repo_type, revision=commit)
        # hub cache -> our cache through the same verified, atomic copy as any other file
        return fetch(os.fspath(local), dest, expected, identity=f"{self.mirror_location()}@{commit}", log=log), commit
