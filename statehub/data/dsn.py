"""Connection strings: parsed once, shown masked, handed to child processes through the environment."""

from __future__ import annotations

import contextlib
import getpass
import os
import signal
import threading
import time
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import quote, urlencode

import psycopg
from psycopg import pq
from psycopg.conninfo import conninfo_to_dict, make_conninfo

MASK = "********"


@cache
def _libpq_options() -> tuple[dict[str, str], frozenset[str]]:
    """libpq's connection keywords: keyword -> its environment variable, and the secret ones."""
    env_of, secret = {}, set()
    for option in pq.Conninfo.get_defaults():
        keyword = option.keyword.decode()
        if option.envvar:
            env_of[keyword] = option.envvar.decode()
        if option.dispchar == b"*":
            secret.add(keyword)
    return env_of, frozenset(secret | {"password", "sslpassword"})


def _printable(value: str) -> str:
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in value)


def _looks_like_conninfo(text: str) -> bool:
    return "=" in text or text.startswith(("postgresql://", "postgres://"))


class DsnError(ValueError):
    """The DSN cannot be parsed (the message never contains its password)."""


@dataclass(frozen=True)
class Dsn:
    params: tuple[tuple[str, str], ...]

    @classmethod
    def parse(cls, text: str) -> Dsn:
        """Parse and resolve completely, by libpq's rules: a dbname that is itself a connection string
        is expanded, then every keyword still unset comes from its PG* environment variable, then
        port, user and dbname from libpq's defaults. psycopg and every tool then get exactly this
        (an unset dbname must not let psql check one database while pg_restore fills another)."""
        params = _parse(text)
        dbname = params.get("dbname", "")
        if _looks_like_conninfo(dbname):
            params = {**params, **_parse(dbname)}
        env_of, _ = _libpq_options()
        for keyword, variable in env_of.items():
            if keyword not in params and os.environ.get(variable):
                params[keyword] = os.environ[variable]
        if "service" in params:
            raise DsnError("a service name (service=/PGSERVICE) is not resolved here: give host, port and dbname")
        if not params.get("host") and not params.get("hostaddr"):
            raise DsnError(
                "the DSN names no host and PGHOST is unset: libpq builds look for the socket in different "
                "folders, so the tools could reach another server; give host= (an address or a socket folder)"
            )
        params.setdefault("port", "5432")
        params.setdefault("user", getpass.getuser())
        params.setdefault("dbname", params["user"])
        return cls(tuple(sorted((k, str(v)) for k, v in params.items() if v not in (None, ""))))

    def get(self, key: str) -> str | None:
        return dict(self.params).get(key)

    def with_password_from(self, variable: str) -> Dsn:
        """The password of a second server (the WSL2 side) comes from its own variable, if set."""
        return self.replace(password=os.environ[variable]) if os.environ.get(variable) else self

    def same_database(self, other: Dsn) -> bool:
        """Both name the same host, port and database (the server's own identity is checked once
        connected, where it matters)."""
        return all((self.get(k) or "") == (other.get(k) or "") for k in ("host", "hostaddr", "port", "dbname"))

    @property
    def dbname(self) -> str:
        return self.get("dbname") or self.get("user") or getpass.getuser()

    def conninfo(self) -> str:
        """The full connection string, password included: for psycopg only, never printed."""
        return make_conninfo(**dict(self.params))

    def url(self) -> str:
        """The same connection as a `postgresql://` URL, password included: for a child's `DATABASE_URL`
        (how a State Hub is given its database), never printed."""
        params = dict(self.params)
        user = quote(params.pop("user", ""), safe="")
        password = params.pop("password", None)
        login = f"{user}:{quote(password, safe='')}@" if password is not None else f"{user}@"
        dbname = quote(params.pop("dbname", ""), safe="")
        return f"postgresql://{login}/{dbname}?{urlencode(params)}"

    def masked(self) -> str:
        """For people: host, port, user and database, the password replaced, and no control character (a
        newline in an application_name would start a line of its own: one that reads `error: ...`)."""
        _, secret = _libpq_options()
        shown = {k: (MASK if k in secret else _printable(v)) for k, v in self.params}
        return make_conninfo(**shown)

    def child_env(self) -> dict[str, str]:
        """The environment a pg tool needs to reach exactly this database, and nothing else of libpq's:
        no inherited PG* variable can redirect it, and nothing goes on its command line."""
        env_of, _ = _libpq_options()
        env = {k: v for k, v in os.environ.items() if k not in env_of.values()}
        for key, value in self.params:
            if key in env_of:
                env[env_of[key]] = value
        return env

    @classmethod
    def of(cls, **params: str) -> Dsn:
        return cls(tuple(sorted(params.items())))

    def replace(self, **changes: str) -> Dsn:
        """The same connection with some parameters changed (e.g. another dbname or password)."""
        return Dsn.of(**{**dict(self.params), **changes})


