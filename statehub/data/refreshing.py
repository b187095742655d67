"""A fallback that stays a fallback: copy state-hub-db into a fresh database on the workstation.

After cutover the frozen WSL2 database grows stale. This copies the cluster (one snapshot, piped
pg_dump | pg_restore) into a new database beside it on the workstation's server and compares the
copy with the snapshot's fingerprint. The frozen original is never touched. A copy that fails its
compare, or a refresh that breaks or is interrupted, drops the new database again.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from psycopg import sql

from statehub.data.archive import read_manifest
from statehub.data.comparing import compare_databases
from statehub.data.dsn import Dsn, connect
from statehub.data.dumping import dump
from statehub.policy.refusal import Refusal
from statehub.policy.report import Report
from statehub.policy.settings import TargetRole

_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def refresh_fallback(cluster: Dsn, workstation: Dsn, into: str) -> Report:
    """Copy `cluster` into the new database `into` on `workstation`'s server (its superuser DSN, naming
    the frozen original, which is only used to reach the server)."""
    if not _NAME.match(into):
        raise Refusal(f"--into {into!r} is not a plain database name (a-z, 0-9, _; e.g. state_hub_fallback)")
    if into == workstation.dbname:
        raise Refusal(f"--into {into!r} is the frozen original itself: name a new database")
    server = workstation.replace(dbname="postgres")
    with connect(server, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (into,)).fetchone():
            raise Refusal(f"--into {into!r} exists already: choose a new name (a refresh never overwrites a copy)")
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(into)))
    fresh = workstation.replace(dbname=into)
    try:
        with tempfile.TemporaryDirectory(prefix="state-hub-refresh-") as work:
            archive = Path(work) / "dump"
            dump(cluster, archive, compress=False, restore_into=fresh)
            report = compare_databases(
                read_manifest(archive).details["fingerprint"],
                fresh,
                source_label=f"snapshot of {cluster.masked()}",
                target_role=TargetRole.WORKSTATION,
            )
    except BaseException:
        _drop(server, into)
        raise
    report.details["fallback"] = {"database": into, "original_untouched": workstation.dbname}
    if report.result != "pass":
        _drop(server, into)
        report.details["fallback"]["dropped"] = True
    return report


def _drop(server: Dsn, name: str) -> None:
    with connect(server, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
