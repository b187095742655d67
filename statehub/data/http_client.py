"""The project's one HTTP client: for the State Hub APIs a compare asks, the Kubernetes API and the registry.

What a hostile or broken server cannot do to a script that asks it: send it elsewhere (redirects are
answers, never followed, so a credential never travels to another host), keep it waiting (one deadline
for each whole request, however slowly the bytes come), fill its memory (answers are read up to a size
limit), or break it with its JSON (strict: no NaN or Infinity; no nesting deeper than a limit). A request
in flight ends at once when the process is ending (Ctrl-C, SIGTERM): its socket is closed under it.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import math
import socket
import ssl
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

MAX_BYTES = 16 * 2**20
MAX_DEPTH = 64
DEADLINE = 20.0
"""Seconds for a whole request: connect, send, every byte of the answer."""

_open: set[_Request] = set()
_lock = threading.Lock()
_ending = threading.Event()


class HttpError(Exception):
    """No usable answer: the message says why (never the URL's credentials: URLs carry none)."""


class _Request:
    """A connection and, once connected, its socket: http.client hands the socket over to the answer
    (HTTP/1.0, `Connection: close`), so ending a request shuts the socket, not the connection, down. A
    request ended before its socket exists never sends."""

    def __init__(self, conn: http.client.HTTPConnection) -> None:
        self.conn = conn
        self._sock: socket.socket | None = None
        self._ended = False
        self._guard = threading.Lock()

    def connect(self) -> None:
        self.conn.connect()
        with self._guard:
            self._sock = self.conn.sock
            ended = self._ended
        if ended:
            self.end()
            raise OSError("ended before it was sent")

    def end(self) -> None:
        """Every blocked read or write of the request returns now (with an error or an end of answer)."""
        with self._guard:
            self._ended = True
            sock = self._sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self.conn.close()


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    location: str | None = None
    """Where a redirect pointed (not followed)."""


def fetch(
    url: str,
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    context: ssl.SSLContext | None = None,
    deadline: float = DEADLINE,
    max_bytes: int = MAX_BYTES,
) -> Response:
    """One request, within `deadline` seconds and `max_bytes` of answer, or `HttpError`."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise HttpError(f"not an http(s) URL: {parts.scheme}://{parts.hostname}")
    if parts.username or parts.password:
        raise HttpError("the URL carries credentials: give them another way")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        conn = http.client.HTTPSConnection(parts.hostname, parts.port, timeout=deadline, context=context)
    else:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=deadline)
    request = _Request(conn)
    expired = threading.Event()

    def expire() -> None:
        expired.set()
        request.end()

    timer = threading.Timer(deadline, expire)
    timer.daemon = True
    with _lock:
        if _ending.is_set():
            raise HttpError("not asking: the process is ending")
        _open.add(request)
    timer.start()
    try:
        request.connect()
        conn.request(method, path, body=body, headers=headers or {})
        answer = conn.getresponse()
        data = answer.read(max_bytes + 1)
        if expired.is_set() or _ending.is_set():
            raise OSError("ended")  # the answer was cut short, not complete
        if len(data) > max_bytes:
            raise HttpError(f"the answer is larger than {max_bytes // 2**20} MiB: not read further")
        return Response(answer.status, data, answer.getheader("Location"))
    except (OSError, http.client.HTTPException) as error:
        if expired.is_set():
            raise HttpError(f"no complete answer within {deadline:g} s") from None
        if _ending.is_set():
            raise HttpError("interrupted") from None
        raise HttpError(str(getattr(error, "reason", error)) or type(error).__name__) from None
    finally:
        timer.cancel()
        with _lock:
            _open.discard(request)
        request.end()


def end_all_requests() -> None:
    """The process is ending: close every request's socket (its thread returns at once) and start no other."""
    _ending.set()
    with _lock:
        running = list(_open)
    for request in running:
        request.end()


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    """A JSON number as a float, refused when it overflows to infinity (`1e400`): a report holds only JSON."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:20]} is beyond a float")
    return value


def depth(value: Any, limit: int = MAX_DEPTH) -> int:
    """How deeply `value` nests (lists and objects), counted without recursion, up to `limit` + 1."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            if deepest > limit:
                return deepest
            stack.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def strict_json(data: bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """JSON as RFC 8259 has it (no NaN, no Infinity), nested at most `max_depth` levels; else ValueError."""
    try:
        value = json.loads(data or b"null", parse_constant=_no_constants, parse_float=_finite)
    except RecursionError:
        raise ValueError(f"JSON nested deeper than {max_depth} levels") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"not JSON ({error.msg} at character {error.pos})") from None
    if depth(value, max_depth) > max_depth:
        raise ValueError(f"JSON nested deeper than {max_depth} levels")
    return value
