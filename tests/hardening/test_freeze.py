"""A freeze is real: the application role cannot write, even after turning read-only off."""

from __future__ import annotations

import json
import os
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from statehub.data.dsn import ConnectError, Dsn, connect
from statehub.data.ephemeral import EphemeralServer
from statehub.data.freezing import freeze, is_frozen, probe_write, unfreeze
from tests.data.conftest import create_db, no_password, script_env
from tests.script_runner import run_script

APP_PASSWORD = "app-secret-Zq8"


@pytest.fixture
def app_db(pg16: EphemeralServer) -> tuple[Dsn, Dsn]:
    """A seeded database, its superuser DSN and the DSN of an application role that owns its data."""
    admin = create_db(pg16, scale=1)
    role = f"app_{admin.dbname}"
    with connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{APP_PASSWORD}'".encode())
        conn.execute(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {role}".encode())
        conn.execute(f"GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {role}".encode())
    app = admin.replace(user=role, password=APP_PASSWORD)
    return admin, app


def freeze_cli(admin: Dsn, app: Dsn, report: Path, *extra: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    env = {**script_env(admin), "PGPROBEPASSWORD": APP_PASSWORD}
    result = run_script(
        "freeze.py",
        "--target",
        no_password(admin),
        "--report",
        str(report),
        "--app-role",
        app.get("user") or "",
        "--probe",
        no_password(app),
        *extra,
        env=env,
    )
    assert report.exists(), result.stderr
    assert APP_PASSWORD not in result.stdout + result.stderr + report.read_text()
    return result.returncode, json.loads(report.read_text())


def app_write(app: Dsn) -> None:
    with connect(app) as conn:
        conn.execute("SET default_transaction_read_only = off")
        conn.execute("INSERT INTO agent_notes (agent, note) VALUES ('app', 'after')")
        conn.commit()


def test_freeze_blocks_the_app_and_unfreeze_restores_it(app_db: tuple[Dsn, Dsn], tmp_path: Path) -> None:
    admin, app = app_db
    app_write(app)  # writable before
    with connect(app) as idle_session:
        code, report = freeze_cli(admin, app, tmp_path / "freeze.json")
        assert code == 0, report
        assert report["kind"] == "freeze" and report["result"] == "pass"
        assert report["details"]["proof"]["write_attempt"].startswith("refused")
        assert report["details"]["sessions_ended"] >= 1
        assert len(report["details"]["fingerprint_sha256"]) == 64
        with pytest.raises(psycopg.OperationalError):
            idle_session.execute("SELECT 1")  # its existing session was ended
    with pytest.raises(ConnectError):
        app_write(app)  # a new session that turns read-only off still cannot write
    assert probe_write(app).startswith("refused")
    with connect(admin) as conn:  # the operator's superuser session still can
        conn.execute("SET default_transaction_read_only = off")
        conn.execute("SELECT 1")
    again, _ = freeze_cli(admin, app, tmp_path / "freeze2.json")
    assert again == 0  # idempotent
    code, report = freeze_cli(admin, app, tmp_path / "unfreeze.json", "--unfreeze")
    assert code == 0 and report["kind"] == "unfreeze"
    assert report["details"]["proof"]["write_attempt"] == "write accepted"
    app_write(app)
    again_unfrozen = run_script(
        "freeze.py",
        "--target",
        no_password(admin),
        "--report",
        str(tmp_path / "u2.json"),
        "--unfreeze",
        env=script_env(admin),
    )
    assert again_unfrozen.returncode == 2 and "nothing to unfreeze" in again_unfrozen.stderr
    assert not (tmp_path / "u2.json").exists()
    with connect(admin, autocommit=True) as conn:
        limit = conn.execute("SELECT rolconnlimit FROM pg_roles WHERE rolname = %s", (app.get("user"),)).fetchone()
        assert limit == (-1,)


def test_read_only_default_alone_would_not_freeze(app_db: tuple[Dsn, Dsn]) -> None:
    """Why the freeze locks roles out: with only the database default, a client writes anyway."""
    admin, app = app_db
    with connect(admin, autocommit=True) as conn:
        conn.execute(f"ALTER DATABASE {admin.dbname} SET default_transaction_read_only = on".encode())
    assert probe_write(app) == "write accepted"


def test_an_app_connecting_as_superuser_is_flagged(app_db: tuple[Dsn, Dsn], tmp_path: Path) -> None:
    admin, _ = app_db
    result = run_script(
        "freeze.py",
        "--target",
        no_password(admin),
        "--report",
        str(tmp_path / "f.json"),
        "--app-role",
        "postgres",
        env=script_env(admin),
    )
    assert result.returncode == 2  # postgres is the operator's own session: not an app role it knows
    assert "--app-role 'postgres'" in result.stderr


@pytest.mark.parametrize(
    "wrong",
    [{"password": "not-the-password"}, {"dbname": "no_such_database"}, {"user": "no_such_role"}, {"port": "1"}],
    ids=["password", "database", "role", "port"],
)
def test_a_probe_that_cannot_log_in_proves_nothing(
    app_db: tuple[Dsn, Dsn], tmp_path: Path, wrong: dict[str, str]
) -> None:
    admin, app = app_db
    report = freeze(admin, app_roles=[str(app.get("user"))], probe=app.replace(**wrong))
    attempt = report.details["proof"]["write_attempt"]
    assert report.result == "fail", attempt
    assert attempt.startswith("inconclusive:"), attempt
    unfreeze(admin, probe=None)


def test_a_locked_out_application_role_is_the_proof(app_db: tuple[Dsn, Dsn]) -> None:
    admin, app = app_db
    report = freeze(admin, app_roles=[str(app.get("user"))], probe=app)
    assert report.result == "pass"
    assert "authenticated and was locked out" in report.details["proof"]["write_attempt"]
    unfreeze(admin, probe=None)


def test_unfreeze_restores_exactly_what_was_there(app_db: tuple[Dsn, Dsn]) -> None:
    admin, app = app_db
    role = str(app.get("user"))
    with connect(admin, autocommit=True) as conn:
        conn.execute(f"ALTER DATABASE {admin.dbname} SET default_transaction_read_only = on".encode())
        conn.execute(f"ALTER ROLE {role} CONNECTION LIMIT 7".encode())
    freeze(admin, app_roles=[role], probe=None)
    freeze(admin, app_roles=[role], probe=None)  # a second freeze keeps the first record
    unfreeze(admin, probe=None)
    with connect(admin, autocommit=True) as conn:
        assert conn.execute("SELECT rolconnlimit FROM pg_roles WHERE rolname = %s", (role,)).fetchone() == (7,)
        settings = conn.execute(
            """SELECT s.setconfig FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase
            WHERE d.datname = %s AND s.setrole = 0""",
            (admin.dbname,),
        ).fetchone()
    assert settings == (["default_transaction_read_only=on"],)  # the operator's own default is back


def test_two_frozen_databases_keep_a_shared_role_locked(app_db: tuple[Dsn, Dsn], pg16: EphemeralServer) -> None:
    admin, app = app_db
    role = str(app.get("user"))
    other = create_db(pg16)
    freeze(admin, app_roles=[role], probe=None)
    freeze(other, app_roles=[role], probe=None)
    unfreeze(admin, probe=None)
    assert is_frozen(other), "unfreezing one database must not reopen the other"
    unfreeze(other, probe=None)
    with connect(admin, autocommit=True) as conn:
        assert conn.execute("SELECT rolconnlimit FROM pg_roles WHERE rolname = %s", (role,)).fetchone() == (-1,)


def test_a_marker_without_the_lock_is_no_freeze(app_db: tuple[Dsn, Dsn]) -> None:
    """sync_back checks the freeze itself: a half-undone one (role reopened) does not count."""
    admin, app = app_db
    role = str(app.get("user"))
    freeze(admin, app_roles=[role], probe=None)
    assert is_frozen(admin)
    with connect(admin, autocommit=True) as conn:
        conn.execute("SET default_transaction_read_only = off")
        conn.execute(f"ALTER ROLE {role} CONNECTION LIMIT -1".encode())
    assert not is_frozen(admin)
    unfreeze(admin, probe=None)


def test_roles_and_sessions_that_can_undo_the_freeze_are_named(app_db: tuple[Dsn, Dsn], pg16: EphemeralServer) -> None:
    admin, app = app_db
    undoer = f"undoer_{os.getpid()}"
    with connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN CREATEROLE BYPASSRLS").format(sql.Identifier(undoer)))
    try:
        with connect(pg16.dsn("postgres")) as elsewhere:  # a superuser session in another database
            elsewhere.execute("SELECT 1")
            report = freeze(admin, app_roles=[app.get("user") or ""], probe=app)
        warnings = report.details["warnings"]
        assert undoer in report.details["locked_roles"]  # CREATEROLE: locked out with the application role
        assert not any(undoer in w for w in warnings), warnings
        assert any(w.startswith("'postgres' has a session on database 'postgres'") for w in warnings), warnings
        assert report.result == "pass"
    finally:
        unfreeze(admin, probe=None)
        with connect(admin, autocommit=True) as conn:
            limit = conn.execute("SELECT rolconnlimit FROM pg_roles WHERE rolname = %s", (undoer,)).fetchone()
            assert limit == (-1,)  # given back
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(undoer)))


