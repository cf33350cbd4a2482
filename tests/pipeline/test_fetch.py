"""The fetch layer against a real loopback HTTP server (no mocks)."""
import hashlib
import os
from pathlib import Path

import pytest

from pipeline.fetch import Expected, FetchError, fetch, mirror_url
from sample.server import MirrorHandler, MirrorServer


class DropOnceHandler(MirrorHandler):
    """Sends the first response only half-way, then closes the connection."""

    dropped: list[str] = []

    def send_body(self, data: bytes) -> None:
        if not self.dropped:
            self.dropped.append(self.headers.get("Range") or "")
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)
            return
        self.wfile.write(data)


class RecordingHandler(MirrorHandler):
    ranges: list[str] = []

    def do_GET(self) -> None:
        self.ranges.append(self.headers.get("Range") or "")
        super().do_GET()


@pytest.fixture
def blob(tmp_path: Path) -> tuple[Path, bytes]:
    data = os.urandom(3_000_000)
    (tmp_path / "srv" / "host.example" / "files").mkdir(parents=True)
    (tmp_path / "srv" / "host.example" / "files" / "big.bin").write_bytes(data)
    return tmp_path / "srv", data


def test_cut_download_resumes_with_range(tmp_path, blob):
    root, data = blob
    DropOnceHandler.dropped, RecordingHandler.ranges = [], []

    class Handler(DropOnceHandler, RecordingHandler):
        pass

    with MirrorServer(root, Handler) as server:
        url = mirror_url("https://host.example/files/big.bin", server.url)
        result = fetch(url, tmp_path / "out" / "big.bin", Expected(len(data), hashlib.sha256(data).hexdigest()),
                       backoff=0.01, log=lambda _: None)
        assert result.downloaded and result.path.read_bytes() == data
        assert Handler.ranges[0] == "" and Handler.ranges[1].startswith("bytes=") and Handler.ranges[1] != "bytes=0-"
        assert not (tmp_path / "out" / "big.bin.part").exists()
        # complete: a second call does no network work at all
        before = server.requests
        again = fetch(url, tmp_path / "out" / "big.bin", Expected(len(data)), log=lambda _: None)
        assert not again.downloaded and server.requests == before


def test_moved_mirror_is_not_downloaded_again(tmp_path, blob):
    root, data = blob
    with MirrorServer(root) as a:
        fetch(mirror_url("https://host.example/files/big.bin", a.url), tmp_path / "big.bin",
              identity="https://host.example/files/big.bin", log=lambda _: None)
    with MirrorServer(root) as b:
        r = fetch(mirror_url("https://host.example/files/big.bin", b.url), tmp_path / "big.bin",
                  identity="https://host.example/files/big.bin", log=lambda _: None)
        assert not r.downloaded and b.requests == 0


def test_size_and_hash_mismatch_are_permanent_errors(tmp_path, blob):
    root, data = blob
    with MirrorServer(root) as server:
        url = mirror_url("https://host.example/files/big.bin", server.url)
        with pytest.raises(FetchError, match="size") as err:
            fetch(url, tmp_path / "a.bin", Expected(size=len(data) + 1), log=lambda _: None)
        assert err.value.permanent and not (tmp_path / "a.bin").exists()
        with pytest.raises(FetchError, match="sha256"):
            fetch(url, tmp_path / "b.bin", Expected(sha256="0" * 64), log=lambda _: None)
        assert not (tmp_path / "b.bin").exists() and server.requests == 2


def test_missing_file_is_not_retried(tmp_path, blob):
    root, _ = blob
    with MirrorServer(root) as server:
        with pytest.raises(FetchError, match="404") as err:
            fetch(server.url + "/host.example/nope.bin", tmp_path / "nope.bin", backoff=0.01, log=lambda _: None)
        assert err.value.permanent and server.requests == 1


def test_unreachable_server_is_retried_then_fails(tmp_path):
    with pytest.raises(FetchError, match="ConnectionError"):
        fetch("http://127.0.0.1:9/x.bin", tmp_path / "x.bin", retries=3, backoff=0.01, log=lambda _: None)


@pytest.mark.parametrize("as_uri", [True, False])
def test_file_urls_and_local_folders_use_the_same_interface(tmp_path, blob, as_uri):
    root, data = blob
    mirror = root.as_uri() if as_uri else str(root)
    url = mirror_url("https://host.example/files/big.bin", mirror)
    assert url.startswith("file://")
    r = fetch(url, tmp_path / "c.bin", Expected(len(data)), log=lambda _: None)
    assert r.downloaded and r.path.read_bytes() == data


def test_progress_lines_report_rate_and_eta(tmp_path, blob):
    root, _ = blob
    lines: list[str] = []
    with MirrorServer(root) as server:
        fetch(mirror_url("https://host.example/files/big.bin", server.url), tmp_path / "d.bin", log=lines.append)
    assert any("/s" in line and "ETA" in line for line in lines)
