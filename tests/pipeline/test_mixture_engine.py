"""The mixture engine on small generated component tables: counts, rejections, duplicates, overlap,
ids, shuffling, idempotence, atomicity, and LLaVA / `datasets` compatibility of the exported JSON."""
from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path
from typing import Any

import datasets
import polars as pl
import pytest
from PIL import Image

import pipeline.mixture.export as mixture_export
from pipeline import atomic, mixture, tables
from pipeline.layout import Layout
from pipeline.recipe import parse


def jpeg(color: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (16, 12), color).save(buf, "JPEG")
    return buf.getvalue()


def h(value: str) -> dict[str, str]:
    return {"from": "human", "value": value}


def g(value: str) -> dict[str, str]:
    return {"from": "gpt", "value": value}


def rec(rid: str, image: str | None, conv: Any, source: str) -> dict[str, Any]:
    return {"id": rid, "image": image, "conversations": conv, "source": source, "source_id": f"{source}:{rid}"}


def write_images(layout: Layout, source: str, files: dict[str, bytes]) -> None:
    """Images under the data root plus the source's image manifest (path, sha256)."""
    rows = []
    for rel, data in files.items():
        atomic.write_bytes(layout.data_root / rel, data)
        rows.append({"path": rel, "source": source, "original": rel, "original_format": "JPEG", "width": 16,
                     "height": 12, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                     "action": "copied", "reason": None})
    atomic.write_table(layout.tables(source) / "images" / "part-0.parquet", tables.to_table(rows, tables.MANIFEST))


def write_conversations(path: Path, rows: list[dict[str, Any]]) -> None:
    atomic.write_table(path, tables.to_table(rows, tables.CONVERSATIONS))


@pytest.fixture()
def world(tmp_path: Path) -> Layout:
    """Five components: the 665K (with a bad record of every reason, an exact duplicate, a text-only
    sample), vqav2 and textcaps (one sample each repeats a 665K image + question, with re-ingested
    identical bytes), clevr as a folder of parts, openspaces' train table; ids collide across them."""
    layout = Layout.at(tmp_path / "data", tmp_path / "tables", tmp_path / "cache")
    red, blue, green = jpeg((200, 0, 0)), jpeg((0, 0, 200)), jpeg((0, 200, 0))
    write_images(layout, "coco", {"coco/train2017/000000000001.jpg": red, "coco/train2017/000000000002.jpg": blue,
                                  "coco/train2017/000000000003.jpg": green})
    write_images(layout, "vqav2", {"vqav2/images/00000000.jpg": red, "vqav2/images/00000001.jpg": jpeg((9, 9, 9))})
    write_images(layout, "textcaps", {"textcaps/images/00000000.jpg": blue})
    write_images(layout, "clevr", {f"clevr/images/{i:08d}.jpg": jpeg((i, i, 50)) for i in range(4)})
    write_images(layout, "openspaces", {"openspaces/images/00000000.jpg": jpeg((1, 2, 3))})

    c1, c2, c3 = ("coco/train2017/00000000000%d.jpg" % i for i in (1, 2, 3))
    llava = [
        rec("a", c1, [h("<image>\nWhat colour is the box?"), g("Red."), h("Sure?"), g("Yes.")], "llava_665k"),
        rec("b", c2, [h("<image>\nProvide a one-sentence caption for the provided image."), g("Blue.")], "llava_665k"),
        rec("c", None, [h("Write a haiku."), g("Autumn moonlight...")], "llava_665k"),
        rec("d", c3, [h("<image>\nAnd this?"), g("Green.")], "llava_665k"),
        rec("dup", c3, [h("<image>\nAnd this?"), g("Green.")], "llava_665k"),            # duplicate of d
        rec("r1", None, [], "llava_665k"),                                                # no_conversation
        rec("r2", c1, [{"from": "user", "value": "<image>\nq"}, g("a")], "llava_665k"),   # bad_turn
        rec("r3", c1, [g("<image>\nq"), h("a")], "llava_665k"),                           # turns_not_alternating
        rec("r4", c1, [h("<image>\nq"), g("  ")], "llava_665k"),                          # empty_turn
        rec("r5", c1, [h("<image>\nq"), g("a"), h("more?")], "llava_665k"),               # unanswered_turn
        rec("r6", c1, [h("q <image>"), g("a")], "llava_665k"),                            # image_token
        rec("r7", "ocr_vqa/images/gone.jpg", [h("<image>\nq"), g("a")], "llava_665k"),    # image_missing
    ]
    write_conversations(layout.tables("llava_665k") / "conversations.parquet", llava)
    write_conversations(layout.tables("vqav2") / "conversations.parquet", [
        rec("0", "vqav2/images/00000000.jpg", [h("<image>\n  what COLOUR is the box ?"), g("red")], "vqav2"),  # overlap
        rec("1", "vqav2/images/00000001.jpg", [h("<image>\nWhat colour is the box?"), g("grey")], "vqav2"),
    ])
    write_conversations(layout.tables("textcaps") / "conversations.parquet", [
        rec("a", "textcaps/images/00000000.jpg",  # same bytes and question as 665K "b"; id collides with "a"
            [h("<image>\nProvide a one-sentence caption for the provided image."), g("A blue square.")], "textcaps"),
    ])
    for part in range(2):
        write_conversations(layout.tables("clevr") / "conversations.parquet" / f"part-{part}.parquet", [
            rec(f"{i}", f"clevr/images/{i:08d}.jpg", [h("<image>\nHow many cubes?"), g(str(i))], "clevr")
            for i in range(part * 2, part * 2 + 2)])
    write_conversations(layout.tables("openspaces") / "conversations-train.parquet", [
        rec("0", "openspaces/images/00000000.jpg",
            [h("<image>\nHow far is the chair from the table?"), g("About 1.2 metres."),
             h("Which is taller?"), g("The lamp.")], "openspaces")])
    write_conversations(layout.tables("openspaces") / "conversations-test.parquet", [
        rec("9", "openspaces/images/00000000.jpg", [h("<image>\nheld out"), g("x")], "openspaces")])
    return layout


