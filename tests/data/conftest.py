"""Live PostgreSQL servers started and stopped by the tests themselves (never mocked)."""

from __future__ import annotations

import contextlib
import itertools
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from standins.state_hub.synthetic import seed
from statehub.data.dsn import Dsn, connect
from statehub.data.ephemeral import EphemeralServer, ephemeral_server
from tests.postgres_versions import server_bin
from tests.script_runner import run_script
from tests.script_runner import script_env as plain_env

PG15_BIN = Path("/usr/lib/postgresql/15/bin")
_names = itertools.count()

NewDb = Callable[..., Dsn]


@pytest.fixture(scope="session")
def pg15() -> Iterator[EphemeralServer]:
    if not (PG15_BIN / "initdb").exists():
        pytest.skip(f"Debian's PostgreSQL 15 is not installed at {PG15_BIN} (apt-get install postgresql-15)")
    with ephemeral_server(PG15_BIN, tcp=True) as server:
        yield server


@pytest.fixture(scope="session")
def servers() -> Iterator[Callable[[int], EphemeralServer]]:
    """`servers(major)`: a running server of that major (15-18), started once; skips when not to be had."""
    started: dict[int, EphemeralServer] = {}
    with contextlib.ExitStack() as stack:

        def get(major: int) -> EphemeralServer:
            if major not in started:
                bin_dir = server_bin(major)
                if bin_dir is None:
                    pytest.skip(f"no PostgreSQL {major} server here (see tests/postgres_versions.py)")
                started[major] = stack.enter_context(ephemeral_server(bin_dir, tcp=True))
            return started[major]

        yield get


def create_db(server: EphemeralServer, *, scale: int | None = None) -> Dsn:
    name = f"db_{os.getpid()}_{next(_names)}"
    dsn = server.create_database(name, tcp=True)
    if scale is not None:
        with connect(dsn) as conn:
            seed(conn, scale)
    return dsn


@pytest.fixture
def new_db(pg16: EphemeralServer) -> NewDb:
    """`new_db()` an empty database, `new_db(scale=1)` a seeded State Hub, on the PostgreSQL 16 server."""
    return lambda scale=None: create_db(pg16, scale=scale)


def dump_cli(
    source: Dsn, out: Path, *extra: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return run_script(
        "dump.py", "--source", no_password(source), "--out", str(out), *extra, env=env or script_env(source)
    )


def restore_cli(dump_dir: Path, target: Dsn, *extra: str) -> subprocess.CompletedProcess[str]:
    return run_script(
        "restore.py", "--dump", str(dump_dir), "--target", no_password(target), *extra, env=script_env(target)
    )


def compare_cli(source: Dsn, target: Dsn, report: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return run_script(
        "compare.py",
        "--source",
        no_password(source),
        "--target",
        no_password(target),
        "--report",
        str(report),
        *extra,
        env=script_env(source),
    )


@pytest.fixture(scope="module")
def dumped(pg16: EphemeralServer, tmp_path_factory: pytest.TempPathFactory) -> tuple[Dsn, Path]:
    """A seeded State Hub and its dump, shared by the tests of a module (they only read both)."""
    source = create_db(pg16, scale=1)
    out = tmp_path_factory.mktemp("dump") / "d"
    result = dump_cli(source, out)
    assert result.returncode == 0, result.stderr
    return source, out


def script_env(dsn: Dsn | None = None) -> dict[str, str]:
    """Passwords go through the environment, as an operator would give them."""
    password = dsn.get("password") if dsn else None
    return plain_env(PGPASSWORD=password) if password else plain_env()


def no_password(dsn: Dsn) -> str:
    """The DSN as an operator types it: no password in it."""
    return " ".join(f"{k}={v}" for k, v in dsn.params if k != "password")
