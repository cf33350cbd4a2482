"""Issue 10, items 3, 4 and 9: nothing is trusted unverified, through mirrors or from the cache
(real loopback HTTP servers that misbehave on purpose; no mocks). APIs the fix added are imported
inside the tests that use them, so each test fails on its own on the code before the fix."""
import hashlib
import json
import os
import threading
import time
import zipfile
from pathlib import Path

import pytest

from pipeline.digests import sidecar_path
from pipeline.fetch import Expected, FetchError, fetch, mirror_url
from pipeline.sources.remote import RemoteFile
from pipeline.verify import INDEX_NAME
from sample.server import MirrorHandler, MirrorServer
from tests.pipeline.test_fetch import DropOnceHandler

UPSTREAM = "https://host.example/files/images.zip"
QUIET = lambda _: None  # noqa: E731


def zip_bytes(n: int = 40) -> bytes:
    path_like = __import__("io").BytesIO()
    with zipfile.ZipFile(path_like, "w", zipfile.ZIP_STORED) as zf:
        for i in range(n):
            zf.writestr(f"images/{i}.jpg", os.urandom(20_000))
    return path_like.getvalue()


@pytest.fixture
def mirror(tmp_path: Path) -> tuple[Path, bytes]:
    data = zip_bytes()
    (tmp_path / "srv" / "host.example" / "files").mkdir(parents=True)
    (tmp_path / "srv" / "host.example" / "files" / "images.zip").write_bytes(data)
    return tmp_path / "srv", data


def serve_file(root: Path, data: bytes) -> None:
    (root / "host.example" / "files" / "images.zip").write_bytes(data)


def test_known_size_and_hash_apply_through_a_mirror(tmp_path, mirror):
    root, data = mirror
    flipped = bytearray(data)
    flipped[5000:5064] = bytes(64)  # 64 flipped bytes: still a zip, same size
    serve_file(root, bytes(flipped))
    known = RemoteFile(UPSTREAM, size=len(data), sha256=hashlib.sha256(data).hexdigest())
    with MirrorServer(root) as server, pytest.raises(FetchError, match="sha256") as err:
        known.fetch(tmp_path / "cache", server.url, QUIET)
    assert UPSTREAM in str(err.value) and "127.0.0.1" not in str(err.value)
    assert not (tmp_path / "cache" / "images.zip").exists()


def test_a_mirror_index_declares_its_own_copies(tmp_path, mirror):
    """A mirror of miniatures (the sample) lists their sha256; a file it lists is checked against that."""
    root, data = mirror
    (root / INDEX_NAME).write_text(f"{hashlib.sha256(data).hexdigest()}  host.example/files/images.zip\n")
    upstream = RemoteFile(UPSTREAM, size=19_336_861_798)  # the real archive's size
    with MirrorServer(root) as server:
        assert upstream.fetch(tmp_path / "a", server.url, QUIET).path.read_bytes() == data
        serve_file(root, data[:100] + bytes([data[100] ^ 1]) + data[101:])
        with pytest.raises(FetchError, match="sha256"):
            upstream.fetch(tmp_path / "b", root.as_uri(), QUIET)


def test_an_html_page_is_not_a_zip(tmp_path, mirror):
    root, _ = mirror
    serve_file(root, b"<!doctype html><html><body>Please log in</body></html>")
    with MirrorServer(root) as server, pytest.raises(FetchError, match="neither a zip nor a tar archive") as err:
        fetch(mirror_url(UPSTREAM, server.url), tmp_path / "images.zip", identity=UPSTREAM, log=QUIET)
    assert err.value.permanent and not (tmp_path / "images.zip").exists()


class WrongOffsetHandler(MirrorHandler):
    """Answers every Range request with 206 from byte 0 (a broken proxy)."""

    def do_GET(self) -> None:
        if self.headers.get("Range"):
            data = self._resolve().read_bytes()
            self.send_response(206)
            self.send_header("Content-Range", f"bytes 0-{len(data) - 1}/{len(data)}")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        super().do_GET()


def test_a_206_must_start_where_asked(tmp_path, mirror):
    root, data = mirror
    dest = tmp_path / "images.zip"
    part = dest.with_name("images.zip.part")
    with MirrorServer(root, WrongOffsetHandler) as server:
        url = mirror_url(UPSTREAM, server.url)
        part.write_bytes(data[:1000])
        part.with_name(part.name + ".json").write_text(json.dumps(
            {"url": UPSTREAM, "expected": [None, None], "validator": None}))
        lines: list[str] = []
        result = fetch(url, dest, identity=UPSTREAM, backoff=0.01, log=lines.append)
    assert result.path.read_bytes() == data  # not the 1000-byte head joined to a whole copy
    assert any("resume from byte 1000" in line for line in lines)


def test_a_part_of_another_file_or_too_long_is_discarded(tmp_path, mirror):
    root, data = mirror
    dest = tmp_path / "images.zip"
    part = dest.with_name("images.zip.part")
    meta = part.with_name(part.name + ".json")
    with MirrorServer(root) as server:
        url = mirror_url(UPSTREAM, server.url)
        part.write_bytes(b"x" * 1000)  # begun for another upstream file
        meta.write_text(json.dumps({"url": "https://elsewhere/a.zip", "expected": [None, None], "validator": None}))
        assert fetch(url, dest, identity=UPSTREAM, log=QUIET).path.read_bytes() == data
        dest.unlink()
        sidecar_path(dest).unlink()
        part.write_bytes(data + b"trailing junk")  # longer than the file: the server answers 416
        meta.write_text(json.dumps({"url": UPSTREAM, "expected": [None, None], "validator": None}))
        assert fetch(url, dest, identity=UPSTREAM, backoff=0.01, log=QUIET).path.read_bytes() == data
        assert not part.exists() and not meta.exists()


