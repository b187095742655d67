"""The hardening suite's world: a seeded workstation database, an empty target, a good dump, an
application role, and a snapshot of everything a refused or interrupted command must leave alone."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from psycopg import sql

from statehub.data.dsn import Dsn, connect
from statehub.data.ephemeral import EphemeralServer, ephemeral_server
from statehub.data.fingerprint import fingerprint
from statehub.policy.fingerprints import fingerprint_digest
from tests.data.conftest import create_db, dump_cli, no_password

APP_ROLE = "hardening_app"


@dataclass(frozen=True)
class World:
    server: EphemeralServer
    source: Dsn
    """Seeded State Hub (the workstation)."""
    target: Dsn
    """Empty database (state-hub-db)."""
    app: Dsn
    """The application role on the source: not a superuser."""
    dump: Path
    """A good dump of the source."""

    def values(self, tmp: Path) -> dict[str, str]:
        """What a case's arguments may name."""
        afile = tmp / "a-file"
        afile.write_text("not a folder\n")
        return {
            "src": no_password(self.source),
            "tgt": no_password(self.target),
            "app": " ".join(f"{k}={v}" for k, v in self.app.params),  # its own password, not PGPASSWORD's
            "dump": str(self.dump),
            "manifest": str(self.dump / "manifest.json"),
            "tmp": str(tmp),
            "file": str(afile),
        }

    def state(self) -> dict[str, Any]:
        """Both databases' fingerprints, every role's connection limit and every database setting."""
        with connect(self.server.dsn("postgres"), autocommit=True) as conn:
            roles = conn.execute("SELECT rolname, rolconnlimit FROM pg_roles ORDER BY 1").fetchall()
            settings = conn.execute(
                "SELECT coalesce(d.datname, ''), coalesce(r.rolname, ''), s.setconfig::text FROM pg_db_role_setting s "
                "LEFT JOIN pg_database d ON d.oid = s.setdatabase LEFT JOIN pg_roles r ON r.oid = s.setrole ORDER BY 1, 2"
            ).fetchall()
            limits = conn.execute("SELECT datname, datconnlimit FROM pg_database ORDER BY 1").fetchall()
        return {
            "source": fingerprint_digest(fingerprint(self.source)),
            "target": fingerprint_digest(fingerprint(self.target)),
            "roles": roles,
            "settings": settings,
            "database limits": limits,
        }


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with ephemeral_server(tcp=True) as server:
        source = create_db(server, scale=1)
        target = create_db(server)
        password = secrets.token_urlsafe(12)
        with connect(server.dsn("postgres"), autocommit=True) as conn:
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(APP_ROLE), sql.Literal(password))
            )
        with connect(source, autocommit=True) as conn:
            conn.execute(
                sql.SQL("GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA public TO {}").format(sql.Identifier(APP_ROLE))
            )
        dump = tmp_path_factory.mktemp("hardening") / "dump"
        made = dump_cli(source, dump)
        assert made.returncode == 0, made.stderr
        yield World(server, source, target, source.replace(user=APP_ROLE, password=password), dump)
