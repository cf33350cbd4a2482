"""A loopback HTTP server for a mirror folder, with the Range, ETag and If-Range support the fetch layer
resumes with.

Used by the embedded main job and the tests so the sample reaches the pipeline over real HTTP."""
from __future__ import annotations

import re
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

_RANGE = re.compile(r"bytes=(\d+)-(\d*)$")


class MirrorHandler(BaseHTTPRequestHandler):
    root: Path  # set on the subclass made by `serve`

    def log_message(self, format: str, *args) -> None:  # keep test and CLI output clean
        pass

    def _resolve(self) -> Path | None:
        rel = unquote(urlsplit(self.path).path).lstrip("/")
        path = (self.root / rel).resolve()
        return path if path.is_relative_to(self.root) and path.is_file() else None

    def send_body(self, data: bytes) -> None:
        self.wfile.write(data)

    def do_GET(self) -> None:
        path = self._resolve()
        if path is None:
            self.send_error(HTTPStatus.NOT_FOUND)
            return
        data = path.read_bytes()
        st = path.stat()
        etag = f'"{st.st_size:x}-{st.st_mtime_ns:x}"'
        start, end = 0, len(data) - 1
        match = _RANGE.match(self.headers.get("Range", ""))
        if self.headers.get("If-Range") not in (None, etag):
            match = None  # the file changed since the client's partial copy: send it whole
        if match:
            start = int(match.group(1))
            end = int(match.group(2)) if match.group(2) else end
            if start >= len(data):
                self.send_response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.end_headers()
                return
            self.send_response(HTTPStatus.PARTIAL_CONTENT)
            self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        else:
            self.send_response(HTTPStatus.OK)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", etag)
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        self.send_body(data[start:end + 1])


class MirrorServer:
    """Serve `root` on 127.0.0.1 in a background thread; use as a context manager."""

    def __init__(self, root: Path, handler: type[MirrorHandler] = MirrorHandler, port: int = 0) -> None:
        bound = type("BoundMirrorHandler", (handler,), {"root": root.resolve()})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), bound)
        self.requests = 0
        original = bound.do_GET

        def counting(handler_self: MirrorHandler) -> None:
            self.requests += 1
            original(handler_self)

        bound.do_GET = counting
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def wait(self) -> None:
        self._thread.join()

    def __enter__(self) -> "MirrorServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
