"""Issue 10 (ingest hardening from an adversarial run): each numbered failure, reproduced at the source
level. Fetch and cache verification (items 3 and 4) are in test_fetch_verified.py, the mixture's
(items 8 and 9) in test_mixture_hardening.py."""
import io
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
import zipfile
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from pipeline import atomic
from pipeline.fetch import FetchError
from pipeline.layout import Layout
from pipeline.sharding import shard_of
from pipeline.sources import hub_ingest, hub_parquet, llava_665k
from pipeline.sources.base import IngestContext
from pipeline.sources.cauldron import cauldron_turns
from pipeline.sources.hub_source import HubDataset
from pipeline.sources.registry import GQA, IMAGE_SOURCES, SOURCES
from pipeline.sources.remote import RemoteFile
from pipeline.sources.zip_images import ZipImageSource
from sample.mirror import UPSTREAM_CHANGE, write_upstream_change
from sample.server import MirrorServer

# Imports of APIs the fix added sit inside the tests that use them, so that on the code before the
# fix each test fails on its own behaviour rather than the whole module on an import.
QUIET = lambda _: None  # noqa: E731
PROJECT = Path(__file__).resolve().parents[2]


def jpeg(i: int, size=(64, 48)) -> bytes:
    """A distinct, deterministic picture per `i`."""
    buf = io.BytesIO()
    Image.linear_gradient("L").resize(size).point(lambda v: (v + 37 * i) % 256).convert("RGB").save(buf, "JPEG")
    return buf.getvalue()


def zip_source(tmp_path: Path, members: list[tuple[str, bytes]], shards: int = 1,
               compression: int = zipfile.ZIP_STORED) -> tuple[ZipImageSource, str]:
    srv = tmp_path / "srv" / "example.org"
    srv.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(srv / "pics.zip", "w", compression) as zf:
        for name, data in members:
            zf.writestr(zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0)), data, compression)
    return ZipImageSource("pics", (RemoteFile("https://example.org/pics.zip"),), ("pics/",), shards, 0), str(srv.parent)


def ingest(src, layout: Layout, mirror: str, workers: int = 1, **options) -> list:
    ctx = IngestContext(layout, mirror, workers, QUIET, {src.name: options} if options else {})
    src.download(ctx)
    return [src.ingest(ctx, key) for key in src.shard_keys]


def manifest_rows(layout: Layout, source: str) -> dict[str, dict]:
    return {r["original"]: r for m in (layout.tables(source) / "images").glob("*.parquet")
            for r in pq.read_table(m).to_pylist()}


# 1. Stale images are trusted after upstream changes.

def test_upstream_change_removes_stale_images_and_rejects_their_records(tmp_path, sample_mirror):
    mirror = tmp_path / "mirror"
    shutil.copytree(sample_mirror, mirror)
    layout = Layout.at(tmp_path / "playground" / "data")
    ctx = IngestContext(layout, str(mirror), 1, QUIET)
    ingest(GQA, layout, str(mirror))
    SOURCES["llava_665k"].download(ctx)
    assert all((layout.data_root / p).is_file() for p in UPSTREAM_CHANGE)
    ids = {Path(p).stem for p in UPSTREAM_CHANGE}
    before = llava_665k.build_conversations(layout, IMAGE_SOURCES, QUIET)
    kept = pq.read_table(before.tables["train"]).to_pylist()
    assert ids <= {r["id"] for r in kept}
    on_changed = sum(r["image"] in UPSTREAM_CHANGE for r in kept)  # records on the two changed images

    write_upstream_change(mirror)
    lines: list[str] = []
    assert GQA.download(IngestContext(layout, str(mirror), 1, lines.append)).fetched_now == 1
    assert any("not trusted (sha256" in line for line in lines)  # the cached archive is the old release
    reports = [GQA.ingest(ctx, key) for key in GQA.shard_keys]
    assert sum(r.details["stale_images_removed"] for r in reports) == 2
    assert not any((layout.data_root / p).exists() for p in UPSTREAM_CHANGE)
    rows = manifest_rows(layout, "gqa")
    assert rows["images.zip:images/2354788.jpg"]["reason"].startswith("truncated")
    assert "images.zip:images/2354789.jpg" not in rows
    after = llava_665k.build_conversations(layout, IMAGE_SOURCES, QUIET)
    rejected = {r["source_id"].split(":", 1)[1]: r["reason"]
                for r in pq.read_table(layout.tables("llava_665k") / "rejections.parquet").to_pylist()
                if ":" in r["source_id"]}
    # the truncated one is quarantined upstream (so unavailable), the dropped one simply missing
    assert {i: rejected[i] for i in ids} == {"2354788": "image_unavailable_upstream", "2354789": "image_missing"}
    assert after.records == before.records - on_changed