RECIPE: dict[str, Any] = {
    "name": "mix", "version": "3", "seed": 5, "tolerance": 0.0, "duplicates": "drop",
    "overlap": {"policy": "keep", "sources": ["vqav2", "textcaps"], "reference": "llava_665k"},
    "components": [
        {"source": "llava_665k", "expected": 4},
        {"source": "vqav2", "expected": 2},
        {"source": "textcaps", "expected": 1},
        {"source": "clevr", "expected": 4},
        {"source": "openspaces", "table": "conversations-train.parquet", "expected": 1},
    ],
}


def recipe(**changes: Any) -> Any:
    data = json.loads(json.dumps(RECIPE))
    data.update(changes)
    return parse(data)


def build(layout: Layout, **changes: Any) -> mixture.MixtureReport:
    return mixture.build(recipe(**changes), layout, log=lambda _m: None)


def read_json(path: Path) -> list[dict[str, Any]]:
    return json.loads(path.read_text())


def test_counts_rejections_duplicates_overlap(world: Layout) -> None:
    report = build(world)
    m = report.manifest
    assert report.out_dir == world.data_root.parent / "mixtures" / "mix"
    per = {c["name"]: c for c in m["components"]}
    assert {n: c["records"] for n, c in per.items()} == {"llava_665k": 4, "vqav2": 2, "textcaps": 1, "clevr": 4,
                                                           "openspaces": 1}
    assert all(c["within_tolerance"] for c in per.values())
    assert per["llava_665k"]["read"] == 12 and per["llava_665k"]["rejected"] == 7
    assert m["rejections"] == {"no_conversation": 1, "bad_turn": 1, "turns_not_alternating": 1, "empty_turn": 1,
                               "unanswered_turn": 1, "image_token": 1, "image_missing": 1}
    assert m["duplicates"] == {"policy": "drop", "found": 1}
    assert per["llava_665k"]["duplicates_dropped"] == 1
    assert m["overlap"]["found"] == 2 and per["vqav2"]["overlap"] == 1 and per["textcaps"]["overlap"] == 1
    assert per["vqav2"]["overlap_dropped"] == 0
    assert m["records"] == 12

    rejected = pl.read_parquet(report.rejections_path)
    assert sorted(rejected["reason"].to_list()) == sorted([*m["rejections"], "duplicate"])
    assert rejected.filter(pl.col("reason") == "duplicate")["detail"].item() == \
        "same image and conversations as d"
    assert rejected.filter(pl.col("reason") == "image_missing")["source_id"].item() == "llava_665k:r7"

    records = read_json(report.json_path)
    assert len(records) == m["records"] == mixture.count_json_records(report.json_path)
    ids = [r["id"] for r in records]
    assert len(set(ids)) == len(ids)
    assert m["ids"]["renamed"] == 4  # textcaps "a"; clevr "0"/"1" and openspaces "0" vs vqav2's
    assert {"a~textcaps-1", "0~clevr-1", "1~clevr-1", "0~openspaces-2"} <= set(ids)
    assert all(set(r) <= {"id", "image", "conversations"} for r in records)  # no provenance in LLaVA JSON
    text_only = [r for r in records if "image" not in r]
    assert [r["conversations"][0]["value"] for r in text_only] == ["Write a haiku."]

    table = pl.read_parquet(report.parquet_path)
    assert table.columns == tables.CONVERSATIONS.names
    assert table["id"].to_list() == ids  # same order as the JSON
    assert table.group_by("source").len().sort("source").rows() == [
        ("clevr", 4), ("llava_665k", 4), ("openspaces", 1), ("textcaps", 1), ("vqav2", 2)]
    assert m["content_hash"] == hashlib.sha256(report.json_path.read_bytes()).hexdigest()