class IgnoresIfRangeHandler(DropOnceHandler):
    def do_GET(self) -> None:
        del self.headers["If-Range"]
        super().do_GET()


@pytest.mark.parametrize("handler", [DropOnceHandler, IgnoresIfRangeHandler])
def test_a_stale_head_is_not_joined_to_a_fresh_tail(tmp_path, mirror, handler):
    """The upstream file changed after a cut download: the server sends it whole (If-Range), or, when it
    ignores If-Range, its new ETag gives the change away and the download starts over."""
    root, _ = mirror
    handler.dropped = []
    dest = tmp_path / "images.zip"
    with MirrorServer(root, handler) as server:
        url = mirror_url(UPSTREAM, server.url)
        with pytest.raises(FetchError, match="after 1 attempts"):
            fetch(url, dest, identity=UPSTREAM, retries=1, log=QUIET)
        assert dest.with_name("images.zip.part").exists()
        new = zip_bytes(41)
        serve_file(root, new)
        assert fetch(url, dest, identity=UPSTREAM, backoff=0.01, log=QUIET).path.read_bytes() == new


def test_a_corrupt_cache_entry_is_fetched_again_once(tmp_path, mirror):
    root, data = mirror
    dest = tmp_path / "images.zip"
    serve_file(root, b"<html>login</html>")
    with MirrorServer(root) as server:
        url = mirror_url(UPSTREAM, server.url)
        # an old run (before format checks) cached the login page with a consistent sidecar
        dest.write_bytes(b"<html>login</html>")
        sidecar_path(dest).write_text(json.dumps({"url": UPSTREAM, "bytes": dest.stat().st_size,
                                                  "mtime_ns": dest.stat().st_mtime_ns,
                                                  "sha256": hashlib.sha256(dest.read_bytes()).hexdigest()}))
        serve_file(root, data)  # the mirror is healthy again
        lines: list[str] = []
        result = fetch(url, dest, identity=UPSTREAM, log=lines.append)
        assert result.downloaded and dest.read_bytes() == data
        assert any("not trusted (neither a zip nor a tar archive" in line for line in lines)
        # a truncated cached file (size no longer the sidecar's) is fetched again too
        with dest.open("r+b") as f:
            f.truncate(len(data) - 10)
        before = server.requests
        assert fetch(url, dest, identity=UPSTREAM, log=QUIET).downloaded and server.requests == before + 1
        assert dest.read_bytes() == data
        assert not fetch(url, dest, identity=UPSTREAM, log=QUIET).downloaded  # intact: trusted as is


@pytest.mark.parametrize("name,body,problem", [
    ("a.parquet", b"PAR1....", "not a Parquet file"), ("a.json", b'[{"id": 1}, {"id"', "not a JSON document"),
    ("a.zip", b"PK\x03\x04 truncated", "neither a zip nor a tar archive"), ("a.jpg", b"anything", None)])
def test_format_magic(tmp_path, name, body, problem):
    from pipeline.verify import format_problem

    path = tmp_path / name
    path.write_bytes(body)
    assert (format_problem(path) or "").startswith(problem or "") and (format_problem(path) is None) == (problem is None)


class SlowHandler(MirrorHandler):
    def send_body(self, data: bytes) -> None:
        for i in range(0, len(data), 100_000):
            self.wfile.write(data[i:i + 100_000])
            time.sleep(0.02)


def test_concurrent_fetches_of_one_file_download_it_once(tmp_path, mirror):
    root, data = mirror
    dest = tmp_path / "images.zip"
    with MirrorServer(root, SlowHandler) as server:
        url = mirror_url(UPSTREAM, server.url)
        results = []
        threads = [threading.Thread(target=lambda: results.append(fetch(url, dest, identity=UPSTREAM, log=QUIET)))
                   for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert server.requests == 1 and sorted(r.downloaded for r in results) == [False, False, True]
    assert dest.read_bytes() == data and not dest.with_name("images.zip.lock").exists()


def test_credentials_and_mirror_address_stay_out_of_messages_and_sidecars(tmp_path, mirror):
    root, _ = mirror
    with MirrorServer(root) as server:
        secret_url = server.url.replace("http://", "http://reader:s3cret@")
        lines: list[str] = []
        fetch(secret_url + "/host.example/files/images.zip", tmp_path / "x.zip", log=lines.append)
        with pytest.raises(FetchError) as err:
            fetch(mirror_url("https://host.example/files/gone.zip", secret_url), tmp_path / "gone.zip",
                  identity="https://host.example/files/gone.zip", log=lines.append)
    assert str(err.value) == "https://host.example/files/gone.zip: HTTP 404"
    stored = sidecar_path(tmp_path / "x.zip").read_text()
    assert "s3cret" not in stored and "reader" not in stored and "***@127.0.0.1" in stored
    assert not any("s3cret" in line for line in lines)
    from pipeline.verify import redact

    assert redact("https://u:p@host/x?y=1") == "https://***@host/x?y=1" and redact("file:///a") == "file:///a"


def test_files_are_created_with_the_umask(tmp_path, mirror):
    root, _ = mirror
    old = os.umask(0o022)
    try:
        result = fetch(mirror_url(UPSTREAM, str(root)), tmp_path / "images.zip", identity=UPSTREAM, log=QUIET)
    finally:
        os.umask(old)
    assert result.path.stat().st_mode & 0o777 == 0o644
    assert sidecar_path(result.path).stat().st_mode & 0o777 == 0o644
