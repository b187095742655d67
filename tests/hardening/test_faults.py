"""Injected faults: a signal (Ctrl-C, SIGTERM, SIGKILL), the server dropping the connection, a full
disk, each while a script is in the middle of its work. The work is held in place by a real lock in
PostgreSQL (a blocker session), so the fault lands inside the step every time.

After each: the exit code and the one `error:` line (none after SIGKILL), no tool process left
behind, no half output folder, and the databases as they were (nothing committed half-way).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from statehub.data.dsn import Dsn, connect
from statehub.data.fingerprint import fingerprint
from statehub.data.freezing import freeze, is_frozen, unfreeze
from statehub.policy.fingerprints import fingerprint_digest
from tests.data.conftest import create_db, no_password
from tests.hardening.conftest import APP_ROLE, World
from tests.script_runner import SCRIPTS, script_env

DROPPED = "dropped"
"""Not a signal: the server ends the script's (or its tool's) backend, as a restart would."""
FAULTS = ["SIGINT", "SIGTERM", "SIGKILL", DROPPED]


@dataclass
class Outcome:
    returncode: int
    stderr: str

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith("error: ")]


def waiting_for_a_lock(admin: Dsn, dbname: str) -> list[int]:
    """Backends of `dbname` that wait for a lock (the script's or its tool's)."""
    with connect(admin.replace(dbname="postgres"), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'", (dbname,)
        ).fetchall()
    return [int(str(row[0])) for row in rows]


def strike(script: str, args: list[str], env: dict[str, str], admin: Dsn, dbname: str, fault: str) -> Outcome:
    """Start `script`, wait until its work waits on the blocker's lock, then inject `fault`."""
    process = subprocess.Popen(
        [sys.executable, str(SCRIPTS / script), *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (waiting := waiting_for_a_lock(admin, dbname)):
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise AssertionError(f"{script} never reached the lock: {process.communicate()[1]}")
            time.sleep(0.1)
        if fault == DROPPED:
            with connect(admin.replace(dbname="postgres"), autocommit=True) as conn:
                conn.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", (waiting,))
        else:
            os.kill(process.pid, signal.Signals[fault])  # the script only: its tools must follow by themselves
        _, stderr = process.communicate(timeout=60)
        return Outcome(process.returncode, stderr)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


def no_process_mentions(text: str) -> None:
    """No tool started by the script still runs (their command lines name the test's own folder)."""
    deadline = time.monotonic() + 10
    while True:
        found = subprocess.run(["pgrep", "-f", text], capture_output=True, text=True, check=False).stdout.split()
        if not found or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert not found, f"processes left behind: {found}"


def ended_as_expected(outcome: Outcome, fault: str) -> None:
    assert "Traceback" not in outcome.stderr, outcome.stderr
    if fault == "SIGKILL":
        assert outcome.returncode == -signal.SIGKILL
        return
    assert outcome.returncode == 2, outcome.stderr
    assert len(outcome.error_lines) == 1, outcome.stderr
    if fault in ("SIGINT", "SIGTERM"):
        assert outcome.error_lines[0] == "error: interrupted"


@contextlib.contextmanager
def blocker(dsn: Dsn, *statements: str) -> Iterator[psycopg.Connection[Any]]:
    """A session that holds its locks (open transaction) until the block ends, then rolls back."""
    with connect(dsn, autocommit=True) as conn:
        conn.execute("SET default_transaction_read_only = off")
        conn.execute("BEGIN")
        for statement in statements:
            conn.execute(statement.encode())
        try:
            yield conn
        finally:
            conn.execute("ROLLBACK")


def env_of(world: World) -> dict[str, str]:
    return script_env(PGPASSWORD=world.source.get("password") or "")


def digest(dsn: Dsn) -> str:
    return fingerprint_digest(fingerprint(dsn))


@pytest.mark.parametrize("fault", FAULTS)
def test_a_fault_during_the_dump(world: World, tmp_path: Path, fault: str) -> None:
    before = digest(world.source)
    out = tmp_path / "dump"
    with blocker(world.source, "LOCK TABLE tasks IN ACCESS EXCLUSIVE MODE"):
        outcome = strike(
            "dump.py",
            ["--source", no_password(world.source), "--out", str(out)],
            env_of(world),
            world.source,
            world.source.dbname,
            fault,
        )
    ended_as_expected(outcome, fault)
    no_process_mentions(str(tmp_path))
    if fault != "SIGKILL":
        assert not out.exists()  # no half archive
    assert digest(world.source) == before


@pytest.mark.parametrize("fault", FAULTS)
def test_a_fault_during_the_restore(world: World, tmp_path: Path, fault: str) -> None:
    dump = tmp_path / "dump"
    shutil.copytree(world.dump, dump)  # its own path, so its pg_restore can be found by command line
    target = create_db(world.server)
    with blocker(target, "CREATE TABLE public.tasks (held int)"):  # pg_restore's CREATE TABLE waits for it
        outcome = strike(
            "restore.py",
            ["--dump", str(dump), "--target", no_password(target)],
            env_of(world),
            world.source,
            target.dbname,
            fault,
        )
    ended_as_expected(outcome, fault)
    no_process_mentions(str(tmp_path))
    with connect(target) as conn:
        assert conn.execute("SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace").fetchone() == (
            0,
        )
    assert not (dump / "restore-compare.json").exists()


def freeze_state(world: World) -> tuple[Any, ...]:
    with connect(world.server.dsn("postgres"), autocommit=True) as conn:
        limit = conn.execute("SELECT rolconnlimit FROM pg_roles WHERE rolname = %s", (APP_ROLE,)).fetchone()
        settings = conn.execute(
            "SELECT count(*) FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase WHERE d.datname = %s",
            (world.source.dbname,),
        ).fetchone()
    return limit, settings, is_frozen(world.source)


@pytest.mark.parametrize("fault", FAULTS)
def test_a_fault_during_the_freeze_leaves_no_half_freeze(world: World, tmp_path: Path, fault: str) -> None:
    before = freeze_state(world)
    report = tmp_path / "freeze.json"
    # freeze sets its marker and the read-only default, then locks the role: that last step waits here
    with blocker(world.server.dsn("postgres"), f"ALTER ROLE {APP_ROLE} CONNECTION LIMIT 7"):
        outcome = strike(
            "freeze.py",
            ["--target", no_password(world.source), "--app-role", APP_ROLE, "--report", str(report)],
            env_of(world),
            world.source,
            world.source.dbname,
            fault,
        )
    ended_as_expected(outcome, fault)
    time.sleep(0.5 if fault == "SIGKILL" else 0)  # the server notices the lost client and rolls back
    assert freeze_state(world) == before
    assert not report.exists()


@pytest.fixture
def frozen_pair(world: World) -> Iterator[tuple[Dsn, Dsn]]:
    """A cluster copy with one changed task, and the frozen WSL2 database it syncs back into."""
    cluster, wsl2 = create_db(world.server, scale=1), create_db(world.server, scale=1)
    with connect(cluster, autocommit=True) as conn:
        conn.execute("UPDATE tasks SET title = 'written on the cluster' WHERE id = 1")
    freeze(wsl2, app_roles=[APP_ROLE], probe=None)
    try:
        yield cluster, wsl2
    finally:
        unfreeze(wsl2, probe=None)


@pytest.mark.parametrize("fault", FAULTS)
def test_a_fault_during_the_sync_back_commits_nothing(
    world: World, tmp_path: Path, frozen_pair: tuple[Dsn, Dsn], fault: str
) -> None:
    cluster, wsl2 = frozen_pair
    before = digest(wsl2)
    with blocker(wsl2, "SELECT * FROM tasks WHERE id = 1 FOR UPDATE"):
        outcome = strike(
            "sync_back.py",
            ["--cluster", no_password(cluster), "--wsl2", no_password(wsl2), "--report", str(tmp_path / "s.json")],
            env_of(world),
            world.source,
            wsl2.dbname,
            fault,
        )
    ended_as_expected(outcome, fault)
    time.sleep(0.5 if fault == "SIGKILL" else 0)
    assert digest(wsl2) == before and is_frozen(wsl2)
    assert not (tmp_path / "s.json").exists()


@pytest.mark.parametrize("fault", ["SIGINT", "SIGTERM"])
def test_an_interrupted_compare_writes_no_report(world: World, tmp_path: Path, fault: str) -> None:
    report = tmp_path / "c.json"
    with blocker(world.source, "LOCK TABLE tasks IN ACCESS EXCLUSIVE MODE"):
        outcome = strike(
            "compare.py",
            ["--source", no_password(world.source), "--target", no_password(world.source), "--report", str(report)],
            env_of(world),
            world.source,
            world.source.dbname,
            fault,
        )
    ended_as_expected(outcome, fault)
    assert not report.exists()


def test_an_interrupted_drill_leaves_no_server_no_dump(world: World, tmp_path: Path) -> None:
    out = tmp_path / "drill"
    temporary = Path(tempfile.mkdtemp(prefix="statehub-fault-"))  # pytest's own folders admit no server user
    temporary.chmod(0o755)
    env = {**env_of(world), "TMPDIR": str(temporary)}
    with blocker(world.source, "LOCK TABLE tasks IN ACCESS EXCLUSIVE MODE"):
        outcome = strike(
            "drill.py",
            ["--source", no_password(world.source), "--out", str(out)],
            env,
            world.source,
            world.source.dbname,
            "SIGTERM",
        )
    ended_as_expected(outcome, "SIGTERM")
    assert not out.exists()
    assert list(temporary.iterdir()) == []  # the throwaway server's folder (its data) is gone
    temporary.rmdir()
    no_process_mentions(str(tmp_path))


@pytest.mark.parametrize("script", ["dump.py", "drill.py"])
def test_a_full_disk_is_one_error_line_and_no_half_output(world: World, tmp_path: Path, script: str) -> None:
    out = tmp_path / "out"
    result = subprocess.run(
        [
            "prlimit",
            "--fsize=20000",
            sys.executable,
            str(SCRIPTS / script),
            "--source",
            no_password(world.source),
            "--out",
            str(out),
        ],
        env=env_of(world),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert result.returncode == 2 and len(errors) == 1, result.stderr
    assert "SIGXFSZ" in errors[0] or "File too large" in errors[0]  # the tool's own words differ
    assert "Traceback" not in result.stderr
    assert not out.exists()


@pytest.mark.parametrize("fault", ["SIGTERM", DROPPED])
def test_a_broken_refresh_of_the_fallback_leaves_no_half_copy(world: World, tmp_path: Path, fault: str) -> None:
    into = f"fallback_{os.getpid()}_{fault.lower()}"
    before = digest(world.source)
    with blocker(world.source, "LOCK TABLE tasks IN ACCESS EXCLUSIVE MODE"):  # the cluster's snapshot waits here
        outcome = strike(
            "refresh_fallback.py",
            [
                "--cluster",
                no_password(world.source),
                "--wsl2",
                no_password(world.target),
                "--into",
                into,
                "--report",
                str(tmp_path / "r.json"),
            ],
            env_of(world),
            world.source,
            world.source.dbname,
            fault,
        )
    ended_as_expected(outcome, fault)
    with connect(world.server.dsn("postgres")) as conn:
        assert conn.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (into,)).fetchone() == (0,)
    assert digest(world.source) == before
    assert not (tmp_path / "r.json").exists()
