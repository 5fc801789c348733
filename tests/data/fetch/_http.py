"""A small HTTP server on 127.0.0.1 for the fetch tests: files by path, Range requests
honoured (or not), and a response that breaks off halfway."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Files:
    content: dict[str, bytes] = field(default_factory=dict)
    truncated: set[str] = field(default_factory=set)  # send half, announce all
    no_range: set[str] = field(default_factory=set)  # ignore Range requests
    ranges: list[str] = field(default_factory=list)  # the Range headers received


@contextmanager
def serve(files: Files) -> Iterator[str]:
    """``files`` served on a free port of 127.0.0.1; yields the base URL."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            data = files.content.get(path)
            if data is None:
                self.send_error(404)
                return
            start, status = 0, 200
            wanted = self.headers.get("Range")
            if wanted and path not in files.no_range:
                files.ranges.append(wanted)
                start = int(wanted.removeprefix("bytes=").split("-")[0])
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status = 206
            body = data[start:]
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            if path in files.truncated:
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            view = memoryview(body)
            for i in range(0, len(body), 1 << 20):
                self.wfile.write(view[i : i + (1 << 20)])

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
