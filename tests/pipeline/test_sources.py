"""Every image source and the 665K, ingested by the engine from the sample mirror over HTTP."""
import io
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from PIL import Image

from pipeline.layout import Layout
from sample.mirror import BAD_INPUTS, LLAVA_CASES, OCR_UNREFERENCED, TEXTVQA_PREFIX
from pipeline.sources import coco_annotations, llava_665k
from pipeline.sources.base import IngestContext
from pipeline.sources.registry import IMAGE_SOURCES, SOURCES
from pipeline.sources.zip_images import ZipImageSource
from pipeline.sources.remote import RemoteFile

QUIET = lambda _: None  # noqa: E731


def ingest_all(layout: Layout, mirror: str) -> dict[str, list]:
    ctx = IngestContext(layout, mirror, 1, QUIET)
    reports = {}
    for src in IMAGE_SOURCES:
        src.download(ctx)
        reports[src.name] = [src.ingest(ctx, key) for key in src.shard_keys]
    SOURCES["llava_665k"].download(ctx)
    return reports


def manifest_rows(layout: Layout) -> list[dict]:
    return [r for m in layout.tables_root.glob("*/images/*.parquet") for r in pq.read_table(m).to_pylist()]


def row_for(rows: list[dict], path: str) -> dict:
    """The manifest row of a sample input named by its data-root path (zip member, with TextVQA's
    alternative prefix, or OCR-VQA book id)."""
    source, member = path.split("/", 1)
    (row,) = [r for r in rows if r["source"] == source and (
        r["original"].split(":", 1)[-1] in (member, TEXTVQA_PREFIX + member) or r["original"] == Path(member).stem)]
    return row


@pytest.fixture(scope="module")
def ingested(tmp_path_factory, mirror_server):
    """Every image source ingested once for the module's tests (which only read it)."""
    layout = Layout.at(tmp_path_factory.mktemp("ingested") / "playground" / "data")
    return layout, ingest_all(layout, mirror_server.url)


def test_every_bad_input_gets_its_outcome(ingested):
    layout, _ = ingested
    rows = manifest_rows(layout)
    for path, outcome in BAD_INPUTS.items():
        row = row_for(rows, path)
        expected_action = outcome.split(" ")[0].rstrip(":")
        assert row["action"] == expected_action, (path, row)
        if expected_action == "quarantined":
            assert row["reason"].startswith(outcome.split(": ")[1].split(" ")[0]), (path, row)
            assert not (layout.data_root / path).exists()
        else:
            im = Image.open(layout.data_root / path)
            im.load()
            assert im.format == "JPEG" and im.mode in ("RGB", "L")
    # nothing escaped the data root, and only JPEGs are in it
    assert not (layout.data_root.parent / "escape.jpg").exists()
    files = [p for p in layout.data_root.rglob("*") if p.is_file()]
    assert files and all(p.suffix == ".jpg" for p in files)


def test_layout_matches_llava(ingested):
    layout, _ = ingested
    for folder in ("coco/train2017", "gqa/images", "ocr_vqa/images", "textvqa/train_images", "vg/VG_100K", "vg/VG_100K_2"):
        assert any((layout.data_root / folder).glob("*.jpg")), folder


def test_manifest_rows_match_what_is_on_disk(ingested):
    layout, reports = ingested
    rows = manifest_rows(layout)
    written = {r["path"] for r in rows if r["path"]}
    on_disk = {str(p.relative_to(layout.data_root)) for p in layout.data_root.rglob("*.jpg")}
    assert written == on_disk
    assert sum(r.images for rs in reports.values() for r in rs) == len(rows)


def test_second_ingest_does_no_work(layout, mirror_server):
    ingest_all(layout, mirror_server.url)
    mtimes = {p: p.stat().st_mtime_ns for p in layout.data_root.rglob("*.jpg")}
    before = mirror_server.requests
    reports = ingest_all(layout, mirror_server.url)
    assert mirror_server.requests == before, "no network work on a second run"
    assert all(r.reused for rs in reports.values() for r in rs)
    assert {p: p.stat().st_mtime_ns for p in layout.data_root.rglob("*.jpg")} == mtimes


def test_ocr_vqa_failure_list_and_resume(layout, mirror_server):
    src = SOURCES["ocr_vqa"]
    ctx = IngestContext(layout, mirror_server.url, 1, QUIET)
    src.download(ctx)
    for key in src.shard_keys:
        src.ingest(ctx, key)
    failures = [r for f in (layout.tables("ocr_vqa") / "failures").glob("*.parquet") for r in pq.read_table(f).to_pylist()]
    assert sorted(f["book_id"] for f in failures) == ["0000000005", "0000000006"]
    assert all("404" in f["error"] for f in failures)
    covers = sorted(p.name for p in (layout.cache("ocr_vqa") / "covers").iterdir() if not p.name.endswith(".json"))
    # every live URL the 665K references downloaded once (kept for resume), with its URL's suffix
    assert covers == ["0000000001.jpg", "0000000002.png", "0000000003.jpg", "0000000004.gif", "0000000007.gif",
                      "080442957X.jpg", "452255260.jpg"]
    assert not any(c.startswith(OCR_UNREFERENCED) for c in covers)


