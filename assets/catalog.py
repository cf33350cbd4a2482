"""What every asset carries besides its computation, decided in one place: owners, tags and kinds per
area, and code references (linked to the repository when its URL is known)."""
from __future__ import annotations

import subprocess
from typing import Any, Sequence

import dagster as dg

from .settings import PROJECT_ROOT

# Owners per area of the code base (Dagster shows them on every asset and can filter by them).
OWNERS = {"sources": "team:data-engine", "mixture": "team:data-engine", "spatialqa": "team:spatialqa",
          "training": "team:training", "evaluation": "team:training"}
DATA_ROOT_TAG = "spatialmix/data_root"


def describe(area: str, kinds: set[str], **tags: str) -> dict[str, Any]:
    """The keyword arguments of `@dg.asset` that file an asset in the catalog: its owner, an `area` tag
    plus the given tags, and its kinds (at most three: Dagster shows three badges)."""
    if len(kinds) > 3:
        raise ValueError(f"at most 3 kinds per asset, got {sorted(kinds)}")
    return {"owners": [OWNERS[area]], "tags": {"area": area, **tags}, "kinds": kinds}


def with_code_references(assets: Sequence[dg.AssetsDefinition], repository: str) -> list:
    """Each asset's defining function as a code reference: a link into the repository at the checked-out
    commit when `repository` (or the checkout's `origin` remote) is a GitHub or GitLab URL, else the
    local file (e.g. a clone of a local folder)."""
    referenced = dg.with_source_code_references(assets)
    url = _https(repository or _git("config", "--get", "remote.origin.url"))
    platform = next((p for p in ("github", "gitlab") if p in url), None)
    commit = _git("rev-parse", "HEAD") if url.startswith("https://") and platform else ""
    if not commit:
        return list(referenced)
    return list(dg.link_code_references_to_git(
        referenced, git_url=url, git_branch=commit, platform=platform,  # type: ignore[arg-type]
        file_path_mapping=dg.AnchorBasedFilePathMapping(local_file_anchor=PROJECT_ROOT,
                                                        file_anchor_path_in_repository="")))


def _git(*args: str) -> str:
    try:
        done = subprocess.run(["git", "-C", str(PROJECT_ROOT), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def _https(url: str) -> str:
    """`git@github.com:org/repo.git` -> `https://github.com/org/repo` (the form the UI links to)."""
    if url.startswith("git@"):
        host, _, path = url[4:].partition(":")
        url = f"https://{host}/{path}"
    return url.removesuffix(".git")
