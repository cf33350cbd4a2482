"""Issue 10 for the mixture: image existence read from the manifests (item 1), odd records and the CLI's
exit code (item 8), one commit point, no litter, readable permissions (item 9)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import polars as pl
import pytest

from pipeline import atomic, mixture, tables
from pipeline.layout import Layout
from tests.pipeline.test_mixture_engine import build, g, h, rec, world, write_conversations  # noqa: F401


def test_an_image_on_disk_but_in_no_manifest_is_missing(world: Layout) -> None:
    """A stale file (its source no longer lists it) is not trusted because it is still on disk."""
    atomic.write_bytes(world.data_root / "coco/train2017/000000000009.jpg", b"stale bytes")
    path = world.tables("llava_665k") / "conversations.parquet"
    rows = pl.read_parquet(path).to_dicts() + [
        rec("stale", "coco/train2017/000000000009.jpg", [h("<image>\nWhat is it?"), g("Old.")], "llava_665k")]
    write_conversations(path, rows)
    report = build(world)
    rejected = pl.read_parquet(report.rejections_path)
    assert rejected.filter(pl.col("source_id") == "llava_665k:stale")["reason"].to_list() == ["image_missing"]


def test_odd_records_never_reach_the_json(world: Layout) -> None:
    path = world.tables("llava_665k") / "conversations.parquet"
    c1 = "coco/train2017/000000000001.jpg"
    odd = {"absolute": ("/" + c1, [h("<image>\nq"), g("a")]), "dotdot": ("coco/../" + c1, [h("<image>\nq"), g("a")]),
           "token-only": (c1, [h("<image>\n"), g("a")]), "zero-width": (c1, [h("<image>\nq"), g("\u200b")]),
           "huge": (c1, [h("<image>\n" + "x" * 10_000_000), g("a")])}
    rows = pl.read_parquet(path).to_dicts() + [rec(k, img, conv, "llava_665k") for k, (img, conv) in odd.items()]
    rows.append(rec(None, c1, [h("<image>\nWhose id is null?"), g("Nobody's.")], "llava_665k"))
    write_conversations(path, rows)
    report = build(world)
    reasons = dict(pl.read_parquet(report.rejections_path).select("source_id", "reason").iter_rows())
    assert {k: reasons[f"llava_665k:{k}"] for k in odd} == {
        "absolute": "bad_image_path", "dotdot": "bad_image_path", "token-only": "no_question",
        "zero-width": "empty_turn", "huge": "turn_too_long"}
    records = json.loads(report.json_path.read_text())
    assert all(isinstance(r["id"], str) and r["id"] != "None" for r in records)
    assert any(r["conversations"][0]["value"].endswith("Whose id is null?") for r in records)


def test_the_command_line_fails_outside_tolerance(world: Layout, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "r.toml"
    path.write_text('name = "cli"\n[[components]]\nsource = "clevr"\nexpected = 9\n')
    args = ["--recipe", str(path), "--data-root", str(world.data_root), "--tables-root", str(world.tables_root)]
    assert mixture.main(args) == 1
    assert "OUT OF TOLERANCE" in capsys.readouterr().out
    assert mixture.main([*args, "--allow-out-of-tolerance"]) == 0


def test_one_commit_point_and_no_litter(world: Layout, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline.mixture import commit as mixture_commit

    old = os.umask(0o022)
    try:
        first = build(world)
    finally:
        os.umask(old)
    out = first.out_dir
    assert os.readlink(out / "mix.json") == "current/mix.json" and (out / "current").is_symlink()
    assert json.loads((out / "manifest.json").read_text())["content_hash"] == first.manifest["content_hash"]
    for name in ("mix.json", "mix.parquet", "rejections.parquet", "manifest.json"):
        assert (out / name).stat().st_mode & 0o777 == 0o644, name  # readable by a training job's user

    # Killed after the new version is complete but before the pointer moves: the old mixture stays
    # whole under every stable name (never a new JSON beside an old manifest).
    extra = world.tables("clevr") / "conversations.parquet" / "part-2.parquet"
    write_conversations(extra, [rec("9", "clevr/images/00000000.jpg", [h("<image>\nAnd now?"), g("9")], "clevr")])
    def killed(*_: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(mixture_commit, "_point", killed)
    with pytest.raises(KeyboardInterrupt):
        build(world)
    monkeypatch.undo()
    assert json.loads((out / "manifest.json").read_text())["content_hash"] == first.manifest["content_hash"]
    assert mixture.count_json_records(out / "mix.json") == first.manifest["records"]

    second = build(world)
    assert second.manifest["records"] == first.manifest["records"] + 1
    assert mixture.count_json_records(out / "mix.json") == second.manifest["records"]
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["current", f"v-{second.manifest['content_hash'][:16]}", "mix.json", "mix.parquet", "rejections.parquet",
         "manifest.json"])  # the old version and the killed run's leftovers are gone
    assert build(world).skipped


def test_mixture_json_path_is_what_training_reads(world: Layout) -> None:
    report = build(world)
    assert report.json_path == world.mixture_json("mix")
    assert json.loads(world.mixture_json("mix").read_text())[0]["conversations"]
    assert tables.CONVERSATIONS.names == pl.read_parquet(report.parquet_path).columns
