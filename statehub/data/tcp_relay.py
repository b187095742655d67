"""A TCP relay (on 127.0.0.1 unless told otherwise) whose destination can be moved while it runs.

What a Service does when its endpoints change: connections already open stay where they are, new
ones go to the new destination. The rehearsal's front door flips with it, like the endpoint toggle;
the tunnel's tests use one as the port-forward a tunnel keeps alive.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

_CHUNK = 65536


class TcpRelay:
    def __init__(self, listener: socketserver.ThreadingTCPServer, destination: tuple[str, int]) -> None:
        self._listener = listener
        self.destination = destination
        """(host, port) where new connections go."""

    @property
    def port(self) -> int:
        return int(self._listener.server_address[1])


def _pump(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(_CHUNK):
            sink.sendall(data)
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


@contextmanager
def relaying(
    destination: tuple[str, int], *, port: int = 0, host: str = "127.0.0.1", patience: float = 0.0
) -> Iterator[TcpRelay]:
    """Listen on `host`:`port` (0: a free one) and relay to `destination` until the block ends. `patience`:
    seconds a new connection keeps trying to reach the destination (one that restarts, as a port-forward)."""
    relay: TcpRelay

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            deadline = time.monotonic() + patience
            while True:
                try:
                    upstream = socket.create_connection(relay.destination, timeout=10)
                    break
                except OSError:
                    if time.monotonic() >= deadline:
                        return  # the client sees the connection close, as with a Service without a ready endpoint
                    time.sleep(0.2)
            upstream.settimeout(None)
            with upstream:
                back = threading.Thread(target=_pump, args=(upstream, self.request), daemon=True)
                back.start()
                _pump(self.request, upstream)
                back.join()

    socketserver.ThreadingTCPServer.allow_reuse_address = True
    listener = socketserver.ThreadingTCPServer((host, port), Handler)
    listener.daemon_threads = True
    relay = TcpRelay(listener, destination)
    thread = threading.Thread(target=listener.serve_forever, daemon=True)
    thread.start()
    try:
        yield relay
    finally:
        listener.shutdown()
        listener.server_close()