def _parse(text: str) -> dict[str, str]:
    try:
        return {k: str(v) for k, v in conninfo_to_dict(text).items() if v is not None}
    except psycopg.ProgrammingError:
        raise DsnError("the DSN is not a valid PostgreSQL connection string (postgresql://user@host:port/db)") from None


_open: weakref.WeakSet[psycopg.Connection[Any]] = weakref.WeakSet()
_of_workers: weakref.WeakSet[psycopg.Connection[Any]] = weakref.WeakSet()
"""The open connections that threads other than the main thread made (pool workers)."""
_registry = threading.RLock()
"""Guards both sets: a thread adding a connection while another lists them would break the listing.
Re-entrant, because the signal handler lists them in the main thread, which may be interrupted inside
`connect` holding it."""
_ending = threading.Event()
_RECANCEL_SECONDS = 0.2


def connect(dsn: Dsn, **kwargs: object) -> psycopg.Connection[tuple[object, ...]]:
    """Connect, turning connection failures into one line that names the target, never the password."""
    worker = threading.current_thread() is not threading.main_thread()
    if worker and _ending.is_set():
        raise ConnectError(f"not connecting to {dsn.masked()}: the process is ending")
    try:
        conn = psycopg.connect(dsn.conninfo(), connect_timeout=10, **kwargs)  # type: ignore[arg-type]
    except psycopg.OperationalError as error:
        reason = str(error).strip().splitlines()[-1] if str(error).strip() else "connection failed"
        raise ConnectError(f"cannot connect to {dsn.masked()}: {reason}") from None
    with _registry:
        _open.add(conn)
        if worker:
            _of_workers.add(conn)
    return conn


def cancel(connections: Iterable[psycopg.Connection[Any]]) -> None:
    """Cancel what these connections are running (their transactions roll back)."""
    for conn in connections:
        if not conn.closed:
            with contextlib.suppress(psycopg.Error):
                conn.cancel_safe(timeout=5)


def cancel_queries() -> None:
    """Cancel what every open connection of this process is running. A signal handler calls it: a
    worker thread waiting for a query (e.g. one held by a lock) would otherwise hold the interrupted
    script up."""
    with _registry:
        running = list(_open)
    cancel(running)


def end_all_queries() -> None:
    """The process is ending (a signal): cancel every query now, and keep cancelling the worker threads'
    queries until the process is gone, and let no worker connect again. A worker that had connected but
    not yet sent its query when the signal came sends it afterwards; left waiting on a lock, it would hold
    the exit up forever. The main thread, which unwinds and cleans up (drops a half copy), may go on."""
    if _ending.is_set():
        return
    _ending.set()
    cancel_queries()
    threading.Thread(target=_keep_cancelling_workers, name="end-all-queries", daemon=True).start()


def _keep_cancelling_workers() -> None:
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})  # why: processes.py
    while True:
        time.sleep(_RECANCEL_SECONDS)
        with _registry:
            running = list(_of_workers)
        cancel(running)


class ConnectError(Exception):
    """The database could not be reached (unreachable host, wrong password, missing database)."""
