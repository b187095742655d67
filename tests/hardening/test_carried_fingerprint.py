"""The final copy carries the freeze's fingerprint into its manifest only when the source provably did
not change since the freeze read it; every other case reads the dump's own snapshot."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from statehub.data.dsn import Dsn, connect
from statehub.data.dumping import dump
from statehub.data.ephemeral import EphemeralServer, ephemeral_server
from statehub.data.fingerprint import fingerprint
from statehub.data.freezing import freeze
from statehub.data.report_files import write_report
from statehub.data.unchanged import unchanged_proof
from statehub.policy.fingerprints import Fingerprint, fingerprint_digest
from tests.data.conftest import create_db, dump_cli, no_password, script_env

IN_THE_SNAPSHOT = "in the dump's snapshot, while pg_dump read it"


@pytest.fixture(scope="module")
def quiet() -> Iterator[EphemeralServer]:
    """A server of its own with autovacuum off: only the test assigns transaction ids on it."""
    with ephemeral_server(tcp=True, settings={"autovacuum": "off"}) as server:
        yield server


def frozen(server: EphemeralServer) -> tuple[Dsn, Fingerprint]:
    source = create_db(server, scale=1)
    report = freeze(source, app_roles=[], probe=None)
    assert report.result == "pass", report.details
    return source, report.details["fingerprint"]


def copy(source: Dsn, target: Dsn, out: Path, since: Fingerprint) -> dict[str, Any]:
    report = dump(source, out, compress=False, restore_into=target, unchanged_since=since)
    return report.details


@pytest.fixture
def target() -> Iterator[Dsn]:
    """The copy's empty target, on a server of its own as the cluster is (creating a database on the
    source's server assigns a transaction id there)."""
    with ephemeral_server(tcp=True) as server:
        yield server.create_database("state_hub", tcp=True)


def superuser_write(dsn: Dsn) -> None:
    with connect(dsn, autocommit=True) as conn:
        conn.execute("SET default_transaction_read_only = off")
        conn.execute("INSERT INTO agent_notes (agent, note) VALUES ('operator', 'after the freeze')")


def test_an_unchanged_source_carries_the_freeze_fingerprint(
    quiet: EphemeralServer, target: Dsn, tmp_path: Path
) -> None:
    source, frozen_fp = frozen(quiet)
    details = copy(source, target, tmp_path / "final", frozen_fp)
    assert details["fingerprint_read"].startswith("carried from the fingerprint read before: no transaction ended")
    assert details["fingerprint_sha256"] == fingerprint_digest(frozen_fp) == fingerprint_digest(fingerprint(source))


def test_a_write_after_the_freeze_read_is_read_again(quiet: EphemeralServer, target: Dsn, tmp_path: Path) -> None:
    source, frozen_fp = frozen(quiet)
    superuser_write(source)  # superusers get past a freeze (the freeze report warns of them)
    details = copy(source, target, tmp_path / "final", frozen_fp)
    assert details["fingerprint_read"] == IN_THE_SNAPSHOT
    assert details["fingerprint_sha256"] == fingerprint_digest(fingerprint(source)) != fingerprint_digest(frozen_fp)


def test_a_write_in_flight_at_the_freeze_read_is_never_carried(
    quiet: EphemeralServer, target: Dsn, tmp_path: Path
) -> None:
    """The transaction had its id when the freeze read the database and commits after: the snapshots
    before and after can be equal, which proves nothing while something was in progress."""
    source = create_db(quiet, scale=1)
    with connect(source) as writer:
        writer.execute("INSERT INTO agent_notes (agent, note) VALUES ('agent', 'in flight')")
        report = freeze(source, app_roles=[], probe=None)
        writer.commit()
    frozen_fp = report.details["fingerprint"]
    assert frozen_fp["read_at"]["snapshot"].split(":")[2] != ""  # it was in progress
    details = copy(source, target, tmp_path / "final", frozen_fp)
    assert details["fingerprint_read"] == IN_THE_SNAPSHOT
    notes = "public.agent_notes"
    assert details["fingerprint"]["tables"][notes]["rows"] == frozen_fp["tables"][notes]["rows"] + 1


def test_crash_recovery_after_the_freeze_is_read_again(quiet: EphemeralServer, target: Dsn, tmp_path: Path) -> None:
    """kill -9 of one backend: the postmaster runs crash recovery without restarting (its start time stays) and
    an unlogged table loses its rows, with no transaction id spent. The end-of-recovery checkpoint ends the proof."""
    source = create_db(quiet, scale=1)
    with connect(source, autocommit=True) as conn:
        conn.execute("CREATE UNLOGGED TABLE scratch AS SELECT g AS n FROM generate_series(1, 50) g")
        conn.execute("CHECKPOINT")
    report = freeze(source, app_roles=[], probe=None)
    frozen_fp = report.details["fingerprint"]
    assert frozen_fp["tables"]["public.scratch"]["rows"] == 50
    victim = connect(quiet.dsn(), autocommit=True)
    pid = int(str((victim.execute("SELECT pg_backend_pid()").fetchone() or [0])[0]))
    os.kill(pid, signal.SIGKILL)
    victim.close()
    deadline = time.monotonic() + 60
    while True:
        try:
            with connect(source) as conn:
                conn.execute("SELECT 1")
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    details = copy(source, target, tmp_path / "final", frozen_fp)
    assert details["fingerprint_read"] == IN_THE_SNAPSHOT
    assert details["fingerprint"]["tables"]["public.scratch"]["rows"] == 0