def test_665k_records_checked_against_images(ingested):
    layout, _ = ingested
    report = llava_665k.build_conversations(layout, IMAGE_SOURCES, QUIET)
    rejected = pq.read_table(layout.tables("llava_665k") / "rejections.parquet").to_pylist()
    reasons = {r["source_id"].split(":", 1)[1]: r["reason"] for r in rejected}
    assert reasons == {k: v.split(": ")[1].split(" ")[0] for k, v in LLAVA_CASES.items() if v.startswith("rejected")}
    table = pq.read_table(report.tables["train"]).to_pylist()
    kept = {r["id"] for r in table}
    assert {k for k, v in LLAVA_CASES.items() if v.startswith("kept")} <= kept
    assert report.records == len(table) == report.rows_read - len(rejected)
    # each repair is its own metric (counted on every record it changed, kept or rejected later)
    assert {k: report.details[k] for k in ("image_token_normalized", "leading_gpt_turn_dropped",
                                           "unanswered_last_turn_dropped", "image_token_moved_to_first_turn")} == \
        {"image_token_normalized": 2, "leading_gpt_turn_dropped": 2, "unanswered_last_turn_dropped": 1,
         "image_token_moved_to_first_turn": 1}
    assert report.details["text_only"] == 3 and report.details["renamed_duplicate_ids"] == 1
    # the expectation is what the upstream served: the 3 records on dead or placeholder covers are not expected
    assert report.details["expected_records"] == report.rows_read - 3
    assert len({r["id"] for r in table}) == len(table)
    for r in table:
        first = r["conversations"][0]["value"]
        assert (r["image"] is None) == ("<image>" not in first)
        if r["image"]:
            assert first.startswith("<image>\n") and (layout.data_root / r["image"]).is_file()
    again = llava_665k.build_conversations(layout, IMAGE_SOURCES, QUIET)
    assert again.reused and again.records == report.records


def test_coco_instances_table(ingested):
    layout, _ = ingested
    counts = coco_annotations.build_instances(layout)
    t = pq.read_table(coco_annotations.instances_path(layout)).to_pylist()
    assert counts == {"images": 12, "objects": 36, "categories": 3, "skipped": 1}
    assert t[0]["image"].startswith("coco/train2017/") and len(t[0]["bbox"]) == 4


def _zip_source(tmp_path: Path, members: dict[str, bytes], shards: int = 1) -> tuple[ZipImageSource, str]:
    srv = tmp_path / "srv" / "example.org"
    srv.mkdir(parents=True)
    with zipfile.ZipFile(srv / "pics.zip", "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    src = ZipImageSource("pics", (RemoteFile("https://example.org/pics.zip"),), ("pics/",), shards, len(members))
    return src, str(tmp_path / "srv")


def _jpeg(i: int, size=(320, 240)) -> bytes:
    buf = io.BytesIO()
    Image.effect_noise(size, 40 + i).convert("RGB").save(buf, "JPEG", quality=85)
    return buf.getvalue()


def test_zip_slip_members_are_refused(tmp_path, layout):
    src, mirror = _zip_source(tmp_path, {"pics/a.jpg": _jpeg(0), "../outside.jpg": _jpeg(1),
                                         "pics/../../outside2.jpg": _jpeg(2), "/abs.jpg": _jpeg(3),
                                         "readme.txt": b"not in the image folder"})
    ctx = IngestContext(layout, mirror, 1, QUIET)
    src.download(ctx)
    report = src.ingest(ctx, "000")
    assert report.actions == {"copied": 1, "quarantined": 3} and report.quarantine_reasons == {"unsafe_path": 3}
    assert report.details["members_outside_image_folders"] == 1
    assert [p.name for p in layout.data_root.parent.rglob("*outside*")] == []


def test_parallel_workers_match_single_process(tmp_path, layout):
    members = {f"pics/{i}.jpg": _jpeg(i) for i in range(150)}
    src, mirror = _zip_source(tmp_path, members)
    src.download(IngestContext(layout, mirror, 2, QUIET))
    report = src.ingest(IngestContext(layout, mirror, 2, QUIET), "000")
    assert report.images == 150 and report.actions["copied"] == 150


KILL_SCRIPT = """
import sys
from pathlib import Path
from pipeline.layout import Layout
from pipeline.sources.remote import RemoteFile
from pipeline.sources.base import IngestContext
from pipeline.sources.zip_images import ZipImageSource
src = ZipImageSource("pics", (RemoteFile("https://example.org/pics.zip"),), ("pics/",), 1, 400)
src.ingest(IngestContext(Layout.at(sys.argv[1]), None, 1, lambda _: None), "000")
"""


@pytest.mark.slow
def test_killed_run_leaves_no_partial_output_and_completes_on_rerun(tmp_path, layout):
    members = {f"pics/{i}.jpg": _jpeg(i, (1024, 768)) for i in range(400)}
    src, mirror = _zip_source(tmp_path, members)
    src.download(IngestContext(layout, mirror, 1, QUIET))
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(layout.data_root)], cwd=Path(__file__).parents[2])
    folder = layout.data_root / "pics" / "pics"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(folder.glob("*.jpg"))) < 20:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = list(folder.glob("*.jpg"))
    assert 20 <= len(done_before) < 400, "killed mid-shard"
    assert not (layout.tables("pics") / "images" / "000.parquet").exists()
    for p in done_before:  # everything under a final name is complete
        Image.open(p).load()
    report = src.ingest(IngestContext(layout, None, 1, QUIET), "000")
    assert not report.reused and report.images == 400 and report.actions["copied"] == 400
    assert len(list(folder.glob("*.jpg"))) == 400
    assert not layout.staging("pics", "000").exists()
    assert [p for p in layout.data_root.rglob("*") if p.is_file() and p.suffix != ".jpg"] == []
