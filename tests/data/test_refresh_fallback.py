"""A fallback that stays a fallback: the cluster copied into a fresh workstation database, compared,
the frozen original never touched."""

from __future__ import annotations

from pathlib import Path

import pytest

from statehub.data.dsn import Dsn, connect
from statehub.data.ephemeral import EphemeralServer
from statehub.data.fingerprint import fingerprint
from statehub.data.freezing import freeze, is_frozen, unfreeze
from statehub.policy.fingerprints import fingerprint_digest
from tests.data.conftest import create_db, no_password, script_env
from tests.script_runner import run_script


def databases(admin: Dsn) -> set[str]:
    with connect(admin.replace(dbname="postgres")) as conn:
        return {str(r[0]) for r in conn.execute("SELECT datname FROM pg_database").fetchall()}


@pytest.fixture
def pair(pg16: EphemeralServer) -> tuple[Dsn, Dsn]:
    cluster, original = create_db(pg16, scale=1), create_db(pg16, scale=1)
    with connect(cluster, autocommit=True) as conn:
        conn.execute("UPDATE tasks SET title = 'written after cutover' WHERE id = 2")
        conn.execute("INSERT INTO token_events (agent, tokens, cost) VALUES ('cluster', 5, 0.01)")
    return cluster, original


def refresh(cluster: Dsn, original: Dsn, into: str, report: Path) -> tuple[int, str]:
    result = run_script(
        "refresh_fallback.py",
        "--cluster",
        no_password(cluster),
        "--wsl2",
        no_password(original),
        "--into",
        into,
        "--report",
        str(report),
        env=script_env(cluster),
    )
    return result.returncode, result.stderr


def test_the_copy_equals_the_cluster_and_the_original_stays_frozen(pair: tuple[Dsn, Dsn], tmp_path: Path) -> None:
    cluster, original = pair
    role = f"app_{original.dbname}"  # its own role: freezing "every login role" would reach other tests' roles
    with connect(original, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN".encode())
    freeze(original, app_roles=[role], probe=None)
    try:
        before = fingerprint_digest(fingerprint(original))
        into = f"{original.dbname}_fallback"
        code, printed = refresh(cluster, original, into, tmp_path / "r.json")
        assert code == 0, printed
        fresh = original.replace(dbname=into)
        assert fingerprint_digest(fingerprint(fresh)) == fingerprint_digest(fingerprint(cluster))
        assert fingerprint_digest(fingerprint(original)) == before and is_frozen(original)
        assert '"target_role": "workstation"' in (tmp_path / "r.json").read_text()
    finally:
        unfreeze(original, probe=None)


@pytest.mark.parametrize(
    ("into", "problem"),
    [("{original}", "is the frozen original itself"), ("{cluster}", "exists already"), ("Fallback-1", "not a plain")],
)
def test_a_refresh_that_would_overwrite_is_refused(
    pair: tuple[Dsn, Dsn], tmp_path: Path, into: str, problem: str
) -> None:
    cluster, original = pair
    before = databases(original)
    name = into.format(original=original.dbname, cluster=cluster.dbname)
    code, printed = refresh(cluster, original, name, tmp_path / "r.json")
    assert code == 2 and problem in printed and len(printed.strip().splitlines()) == 1, printed
    assert databases(original) == before
    assert not (tmp_path / "r.json").exists()
