"""A real HTTP server on 127.0.0.1 for download tests, in a thread.

It serves bytes from a dict, honours Range requests (or not, to test the
fallback), can drop a connection part-way through a file a given number of
times, answers 404 for unknown paths, and logs every request.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Served:
    """What the server holds and how it misbehaves."""

    files: dict[str, bytes] = field(default_factory=dict)
    ranges: bool = True
    #: path -> (bytes sent before the drop, how many requests are dropped)
    drops: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: (path, Range header or "") of every request, in order
    log: list[tuple[str, str]] = field(default_factory=list)
    sent: int = 0
    #: seconds to wait between 8 KB pieces of a body (a slow link), 0 for none
    pace: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _handler(served: Served) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep pytest output clean
            pass

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            header = self.headers.get("Range", "")
            with served.lock:
                served.log.append((path, header))
            data = served.files.get(path)
            if data is None:
                self.send_error(404, "Not Found")
                return
            start, end = 0, len(data) - 1
            partial = bool(header) and served.ranges
            if partial:
                first, _, last = header.removeprefix("bytes=").partition("-")
                start = int(first)
                end = int(last) if last else len(data) - 1
                if start >= len(data):
                    self.send_error(416, "Range Not Satisfiable")
                    return
                end = min(end, len(data) - 1)
            body = data[start : end + 1]
            self.send_response(206 if partial else 200)
            self.send_header("Content-Length", str(len(body)))
            if partial:
                self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
            if served.ranges:
                self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            with served.lock:
                cut, times = served.drops.get(path, (0, 0))
                if times > 0 and len(body) > cut:
                    served.drops[path] = (cut, times - 1)
                    body = body[:cut]
                    self.close_connection = True
                served.sent += len(body)
            step = 8192 if served.pace else max(1, len(body))
            try:
                for at in range(0, len(body), step):
                    self.wfile.write(body[at : at + step])
                    self.wfile.flush()
                    if served.pace:
                        time.sleep(served.pace)
            except OSError:  # the client hung up (a cancelled download)
                self.close_connection = True

    return Handler


@contextmanager
def serve(served: Served) -> Iterator[str]:
    """Run a server for ``served``; yield its base URL (``http://127.0.0.1:N``)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(served))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
