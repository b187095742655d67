"""Dump -> restore -> compare against live PostgreSQL, and every kind of difference detected."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from standins.state_hub.synthetic import REAL_SIZE
from statehub.data.archive import archive_sha256
from statehub.data.dsn import Dsn, connect
from statehub.data.ephemeral import EphemeralServer
from statehub.data.restoring import user_objects
from tests.data.conftest import NewDb, compare_cli, create_db, dump_cli, no_password, restore_cli, script_env
from tests.script_runner import SCRIPTS, run_script


def dump_and_restore(source: Dsn, target: Dsn, tmp_path: Path) -> dict:  # type: ignore[type-arg]
    out = tmp_path / "dump"
    dumped = dump_cli(source, out)
    assert dumped.returncode == 0, dumped.stderr
    restored = restore_cli(out, target, "--report", str(tmp_path / "restore.json"))
    assert restored.returncode == 0, restored.stderr + restored.stdout
    report: dict = json.loads((tmp_path / "restore.json").read_text())  # type: ignore[type-arg]
    return report


def test_round_trip_is_equal(new_db: NewDb, tmp_path: Path) -> None:
    source, target = new_db(scale=1), new_db()
    report = dump_and_restore(source, target, tmp_path)
    assert report["kind"] == "compare"
    assert report["result"] == "pass"
    assert report["details"]["differences"] == []
    tables = report["details"]["tables"]
    workstreams = tables["public.workstreams"]
    assert (workstreams["source_rows"], workstreams["target_rows"]) == (REAL_SIZE["workstreams"], 117)
    assert workstreams["source_hash"] == workstreams["target_hash"] and ":" in workstreams["source_hash"]
    assert tables["public.tasks"]["target_rows"] == 989
    assert tables["public.progress_events"]["target_rows"] == 1423
    assert tables["public.token_events"]["target_rows"] == 208
    manifest = json.loads((tmp_path / "dump" / "manifest.json").read_text())
    assert manifest["kind"] == "dump" and manifest["schema_version"] == 1
    assert len(manifest["details"]["archive"]["sha256"]) == 64
    assert manifest["details"]["fingerprint"]["alembic_revision"] == "8f2c1d9a4b7e"
    both = compare_cli(source, target, tmp_path / "c.json")
    assert both.returncode == 0, both.stderr
    for path in tmp_path.rglob("*.json"):
        assert (source.get("password") or "") not in path.read_text()


MUTATIONS = [
    ("changed value", "UPDATE tasks SET title = title || '!' WHERE id = 7", "content", "public.tasks", "7"),
    ("NULL vs empty", "UPDATE tasks SET notes = '' WHERE id = 4", "content", "public.tasks", "4"),
    ("deleted row", "DELETE FROM progress_events WHERE id = 11", "row-count", "public.progress_events", "11"),
    ("extra row", "INSERT INTO repos (id, name) VALUES (999, 'x')", "row-count", "public.repos", "999"),
    (
        "duplicated row in a table without key",
        "INSERT INTO agent_notes SELECT * FROM agent_notes LIMIT 1",
        "row-count",
        "public.agent_notes",
        None,
    ),
    ("sequence moved", "SELECT nextval('progress_events_id_seq')", "sequence", "public.progress_events_id_seq", None),
    ("column type changed", "ALTER TABLE token_events ALTER COLUMN agent TYPE varchar(50)", "schema", "columns", None),
    ("index dropped", "DROP INDEX tasks_workstream_status_idx", "schema", "indexes", None),
    (
        "alembic revision differs",
        "UPDATE alembic_version SET version_num = 'ffff'",
        "alembic-revision",
        "alembic_version",
        None,
    ),
]


@pytest.mark.parametrize(("label", "statement", "kind", "where", "key"), MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_each_difference_is_named(
    dumped: tuple[Dsn, Path],
    pg16: EphemeralServer,
    tmp_path: Path,
    label: str,
    statement: str,
    kind: str,
    where: str,
    key: str | None,
) -> None:
    source, dump_dir = dumped
    target = create_db(pg16)
    assert restore_cli(dump_dir, target, "--report", str(tmp_path / "r.json")).returncode == 0
    with connect(target, autocommit=True) as conn:
        conn.execute(statement.encode())
    result = compare_cli(source, target, tmp_path / "c.json")
    assert result.returncode == 1, result.stderr
    report = json.loads((tmp_path / "c.json").read_text())
    assert report["result"] == "fail"
    found = [(d["kind"], d["where"]) for d in report["details"]["differences"]]
    assert (kind, where) in found, found
    if key:
        (difference,) = [d for d in report["details"]["differences"] if d["where"] == where]
        assert difference["keys"] == [key]
    assert where in result.stderr  # the table for people names it too


def test_writes_during_the_dump_keep_dump_and_fingerprint_in_agreement(new_db: NewDb, tmp_path: Path) -> None:
    source, target = new_db(scale=20), new_db()
    stop = threading.Event()
    writes = 0

    def writer() -> None:
        nonlocal writes
        with connect(source, autocommit=True) as conn:
            while not stop.is_set():
                conn.execute("INSERT INTO progress_events (task_id, kind) VALUES (1, 'during-dump')")
                conn.execute("UPDATE tasks SET notes = clock_timestamp()::text WHERE id = 2")
                writes += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        time.sleep(0.2)
        report = dump_and_restore(source, target, tmp_path)
    finally:
        stop.set()
        thread.join()
    assert writes > 10
    assert report["result"] == "pass", report["details"]["differences"]
    live = compare_cli(source, target, tmp_path / "live.json")
    assert live.returncode == 1, "the source moved on after the snapshot: a live compare must see it"


def test_dump_from_15_restores_into_16(pg15: EphemeralServer, new_db: NewDb, tmp_path: Path) -> None:
    source = create_db(pg15, scale=1)
    target = new_db()
    report = dump_and_restore(source, target, tmp_path)
    assert report["result"] == "pass"
    assert report["details"]["source_server_version"].startswith("15")
    assert report["details"]["target_server_version"].startswith("16")


def test_a_killed_restore_leaves_the_target_empty(new_db: NewDb, tmp_path: Path) -> None:
    source, target = new_db(scale=60), new_db()
    assert dump_cli(source, tmp_path / "d").returncode == 0
    process = subprocess.Popen(
        [sys.executable, str(SCRIPTS / "restore.py"), "--dump", str(tmp_path / "d"), "--target", no_password(target)],
        env=script_env(target),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    with connect(target, autocommit=True) as conn:
        while time.monotonic() < deadline:  # wait until pg_restore has written into its transaction
            busy = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE 'COPY%%'"
            ).fetchone()
            if busy and busy[0]:
                break
            time.sleep(0.02)
        else:
            pytest.fail("pg_restore never started copying")
    import os

    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    time.sleep(0.5)
    assert user_objects(target) == []


def test_piped_copy_restores_while_it_dumps_and_keeps_the_archive(new_db: NewDb, tmp_path: Path) -> None:
    source, target = new_db(scale=1), new_db()
    env = {**script_env(source), "PGTARGETPASSWORD": target.get("password") or ""}
    result = dump_cli(source, tmp_path / "final", "--target", no_password(target), env=env)
    assert result.returncode == 0, result.stderr
    manifest = json.loads((tmp_path / "final" / "manifest.json").read_text())
    sha256, size = archive_sha256(tmp_path / "final" / "state-hub.dump")
    assert (manifest["details"]["archive"]["sha256"], manifest["details"]["archive"]["size_bytes"]) == (sha256, size)
    assert manifest["details"]["restored_into"] == target.masked()
    compared = run_script(
        "compare.py",
        "--manifest",
        str(tmp_path / "final" / "manifest.json"),
        "--target",
        no_password(target),
        "--report",
        str(tmp_path / "c.json"),
        env=script_env(target),
    )
    assert compared.returncode == 0, compared.stderr
    again = dump_cli(source, tmp_path / "again", "--target", no_password(target), env=env)
    assert again.returncode == 2
    assert "is not empty (" in again.stderr