def test_the_fingerprint_of_another_database_is_never_carried(
    quiet: EphemeralServer, target: Dsn, tmp_path: Path
) -> None:
    """Same server, same seed, same transaction counter: only the database's identity tells them apart."""
    _, frozen_fp = frozen(quiet)
    twin = create_db(quiet, scale=1)
    details = copy(twin, target, tmp_path / "final", frozen_fp)
    assert details["fingerprint_read"] == IN_THE_SNAPSHOT
    assert details["fingerprint"]["database"] == twin.dbname


MARKS = {
    "snapshot": "740:740:",
    "server_started": "2026-11-28 17:03:19+00",
    "checkpoint": "0/1A2B3C4/1",
    "database_oid": "16384",
    "system_identifier": "7442",
    "database": "state_hub",
}


@pytest.mark.parametrize(
    ("then", "now"),
    [
        ({**MARKS, "snapshot": "738:741:739"}, {**MARKS, "snapshot": "738:741:739"}),  # in progress
        ({**MARKS, "snapshot": "738:741:"}, {**MARKS, "snapshot": "738:741:"}),  # xmin short of xmax
        (MARKS, {**MARKS, "snapshot": "741:741:"}),  # a transaction ended
        (MARKS, {**MARKS, "server_started": "2026-11-28 18:00:00+00"}),  # restarted (or restored)
        (MARKS, {**MARKS, "checkpoint": "0/1A2B400/1"}),  # crash recovery (or any checkpoint)
        ({**MARKS, "checkpoint": ""}, {**MARKS, "checkpoint": ""}),  # a role that may not read the control file
        (MARKS, {**MARKS, "database_oid": "16385"}),  # dropped and created again
        (MARKS, {**MARKS, "system_identifier": "9999"}),  # another server
        ({k: v for k, v in MARKS.items() if k != "snapshot"}, MARKS),  # a fingerprint without the mark
    ],
    ids=[
        "in-progress",
        "open-horizon",
        "ended",
        "restarted",
        "checkpointed",
        "no-checkpoint-mark",
        "recreated",
        "other-server",
        "unmarked",
    ],
)
def test_what_proves_nothing(then: dict[str, str], now: dict[str, str]) -> None:
    assert unchanged_proof(then, now) is None


def test_what_proves_it() -> None:
    assert "740:740:" in str(unchanged_proof(MARKS, dict(MARKS)))


def test_dump_cli_carries_it_and_says_so(quiet: EphemeralServer, target: Dsn, tmp_path: Path) -> None:
    source = create_db(quiet, scale=1)
    freeze_report = write_report(freeze(source, app_roles=[], probe=None), tmp_path / "freeze.json")
    env = {**script_env(source), "PGTARGETPASSWORD": target.get("password") or ""}
    args = ("--target", no_password(target), "--unchanged-since", str(freeze_report))
    result = dump_cli(source, tmp_path / "final", *args, env=env)
    assert result.returncode == 0, result.stderr
    manifest = json.loads((tmp_path / "final" / "manifest.json").read_text())["details"]
    frozen_fp = json.loads(freeze_report.read_text())["details"]["fingerprint"]
    assert manifest["fingerprint_sha256"] == fingerprint_digest(frozen_fp) == fingerprint_digest(fingerprint(source))
    assert f"fingerprint read {manifest['fingerprint_read'][:40]}" in " ".join(result.stderr.split())


def _edited(report: Path, change: str) -> Path:
    data = json.loads(report.read_text())
    if change == "fail":
        data["result"] = "fail"
    elif change == "forged":
        data["details"]["fingerprint"]["tables"]["public.tasks"]["rows"] += 1
    elif change == "kind":
        data["kind"] = "compare"
    elif change == "read_at":  # made to look read just now: it would let a dump vouch for rows it never read
        data["details"]["fingerprint"]["read_at"]["snapshot"] = "999999:999999:"
    edited = report.with_name(f"{change}.json")
    edited.write_text(json.dumps(data))
    return edited


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ("missing", "no such file"),
        ("fail", "not a passing freeze report"),
        ("kind", "'compare' report"),
        ("forged", "says pass but its fingerprint_sha256 is not the digest of its fingerprint"),
        ("read_at", "says pass but its fingerprint_read_sha256 is not the digest of its fingerprint with where"),
    ],
)
def test_dump_cli_refuses_a_freeze_report_it_cannot_trust(
    pg16: EphemeralServer, tmp_path: Path, change: str, said: str
) -> None:
    source, target = create_db(pg16, scale=1), create_db(pg16)
    freeze_report = write_report(freeze(source, app_roles=[], probe=None), tmp_path / "freeze.json")
    given = tmp_path / "nowhere.json" if change == "missing" else _edited(freeze_report, change)
    env = {**script_env(source), "PGTARGETPASSWORD": target.get("password") or ""}
    result = dump_cli(
        source, tmp_path / "final", "--target", no_password(target), "--unchanged-since", str(given), env=env
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --unchanged-since") and said in lines[0], result.stderr
    assert not (tmp_path / "final").exists()
    with connect(target) as conn:
        assert conn.execute("SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace").fetchone() == (
            0,
        )