def test_overlap_drop_removes_and_records(world: Layout) -> None:
    report = build(world, overlap={"policy": "drop", "sources": ["vqav2", "textcaps"], "reference": "llava_665k"})
    per = {c["name"]: c for c in report.manifest["components"]}
    assert per["vqav2"]["records"] == 1 and per["vqav2"]["overlap_dropped"] == 1
    assert per["textcaps"]["records"] == 0 and not per["textcaps"]["within_tolerance"]
    overlap = pl.read_parquet(report.rejections_path).filter(pl.col("reason") == "overlap")
    assert sorted(overlap["detail"].to_list()) == ["same image and first question as llava_665k a",
                                                    "same image and first question as llava_665k b"]
    assert "grey" in report.json_path.read_text()  # same question, other image: not an overlap


def test_tolerance_flags_counts_out_of_range(world: Layout) -> None:
    data = json.loads(json.dumps(RECIPE))
    data["components"][0]["expected"] = 5
    data["components"][0]["tolerance"] = 0.1  # 4 vs 5 is 20% off
    report = mixture.build(parse(data), world, log=lambda _m: None)
    assert report.manifest["components"][0]["within_tolerance"] is False
    data["components"][0]["tolerance"] = 0.2
    report = mixture.build(parse(data), world, log=lambda _m: None)
    assert report.manifest["components"][0]["within_tolerance"] is True


def test_keep_duplicates_is_reported(world: Layout) -> None:
    report = build(world, duplicates="keep")
    assert report.manifest["duplicates"] == {"policy": "keep", "found": 1}
    assert report.manifest["components"][0]["records"] == 5


def test_shuffle_is_seeded_and_deterministic(world: Layout, tmp_path: Path) -> None:
    one = mixture.build(recipe(), world, tmp_path / "one", log=lambda _m: None)
    two = mixture.build(recipe(), world, tmp_path / "two", log=lambda _m: None)
    assert one.json_path.read_bytes() == two.json_path.read_bytes()
    other = mixture.build(recipe(seed=6), world, tmp_path / "three", log=lambda _m: None)
    a, b = read_json(one.json_path), read_json(other.json_path)
    assert [r["id"] for r in a] != [r["id"] for r in b]
    assert sorted(map(json.dumps, a)) == sorted(map(json.dumps, b))


def test_sampling_per_component(world: Layout) -> None:
    data = json.loads(json.dumps(RECIPE))
    data["components"][3]["max_samples"] = 3
    data["components"][0]["fraction"] = 0.5
    first = mixture.build(parse(data), world, log=lambda _m: None)
    per = {c["name"]: c for c in first.manifest["components"]}
    assert per["clevr"]["records"] == 3 and per["clevr"]["sampled_out"] == 1
    assert per["llava_665k"]["records"] == 2 and per["llava_665k"]["sampled_out"] == 2
    again = mixture.build(parse(data), world, force=True, log=lambda _m: None)
    assert again.json_path.read_bytes() == first.json_path.read_bytes()


def test_rerun_is_a_noop_until_an_input_changes(world: Layout) -> None:
    first = build(world)
    stamps = {p: p.stat().st_mtime_ns for p in first.out_dir.iterdir()}
    second = build(world)
    assert second.skipped and second.manifest == first.manifest
    assert {p: p.stat().st_mtime_ns for p in first.out_dir.iterdir()} == stamps
    # the same table rewritten with one more record: the content hash changes, so the mixture is rebuilt
    path = world.tables("vqav2") / "conversations.parquet"
    rows = pl.read_parquet(path).to_dicts() + [rec("2", "vqav2/images/00000001.jpg", [h("<image>\nq"), g("a")], "vqav2")]
    write_conversations(path, rows)
    third = build(world)
    assert not third.skipped and third.manifest["records"] == 13


