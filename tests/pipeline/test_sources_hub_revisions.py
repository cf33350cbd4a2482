"""Verified hub revisions (branch -> commit once, recorded; a missing pin fails at once) and the file-set
validation of a split before any row is read (indices complete and unique, duplicates by size + hash)."""
from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from pipeline.layout import Layout
from pipeline.sources import hub, hub_files, hub_ingest, hub_parquet
from pipeline.sources.hub_files import Entry, HubFileSetError, validate_split
from pipeline.sources.registry import SOURCES
from sample.hub import DUPLICATED_CLEVR_SHARD
from sample.media import mirror_file
from sample.server import MirrorServer

QUIET = lambda _: None  # noqa: E731
COMMIT = "0123456789abcdef0123456789abcdef01234567"
CAULDRON_REPO = "https://huggingface.co/datasets/HuggingFaceM4/the_cauldron"


def _e(path: str, size: int = 10, sha: str | None = None) -> Entry:
    return Entry(path, size, sha)


def test_a_complete_split_is_kept_in_shard_order() -> None:
    entries = [_e("c/train-00001-of-00002-bbb.parquet", 11, "b"), _e("c/train-00000-of-00002-aaa.parquet", 10, "a")]
    assert validate_split("c", "train", entries) == (
        ["c/train-00000-of-00002-aaa.parquet", "c/train-00001-of-00002-bbb.parquet"], [])
    assert validate_split("c", "train", [_e("c/train.parquet")]) == (["c/train.parquet"], [])


@pytest.mark.parametrize("entries, message", [
    ([_e("c/train-00000-of-00003.parquet", 1, "a"), _e("c/train-00002-of-00003.parquet", 2, "b")], r"shards \[1\] of 3 missing"),
    ([_e("c/train-00000-of-00002.parquet", 1, "a"), _e("c/train-00001-of-00003.parquet", 2, "b")], "disagree on the shard count"),
    ([_e("c/train-00000-of-00001.parquet", 1, "a"), _e("c/extra.parquet", 2, "b")], "do not follow"),
    ([_e("c/train-00000-of-00001-x.parquet", 5, "a"), _e("c/train-00000-of-00001-y.parquet", 5, "b")],
     "both claim shard 0 of 1 with different content"),
    ([_e("c/train-00000-of-00002.parquet", 5, "a"), _e("c/train-00001-of-00002.parquet", 5, "a")],
     "byte-identical under two shard indices"),
])
def test_an_invalid_file_set_fails_with_the_files_named(entries: list[Entry], message: str) -> None:
    with pytest.raises(HubFileSetError, match=message):
        validate_split("c", "train", entries)


def test_identical_copies_of_one_shard_are_dropped_and_hashes_asked_only_on_size_collisions() -> None:
    asked = []

    def sha(e: Entry) -> str:
        asked.append(e.path)
        return "same"

    entries = [_e("c/train-00000-of-00002-x.parquet", 5), _e("c/train-00000-of-00002-y.parquet", 5),
               _e("c/train-00001-of-00002-z.parquet", 7)]
    kept, dropped = validate_split("c", "train", entries, sha)
    assert kept == ["c/train-00000-of-00002-x.parquet", "c/train-00001-of-00002-z.parquet"]
    assert dropped == ["c/train-00000-of-00002-y.parquet"]
    assert sorted(asked) == ["c/train-00000-of-00002-x.parquet", "c/train-00000-of-00002-y.parquet"]


@pytest.mark.parametrize("over_http", [False, True])
def test_sample_duplicated_clevr_shard_is_ingested_once(sample_mirror: Path, layout: Layout, over_http: bool) -> None:
    clevr = SOURCES["clevr"]
    if over_http:
        with MirrorServer(sample_mirror) as server:
            lock, _ = hub_parquet.download(clevr, layout, server.url, QUIET)
    else:
        lock, _ = hub_parquet.download(clevr, layout, str(sample_mirror), QUIET)
    assert len(lock.files["train"]) == 1 and len(lock.dropped["train"]) == 1
    assert DUPLICATED_CLEVR_SHARD in lock.files["train"] + lock.dropped["train"]
    assert json.loads(clevr.lock_path(layout).read_text())["dropped"] == lock.dropped
    report = hub_ingest.ingest(clevr, layout, 1, QUIET)
    assert report.rows_read == 3  # not 6


