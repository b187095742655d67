"""Bad input: one clear `error:` line, exit 2, nothing touched."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import pytest

from statehub.data.dsn import Dsn, connect
from statehub.data.ephemeral import free_port
from statehub.data.fingerprint import fingerprint
from statehub.data.freezing import is_frozen
from statehub.data.restoring import user_objects
from statehub.policy.fingerprints import fingerprint_digest
from tests.data.conftest import PG15_BIN, NewDb, dump_cli, no_password, restore_cli, script_env
from tests.script_runner import run_script


def refused(result: object, *needles: str) -> None:
    stderr = result.stderr  # type: ignore[attr-defined]
    assert result.returncode == 2, stderr  # type: ignore[attr-defined]
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_unreachable_host(tmp_path: Path) -> None:
    result = run_script(
        "dump.py", "--source", f"host=127.0.0.1 port={free_port()} user=x dbname=y", "--out", str(tmp_path / "d")
    )
    refused(result, "cannot connect to", "127.0.0.1")
    assert not (tmp_path / "d").exists()


def test_wrong_password_is_not_echoed(dumped: tuple[Dsn, Path], tmp_path: Path) -> None:
    source, _ = dumped
    env = {**script_env(), "PGPASSWORD": "wrong-pass-7781"}
    result = dump_cli(source, tmp_path / "d", env=env)
    refused(result, "password authentication failed")
    assert "wrong-pass-7781" not in result.stderr


def test_password_in_the_dsn_is_masked(dumped: tuple[Dsn, Path], tmp_path: Path) -> None:
    source, _ = dumped
    wrong = no_password(source) + " password=typed-in-9123"
    result = run_script("compare.py", "--source", wrong, "--target", wrong, "--report", str(tmp_path / "r.json"))
    refused(result, "password=********")
    assert "typed-in-9123" not in result.stderr


def test_missing_database(dumped: tuple[Dsn, Path], tmp_path: Path) -> None:
    source, _ = dumped
    missing = no_password(source.replace(dbname="no_such_db"))
    refused(
        run_script("compare.py", "--source", missing, "--target", missing, "--report", str(tmp_path / "r.json")),
        "no_such_db",
    )


def _copy(dump_dir: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "copy"
    shutil.copytree(dump_dir, copy)
    return copy


@pytest.mark.parametrize("damage", ["corrupt", "truncated", "other-manifest", "no-manifest"])
def test_damaged_dump_is_refused_before_touching_the_target(
    dumped: tuple[Dsn, Path], new_db: NewDb, tmp_path: Path, damage: str
) -> None:
    _, dump_dir = dumped
    copy = _copy(dump_dir, tmp_path)
    archive = copy / "state-hub.dump"
    if damage == "corrupt":
        data = bytearray(archive.read_bytes())
        data[len(data) // 2] ^= 0xFF
        archive.write_bytes(bytes(data))
    elif damage == "truncated":
        archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    elif damage == "other-manifest":
        manifest = json.loads((copy / "manifest.json").read_text())
        manifest["details"]["archive"]["sha256"] = "0" * 64
        (copy / "manifest.json").write_text(json.dumps(manifest))
    else:
        (copy / "manifest.json").unlink()
    target = new_db()
    result = restore_cli(copy, target)
    refused(result, str(copy))
    assert user_objects(target) == []


def test_target_not_empty(dumped: tuple[Dsn, Path], new_db: NewDb) -> None:
    _, dump_dir = dumped
    target = new_db(scale=1)
    result = restore_cli(dump_dir, target)
    refused(result, "is not empty (", "scripts/reset_target.py")


def test_pg_dump_too_old(dumped: tuple[Dsn, Path], tmp_path: Path) -> None:
    if not (PG15_BIN / "pg_dump").exists():
        pytest.skip(f"no PostgreSQL 15 pg_dump at {PG15_BIN}")
    source, _ = dumped
    result = dump_cli(source, tmp_path / "d", "--pg-bin", str(PG15_BIN))
    refused(result, "pg_dump 15", "older than the server (PostgreSQL 16)", "--docker-container")
    assert not (tmp_path / "d").exists()


def test_docker_container_path(dumped: tuple[Dsn, Path], new_db: NewDb, tmp_path: Path) -> None:
    """A fake `docker` on PATH stands in for `docker exec`: it must get no password on its argv."""
    from statehub.data.ephemeral import pgserver_bin

    source, _ = dumped
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    argv_log = tmp_path / "argv.log"
    docker = fake_bin / "docker"
    docker.write_text(f"""#!/bin/sh