def test_an_orphan_image_on_disk_is_not_trusted(tmp_path, sample_mirror):
    """Existence is read from the manifests: a file no manifest lists is missing, whatever the disk says."""
    layout = Layout.at(tmp_path / "playground" / "data")
    ingest(GQA, layout, str(sample_mirror))
    SOURCES["llava_665k"].download(IngestContext(layout, str(sample_mirror), 1, QUIET))
    atomic.write_bytes(layout.data_root / "gqa/images/bomb.jpg", jpeg(0))  # quarantined upstream, yet on disk
    llava_665k.build_conversations(layout, IMAGE_SOURCES, QUIET)
    rejected = {r["source_id"].split(":", 1)[1]: r["reason"]
                for r in pq.read_table(layout.tables("llava_665k") / "rejections.parquet").to_pylist()
                if ":" in r["source_id"]}
    assert rejected["bomb-image"] == "image_unavailable_upstream"  # not "on disk, so fine"


# 2. Deflate bombs are fully inflated.

def test_a_member_larger_than_the_cap_is_refused_unread(tmp_path, layout):
    src, mirror = zip_source(tmp_path, [("pics/ok.jpg", jpeg(0)), ("pics/bomb.jpg", bytes(8 * 2**20))],
                             compression=zipfile.ZIP_DEFLATED)
    (report,) = ingest(src, layout, mirror, max_image_bytes=2**20)
    assert report.quarantine_reasons == {"too_large": 1} and report.actions["copied"] == 1
    assert "declares 8,388,608 bytes" in manifest_rows(layout, "pics")["pics.zip:pics/bomb.jpg"]["reason"]


def lie_about_size(path: Path, member: str, declared: int) -> None:
    """Rewrite a member's uncompressed size in both its local and its central header."""
    data = bytearray(path.read_bytes())
    name = member.encode()
    local = data.find(b"PK\x03\x04")
    while data[local + 30:local + 30 + len(name)] != name:
        local = data.find(b"PK\x03\x04", local + 4)
    struct.pack_into("<I", data, local + 22, declared)
    central = data.find(b"PK\x01\x02")
    while data[central + 46:central + 46 + len(name)] != name:
        central = data.find(b"PK\x01\x02", central + 4)
    struct.pack_into("<I", data, central + 24, declared)
    path.write_bytes(bytes(data))


def test_a_member_lying_about_its_size_is_read_no_further_than_declared(tmp_path, layout):
    src, mirror = zip_source(tmp_path, [("pics/liar.jpg", bytes(16 * 2**20))], compression=zipfile.ZIP_DEFLATED)
    lie_about_size(tmp_path / "srv" / "example.org" / "pics.zip", "pics/liar.jpg", 1000)
    (report,) = ingest(src, layout, mirror)
    row = manifest_rows(layout, "pics")["pics.zip:pics/liar.jpg"]
    assert row["action"] == "quarantined" and row["reason"].startswith("unreadable: BadZipFile")


def test_hub_image_bytes_over_the_cap_are_quarantined(sample_mirror, layout):
    ds = SOURCES["clevr"]
    hub_parquet.download(ds, layout, str(sample_mirror), log=QUIET)
    report = hub_ingest.ingest(ds, layout, 1, QUIET, max_bytes=20_000)
    assert report.quarantine_reasons["too_large"] >= 1
    assert report.rejections["image_undecodable"] == report.quarantine_reasons["too_large"]