def test_killed_export_leaves_no_partial_output(world: Layout, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def dying(batch: Any) -> Any:  # killed while the JSON is being written, parquet thread running
        calls.append(batch.height)
        raise KeyboardInterrupt

    monkeypatch.setattr(mixture_export, "_encode_json", dying)
    with pytest.raises(KeyboardInterrupt):
        build(world)
    out = world.data_root.parent / "mixtures" / "mix"
    assert calls and list(out.iterdir()) == []  # no output, no staging leftovers
    monkeypatch.undo()
    assert not build(world).skipped


def test_missing_or_malformed_table_is_a_clear_error(world: Layout) -> None:
    data = json.loads(json.dumps(RECIPE))
    data["components"].append({"source": "spatialqa"})
    with pytest.raises(mixture.MixtureError, match="spatialqa/conversations.parquet"):
        mixture.build(parse(data), world, log=lambda _m: None)
    atomic.write_table(world.tables("spatialqa") / "conversations.parquet",
                       tables.to_table([{"path": "x"}], tables.MANIFEST))
    with pytest.raises(mixture.MixtureError, match="missing columns"):
        mixture.build(parse(data), world, log=lambda _m: None)


def test_count_json_records_validates_framing(world: Layout, tmp_path: Path) -> None:
    report = build(world)
    body = report.json_path.read_bytes()
    assert mixture.count_json_records(report.json_path) == len(json.loads(body))
    broken = tmp_path / "broken.json"
    for bad in (body[: len(body) // 2], body.replace(b",\n", b"\n", 1), body.replace(b'"id"', b'"id', 1),
                body + b"[]"):
        broken.write_bytes(bad)
        with pytest.raises(ValueError):
            mixture.count_json_records(broken)
    empty = tmp_path / "empty.json"
    mixture.write_llava_json(pl.DataFrame(schema=mixture.CONVERSATIONS_SCHEMA), empty)
    assert json.loads(empty.read_text()) == [] and mixture.count_json_records(empty) == 0


@pytest.mark.parametrize("batch_rows", [1, 2, 1000])
def test_json_export_round_trips_any_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, batch_rows: int) -> None:
    """Escaping (quotes, backslashes, control characters, separators, astral planes) and the
    removal of the image key of text-only samples, across batch boundaries."""
    monkeypatch.setattr(mixture_export, "BATCH_ROWS", batch_rows)
    nasty = ['"image":null,', 'say "hi"\\n', "\x00\x1f\x7f", "\u2028\u2029</script>", "é😀中", ",\n]", "\\"]
    rows = [rec(f"id{i}{v}", None if i % 2 else f"img/{v}.jpg", [h(f"<image>\n{v}" if i % 2 == 0 else v), g(v)], "s")
            for i, v in enumerate(nasty)]
    path = tmp_path / "x.json"
    written = mixture.write_llava_json(pl.from_arrow(tables.to_table(rows, tables.CONVERSATIONS)), path)
    expected = [{k: v for k, v in r.items() if k in ("id", "image", "conversations") and v is not None} for r in rows]
    assert json.loads(path.read_bytes()) == expected
    assert mixture.count_json_records(path) == len(rows)
    assert written["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_json_loads_with_datasets(world: Layout, tmp_path: Path) -> None:
    report = build(world)
    ds = datasets.load_dataset("json", data_files=str(report.json_path), split="train",
                               cache_dir=str(tmp_path / "hf"))
    assert ds.num_rows == report.manifest["records"]
    assert set(ds.column_names) == {"id", "image", "conversations"}
    assert sum(x is None for x in ds["image"]) == 1
    assert ds[0]["conversations"][0]["from"] == "human"


def test_every_record_passes_llava_loading_rules(world: Layout) -> None:
    """What LLaVA-1.5's LazySupervisedDataset does with each record: open the image as RGB from the
    image folder; one <image> in the first human turn; human/gpt alternation; nothing empty."""
    report = build(world)
    for r in read_json(report.json_path):
        conv = r["conversations"]
        assert conv and len(conv) % 2 == 0
        assert [t["from"] for t in conv] == ["human", "gpt"] * (len(conv) // 2)
        assert all(t["value"].strip() for t in conv)
        if "image" in r:
            with Image.open(world.data_root / r["image"]) as im:
                assert im.convert("RGB").size == (16, 12)
            assert conv[0]["value"].count("<image>") == 1 and conv[0]["value"].startswith("<image>")
            assert sum(t["value"].count("<image>") for t in conv) == 1
        else:
            assert all("<image>" not in t["value"] for t in conv)


def test_command_line(world: Layout, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "r.toml"
    path.write_text('name = "cli"\n[[components]]\nsource = "clevr"\nexpected = 4\n')
    args = ["--recipe", str(path), "--data-root", str(world.data_root), "--tables-root", str(world.tables_root)]
    assert mixture.main(args) == 0
    assert "4 records" in capsys.readouterr().out
    assert mixture.main(args) == 0
    assert "(unchanged)" in capsys.readouterr().out
    assert os.path.isfile(world.data_root.parent / "mixtures" / "cli" / "cli.json")