def test_a_createrole_session_elsewhere_cannot_undo_the_freeze(app_db: tuple[Dsn, Dsn], pg16: EphemeralServer) -> None:
    """A CREATEROLE login with a session in another database could `ALTER ROLE app CONNECTION LIMIT -1` and let
    the app write again: its session is ended and it is locked out too, so the freeze holds."""
    admin, app = app_db
    maker = f"maker_{os.getpid()}"
    with connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN CREATEROLE PASSWORD 'maker-pw'").format(sql.Identifier(maker)))
        conn.execute(
            sql.SQL("GRANT {} TO {} WITH ADMIN OPTION").format(
                sql.Identifier(app.get("user") or ""), sql.Identifier(maker)
            )
        )
    elsewhere = connect(pg16.dsn("postgres").replace(user=maker, password="maker-pw"), autocommit=True)
    try:
        report = freeze(admin, app_roles=[app.get("user") or ""], probe=app)
        assert report.result == "pass" and maker in report.details["locked_roles"]
        with pytest.raises(psycopg.Error):  # its session was ended by the freeze
            elsewhere.execute(
                sql.SQL("ALTER ROLE {} CONNECTION LIMIT -1").format(sql.Identifier(app.get("user") or ""))
            )
        with pytest.raises(ConnectError, match="too many connections"):
            connect(pg16.dsn("postgres").replace(user=maker, password="maker-pw"))
        assert is_frozen(admin)
    finally:
        elsewhere.close()
        unfreeze(admin, probe=None)
        with connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(maker)))