# 5. One record or member stops the whole source. 6. Names that collide across shards.

def test_member_names_are_normalized_bounded_and_deduplicated(tmp_path, layout):
    long_ok = "pics/" + "a" * 245 + ".jpg"  # a 249-character file name: its temp name must stay bounded
    members = [("pics/col0.png", jpeg(1)), ("pics/col0.jpg", jpeg(2)), ("pics//x.jpg", jpeg(3)), ("pics/x.jpg", jpeg(4)),
               ("pics/dup.jpg", jpeg(5)), ("pics/dup.jpg", jpeg(6)), ("pics/clash", jpeg(7)),
               ("pics/clash.jpg/inner.jpg", jpeg(8)), (long_ok, jpeg(9)), ("pics/" + "b" * 300 + ".jpg", jpeg(10))]
    assert shard_of("pics/col0.png", 16) != shard_of("pics/col0.jpg", 16)  # the raw names pick different shards
    with pytest.warns(UserWarning, match="Duplicate name"):
        src, mirror = zip_source(tmp_path, members, shards=16)
    reports = ingest(src, layout, mirror)
    all_rows = [r for m in (layout.tables("pics") / "images").glob("*.parquet") for r in pq.read_table(m).to_pylist()]
    reasons = sorted((r["original"].split(":", 1)[1], r["reason"].split(":")[0]) for r in all_rows if r["reason"])
    assert reasons == sorted([("pics/col0.jpg", "duplicate_target"), ("pics/x.jpg", "duplicate_target"),
                              ("pics/dup.jpg", "duplicate_target"), ("pics/clash", "path_conflict"),
                              ("pics/" + "b" * 300 + ".jpg", "bad_name")])
    # the duplicate member name: its first entry is written, with its own bytes
    assert (layout.data_root / "pics/pics/dup.jpg").read_bytes() == jpeg(5)
    # of the colliding pairs, the first in archive order is written, each with its own bytes
    assert (layout.data_root / "pics/pics/col0.jpg").read_bytes() == jpeg(1)
    assert (layout.data_root / "pics/pics/x.jpg").read_bytes() == jpeg(3)
    assert (layout.data_root / "pics/pics/clash.jpg/inner.jpg").is_file() and (layout.data_root / "pics" / long_ok).is_file()
    written = Counter(r["path"] for r in all_rows if r["path"])
    assert max(written.values()) == 1 and sum(r.images for r in reports) == len(members)


def test_an_unparseable_665k_file_names_itself_and_the_offset(layout):
    from pipeline.readers import UnreadableFile

    path = llava_665k.annotations_path(layout)
    path.parent.mkdir(parents=True)
    path.write_bytes(b'[{"id": "a", "conversations": []},\n {"id": "b", "conv')
    with pytest.raises(UnreadableFile, match=rf"{path.name}: not valid JSON at byte 48"):
        llava_665k.build_conversations(layout, IMAGE_SOURCES, QUIET)


def odd_hub_mirror(root: Path, table: pa.Table) -> HubDataset:
    folder = root / "huggingface.co" / "datasets" / "org" / "odd" / "data"
    folder.mkdir(parents=True)
    pq.write_table(table, folder / "train-00000-of-00001.parquet")
    return HubDataset("odd", "org/odd", "0" * 40, {"train": "data/train-*"}, "texts", cauldron_turns, {"train": 3})