def test_a_differing_duplicate_fails_before_any_row_is_read(sample_mirror: Path, tmp_path: Path, layout: Layout) -> None:
    mirror = tmp_path / "mirror"
    repo = mirror_file(mirror, CAULDRON_REPO)
    shutil.copytree(mirror_file(sample_mirror, CAULDRON_REPO), repo)
    other = next(p for p in (repo / "clevr").glob("*.parquet") if p.name != Path(DUPLICATED_CLEVR_SHARD).name)
    (repo / DUPLICATED_CLEVR_SHARD).write_bytes(other.read_bytes() + b"\0")  # same index, other content
    with pytest.raises(HubFileSetError, match="pin a later commit"):
        hub_parquet.download(SOURCES["clevr"], layout, str(mirror), QUIET)
    assert not SOURCES["clevr"].lock_path(layout).exists()
    assert not layout.tables("clevr").exists() and not (layout.data_root / "clevr").exists()


class FakeApi:
    """Stands in for huggingface_hub.HfApi: one repo with a `main` branch and one commit."""

    calls: list[tuple[str, str]] = []

    def repo_info(self, repo_id: str, repo_type: str, revision: str):
        from huggingface_hub.errors import RevisionNotFoundError

        FakeApi.calls.append((repo_id, revision))
        if revision not in ("main", COMMIT):
            raise RevisionNotFoundError(f"Invalid rev id: {revision}", response=SimpleNamespace(
                status_code=404, headers={}, request=None, url="", json=lambda: {}, text=""))
        return SimpleNamespace(sha=COMMIT)

    def list_repo_tree(self, repo_id, path_in_repo=None, recursive=False, revision=None, repo_type=None):
        from huggingface_hub.hf_api import RepoFile

        assert revision == COMMIT, "files are listed at the resolved commit, never at the branch"
        return [RepoFile(path=f"{path_in_repo}/train-0000{i}-of-00002.parquet", size=10 + i, oid="x",
                         lfs={"oid": f"{i:064x}", "size": 10 + i, "pointerSize": 132}) for i in range(2)]


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch) -> type[FakeApi]:
    import huggingface_hub

    FakeApi.calls = []
    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    return FakeApi


def test_a_branch_is_resolved_once_and_recorded(fake_hub, tmp_path: Path) -> None:
    record = tmp_path / "x.json.revision.json"
    assert hub.locked_commit(record, "org/repo", "main") == COMMIT
    assert hub.locked_commit(record, "org/repo", "main") == COMMIT
    assert fake_hub.calls == [("org/repo", "main")]  # the second call read the record
    assert json.loads(record.read_text()) == {"repo_id": "org/repo", "revision": "main", "commit": COMMIT}


def test_a_pin_that_does_not_exist_fails_at_once(fake_hub, tmp_path: Path, layout: Layout) -> None:
    with pytest.raises(hub.HubRevisionError, match="has no revision 'f{40}'.*pin does not exist"):
        hub.resolve_revision("org/repo", "f" * 40)
    pinned = replace(SOURCES["clevr"], revision="e" * 40)
    with pytest.raises(hub.HubRevisionError, match="the_cauldron has no revision"):
        hub_parquet.download(pinned, layout, None, QUIET)
    assert not layout.cache("clevr").joinpath("files.json").exists()


def test_hub_listing_is_validated_at_the_resolved_commit(fake_hub, layout: Layout) -> None:
    lock = hub_parquet.resolve_files(SOURCES["clevr"], None, layout.cache("clevr"), QUIET)
    assert lock.commit == COMMIT
    assert lock.files == {"train": ["clevr/train-00000-of-00002.parquet", "clevr/train-00001-of-00002.parquet"]}
    assert hub_files.list_hub("HuggingFaceM4/the_cauldron", COMMIT, "clevr")[0].sha256 == f"{0:064x}"


def test_a_hub_file_is_fetched_at_the_recorded_commit(fake_hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub

    served = tmp_path / "hub-cache" / "mix.json"
    served.parent.mkdir()
    served.write_text("[]")
    asked = []
    monkeypatch.setattr(huggingface_hub, "hf_hub_download",
                        lambda repo, filename, repo_type, revision: asked.append(revision) or str(served))
    result, commit = hub.HubFile("org/repo", "data/mix.json", "main").fetch(tmp_path / "cache", None, QUIET)
    assert commit == COMMIT and asked == [COMMIT] and result.path.read_text() == "[]"
    assert json.loads((tmp_path / "cache" / "mix.json.revision.json").read_text())["commit"] == COMMIT
