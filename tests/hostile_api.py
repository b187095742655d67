"""A State Hub API that answers as a broken or hostile one would, for the API side of a compare.

Each behaviour is what a probe of the real tools found breaking them: an answer that never comes, one
byte at a time, an endless body, JSON nested 100,000 deep, numbers JSON has not got, a redirect to
another server. The server records when a question arrives and when its answer has gone, so a test can
strike (Ctrl-C, SIGTERM) at a known moment.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from statehub.data.ephemeral import free_port

BEHAVIOURS = ("hang", "trickle", "huge", "deep", "redirect", "nan", "overflow")
"""hang: reads the question, never answers. trickle: one byte every half second. huge: an endless body
(600 MB announced). deep: `[` 100,000 deep. redirect: 302 to `elsewhere`. nan: NaN in the health answer.
overflow: 1e400 (infinity to a float) in the health answer."""

_CHUNK = b"[0," * 21845 + b"0,"


@dataclass
class HostileApi:
    url: str
    asked: threading.Event = field(default_factory=threading.Event)
    answered: threading.Event = field(default_factory=threading.Event)
    paths: list[str] = field(default_factory=list)
    """Every path asked, in order."""


@contextmanager
def hostile_api(behaviour: str, elsewhere: str = "http://127.0.0.1:9") -> Iterator[HostileApi]:
    """Serve `behaviour` on a free loopback port until the block ends (hanging answers end with it)."""
    if behaviour not in BEHAVIOURS:
        raise ValueError(f"no behaviour {behaviour!r}: one of {', '.join(BEHAVIOURS)}")
    stopping = threading.Event()
    port = free_port()
    api = HostileApi(f"http://127.0.0.1:{port}")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            api.paths.append(self.path)
            api.asked.set()
            try:
                self._answer()
            except OSError:  # the client closed: what a guarded client does to a hostile answer
                pass
            finally:
                api.answered.set()

        def do_POST(self) -> None:  # a progress record meets the same server
            self.do_GET()

        def _answer(self) -> None:
            if behaviour == "hang":
                stopping.wait()
            elif behaviour == "redirect":
                self._head(302, {"Location": elsewhere + self.path})
            elif behaviour == "trickle":
                self._head(200, {"Content-Length": "1000000"})
                while not stopping.wait(0.5):
                    self.wfile.write(b" ")
                    self.wfile.flush()
            elif behaviour == "huge":
                self._head(200, {"Content-Length": str(600 * 2**20)})
                while not stopping.is_set():
                    self.wfile.write(_CHUNK)
            elif behaviour == "deep":
                self._body(b"[" * 100_000 + b"]" * 100_000)
            elif behaviour == "nan":
                self._body(b'{"status": "ok", "score": NaN}')
            else:
                self._body(b'{"status": "ok", "score": 1e400}')

        def _head(self, status: int, headers: dict[str, str]) -> None:
            self.send_response(status)
            for name, value in {"Content-Type": "application/json", **headers}.items():
                self.send_header(name, value)
            self.end_headers()

        def _body(self, data: bytes) -> None:
            self._head(200, {"Content-Length": str(len(data))})
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield api
    finally:
        stopping.set()
        server.shutdown()
        server.server_close()