def test_hub_rows_of_unexpected_types_are_one_rejection_each(tmp_path, layout):
    texts = pa.list_(pa.struct([("user", pa.int64()), ("assistant", pa.string())]))
    ok_texts = pa.list_(pa.struct([("user", pa.string()), ("assistant", pa.string())]))
    binary_images = pa.table({"images": pa.array([[jpeg(0)], [jpeg(1)]], pa.list_(pa.binary())),
                              "texts": pa.array([[{"user": 7, "assistant": "a"}], [{"user": 8, "assistant": "b"}]], texts)})
    ds = odd_hub_mirror(tmp_path / "m1", binary_images)
    hub_parquet.download(ds, layout, str(tmp_path / "m1"), log=QUIET)
    report = hub_ingest.ingest(ds, layout, 1, QUIET)
    assert report.rows_read == 2 and report.rejections == {"bad_record": 2}  # int questions: not a failed source
    detail = pq.read_table(hub_ingest.rejections_path(ds, layout, "train")).column("detail").to_pylist()
    assert all(d.startswith("AttributeError") for d in detail)

    plain = Layout.at(tmp_path / "p2" / "data")
    flat = pa.table({"images": pa.array([jpeg(2), jpeg(3)], pa.binary()),
                     "texts": pa.array([[{"user": "q?", "assistant": "a"}]] * 2, ok_texts)})
    ds = odd_hub_mirror(tmp_path / "m2", flat)
    hub_parquet.download(ds, plain, str(tmp_path / "m2"), log=QUIET)
    assert hub_ingest.ingest(ds, plain, 1, QUIET).rejections == {"bad_image_field": 2}  # not several_images: <bytes>

    listed = Layout.at(tmp_path / "p3" / "data")
    binary_list = pa.table({"images": pa.array([[jpeg(4)]], pa.list_(pa.binary())),
                            "texts": pa.array([[{"user": "q?", "assistant": "a"}]], ok_texts)})
    ds = odd_hub_mirror(tmp_path / "m3", binary_list)
    hub_parquet.download(ds, listed, str(tmp_path / "m3"), log=QUIET)
    assert hub_ingest.ingest(ds, listed, 1, QUIET).records == 1  # list<binary> images are read like {bytes}