echo "$@" >> {argv_log}
shift  # exec
while [ "$1" = "-i" ] || [ "$1" = "-e" ]; do [ "$1" = "-e" ] && shift; shift; done
shift  # the container
tool="$1"; shift
exec {pgserver_bin()}/"$tool" "$@"
""")
    docker.chmod(docker.stat().st_mode | stat.S_IEXEC)
    env = {
        **script_env(source),
        "PATH": f"{fake_bin}:{os.environ['PATH']}",
        "PGHOST": source.get("host") or "",
        "PGPORT": source.get("port") or "",
    }
    result = dump_cli(source, tmp_path / "d", "--docker-container", "infra-postgres-1", env=env)
    assert result.returncode == 0, result.stderr
    logged = argv_log.read_text()
    assert "infra-postgres-1 pg_dump -Fc --snapshot" in logged
    assert (source.get("password") or "") not in logged
    target = new_db()
    restored = restore_cli(tmp_path / "d", target)
    assert restored.returncode == 0, restored.stderr


def _role_limits(admin: Dsn) -> list[tuple[str, int]]:
    with connect(admin, autocommit=True) as conn:
        rows = conn.execute("SELECT rolname, rolconnlimit FROM pg_roles ORDER BY 1").fetchall()
        return [(str(r), int(str(n))) for r, n in rows]


@pytest.mark.parametrize("where", ["folder", "under-a-file"])
def test_freeze_with_an_unwritable_report_changes_nothing(new_db: NewDb, tmp_path: Path, where: str) -> None:
    admin = new_db(scale=1)
    before = (fingerprint_digest(fingerprint(admin)), _role_limits(admin))
    if where == "folder":
        report = tmp_path
    else:  # (root may write anywhere, so an unwritable folder can't be staged here; a file in the path can)
        blocker = tmp_path / "a-file"
        blocker.write_text("x")
        report = blocker / "sub" / "freeze.json"
    result = run_script("freeze.py", "--target", no_password(admin), "--report", str(report), env=script_env(admin))
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().startswith("error: --report ")
    assert len(result.stderr.strip().splitlines()) == 1
    assert not is_frozen(admin)
    assert (fingerprint_digest(fingerprint(admin)), _role_limits(admin)) == before


def test_restore_refuses_a_report_over_its_own_manifest(dumped: tuple[Dsn, Path], new_db: NewDb) -> None:
    _, dump_dir = dumped
    target = new_db()
    manifest = (dump_dir / "manifest.json").read_text()
    result = restore_cli(dump_dir, target, "--report", str(dump_dir / "manifest.json"))
    assert result.returncode == 2
    assert "holds the evidence it reports on" in result.stderr
    assert (dump_dir / "manifest.json").read_text() == manifest
    with connect(target) as conn:
        assert conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone() == (0,)


@pytest.mark.parametrize(
    "leftover",
    [
        "CREATE SEQUENCE leftover_seq",
        "CREATE VIEW leftover AS SELECT 1 AS one",
        "CREATE MATERIALIZED VIEW leftover AS SELECT 1 AS one",
        "SELECT lo_from_bytea(0, '\\x01'::bytea)",
    ],
    ids=["sequence", "view", "materialized view", "large object"],
)
def test_restore_refuses_a_target_holding_anything(dumped: tuple[Dsn, Path], new_db: NewDb, leftover: str) -> None:
    _, dump_dir = dumped
    target = new_db()
    with connect(target, autocommit=True) as conn:
        conn.execute(leftover.encode())
    before = fingerprint_digest(fingerprint(target))
    result = restore_cli(dump_dir, target)
    assert result.returncode == 2
    assert "is not empty (" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert fingerprint_digest(fingerprint(target)) == before


@pytest.mark.parametrize(
    "secret_dsn",
    [
        "{dsn} sslpassword=hunter2-ssl",
        "dbname=postgresql://{user}:hunter2-uri@{host}:{port}/{dbname}",
        "{dsn} password=hunter2-typed",
    ],
    ids=["sslpassword", "password inside a dbname URI", "password"],
)
def test_no_secret_parameter_reaches_an_error_or_a_report(
    dumped: tuple[Dsn, Path], tmp_path: Path, secret_dsn: str
) -> None:
    source, _ = dumped
    text = secret_dsn.format(
        dsn=no_password(source),
        user=source.get("user"),
        host="127.0.0.1",
        port=source.get("port"),
        dbname=source.dbname,
    )
    report = tmp_path / "r.json"
    result = run_script("compare.py", "--source", text, "--target", no_password(source), "--report", str(report))
    written = report.read_text() if report.exists() else ""
    assert "hunter2" not in result.stderr + result.stdout + written


@pytest.mark.parametrize(
    ("encoding", "locale", "said"),
    [("SQL_ASCII", "C", "encoding=SQL_ASCII"), ("UTF8", "C.UTF-8", "collate=C.UTF-8")],
    ids=["sql-ascii", "another-locale"],
)
def test_a_target_of_another_encoding_or_locale_is_refused_before_the_restore(
    dumped: tuple[Dsn, Path], encoding: str, locale: str, said: str
) -> None:
    """No setting changes a database's encoding or locale after it was made: refused before a row is written,
    naming both sides and the fix (an SQL_ASCII target used to end in a traceback after the restore)."""
    source, dump_dir = dumped
    name = f"other_{encoding.lower()}_{os.getpid()}"
    with connect(source.replace(dbname="postgres"), autocommit=True) as conn:
        conn.execute(
            f"CREATE DATABASE {name} ENCODING '{encoding}' LC_COLLATE '{locale}' LC_CTYPE '{locale}' TEMPLATE template0"
        )
    target = source.replace(dbname=name)
    result = restore_cli(dump_dir, target)
    refused(result, said, "the source with encoding=UTF8", "nothing was changed")
    assert user_objects(target) == []