def test_an_unparseable_hub_file_names_itself(tmp_path, layout):
    """Framing intact (PAR1 at both ends), pages garbled: the source fails, naming the file."""
    from pipeline.readers import UnreadableFile

    ok_texts = pa.list_(pa.struct([("user", pa.string()), ("assistant", pa.string())]))
    table = pa.table({"images": pa.array([[{"bytes": jpeg(i), "path": None}] for i in range(4)]),
                      "texts": pa.array([[{"user": "q?", "assistant": "a"}]] * 4, ok_texts)})
    ds = odd_hub_mirror(tmp_path / "m", table)
    path = next((tmp_path / "m").rglob("*.parquet"))
    data = bytearray(path.read_bytes())
    data[8:len(data) // 2] = bytes(len(data) // 2 - 8)
    path.write_bytes(bytes(data))
    hub_parquet.download(ds, layout, str(tmp_path / "m"), log=QUIET)
    with pytest.raises(UnreadableFile, match=r"train-00000-of-00001\.parquet: not a readable Parquet file"):
        hub_ingest.ingest(ds, layout, 1, QUIET)


def test_a_corrupted_hub_file_is_refused_by_its_listed_sha256(tmp_path, sample_mirror, layout):
    """The tree listing's LFS sha256 catches flipped bytes that would still decode as an image."""
    mirror = tmp_path / "mirror"
    shutil.copytree(sample_mirror, mirror)
    (mirror / "SHA256SUMS").unlink()  # no mirror index: only the hub's own listing can tell
    lock = hub_parquet.resolve_files(SOURCES["vqav2"], str(mirror), tmp_path / "probe")
    target = mirror / "huggingface.co" / "datasets" / "HuggingFaceM4" / "the_cauldron" / lock.files["train"][0]
    data = bytearray(target.read_bytes())
    data[len(data) // 3] ^= 0xFF
    target.write_bytes(bytes(data))
    with MirrorServer(mirror) as server, pytest.raises(FetchError, match="sha256"):
        hub_parquet.download(SOURCES["vqav2"], layout, server.url, log=QUIET)


# 7. Pool workers outlive a killed ingest.

POOL_SCRIPT = """
import sys, time
from pipeline.parallel import process_pool
pool = process_pool(2)
futures = [pool.submit(time.sleep, 60) for _ in range(2)]
time.sleep(1.0)
print(" ".join(str(p) for p in pool._processes), flush=True)
time.sleep(120)
"""


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie is dead, waiting for its new parent to reap it


def test_pool_workers_die_with_a_killed_parent():
    proc = subprocess.Popen([sys.executable, "-c", POOL_SCRIPT], cwd=PROJECT, stdout=subprocess.PIPE, text=True)
    workers = [int(p) for p in proc.stdout.readline().split()]
    assert len(workers) == 2 and all(alive(p) for p in workers)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    while any(alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(p) for p in workers)


# 9. Smaller: litter, permissions, disk-full messages.

def test_no_litter_and_readable_files(tmp_path, layout):
    src, mirror = zip_source(tmp_path, [(f"pics/{i}.jpg", jpeg(i)) for i in range(3)])
    ctx = IngestContext(layout, mirror, 1, QUIET)
    src.download(ctx)
    images = layout.tables("pics") / "images"
    images.mkdir(parents=True)
    killed = images / ".000.parquet.999999999.5f3a.part"  # a dead process's temp name (atomic.temp_name)
    killed.write_bytes(b"half a manifest")  # what a kill during the manifest's rename left
    old = os.umask(0o022)
    try:
        src.ingest(ctx, "000")
    finally:
        os.umask(old)
    assert not killed.exists()
    assert not (layout.data_root / ".staging").exists()  # nothing but images in LLaVA's image folder
    assert (images / "000.parquet").stat().st_mode & 0o777 == 0o644
    assert all(p.stat().st_mode & 0o777 == 0o644 for p in (layout.data_root / "pics").rglob("*.jpg"))


def test_disk_full_names_the_file(tmp_path):
    dest = tmp_path / "out" / "table.bin"
    dest.parent.mkdir()
    (dest.parent / atomic.temp_name(dest.name, "w")).symlink_to("/dev/full")
    with pytest.raises(OSError, match="No space left on device") as err:
        atomic.write_bytes(dest, b"x" * 100_000)
    assert err.value.filename == str(dest)


KILL_SCRIPT = """
import sys
from pipeline.layout import Layout
from pipeline.sources.base import IngestContext
from pipeline.sources.remote import RemoteFile
from pipeline.sources.zip_images import ZipImageSource
# No mirror here, so the upstream count guard applies: the archive holds the 400 images it publishes.
src = ZipImageSource("pics", (RemoteFile("https://example.org/pics.zip"),), ("pics/",), 1, 400)
src.ingest(IngestContext(Layout.at(sys.argv[1]), None, 2, lambda _: None), "000")
"""


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            pass
    return found


@pytest.mark.slow
def test_kill_9_mid_shard_leaves_no_process_and_the_rerun_equals_a_clean_run(tmp_path):
    from scripts.hash_outputs import output_hashes

    members = [(f"pics/{i}.jpg", jpeg(i, (1024, 768))) for i in range(400)]
    src, mirror = zip_source(tmp_path, members)
    killed, clean = Layout.at(tmp_path / "killed" / "data"), Layout.at(tmp_path / "clean" / "data")
    src.download(IngestContext(killed, mirror, 1, QUIET))
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(killed.data_root)], cwd=PROJECT)
    folder = killed.data_root / "pics" / "pics"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(folder.glob("*.jpg"))) < 20:
        time.sleep(0.05)
    workers = children(proc.pid)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert len(workers) == 2 and 20 <= len(list(folder.glob("*.jpg"))) < 400, "killed mid-shard, with its pool"
    deadline = time.monotonic() + 10
    while any(alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(p) for p in workers), "no worker of the killed ingest survives"

    again = src.ingest(IngestContext(killed, mirror, 2, QUIET), "000")
    ingest(src, clean, mirror, workers=2)
    assert not again.reused and again.images == 400
    assert output_hashes(killed.data_root) == output_hashes(clean.data_root)
    assert sorted(p.relative_to(killed.data_root.parent) for p in killed.data_root.parent.rglob("*")
                  if p.is_file() and "cache" not in p.parts) == \
        sorted(p.relative_to(clean.data_root.parent) for p in clean.data_root.parent.rglob("*")
               if p.is_file() and "cache" not in p.parts)  # no litter from the killed run
