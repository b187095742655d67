"""Proof that a database has not changed since a fingerprint was read, without reading it again.

Every change a fingerprint sees (a row, DDL, a large object, an `ALTER DATABASE ... SET`) runs in a
transaction that is assigned a transaction id, and a snapshot's xmax is one past the newest one that
ended. So if the fingerprint's snapshot had nothing in progress (xmin = xmax) and a later snapshot of
the same database, in the same run of its server, is the very same, no transaction ended in
between: both snapshots see the same rows. Sequences are the exception (nextval may skip the
transaction id), which is why a dump takes their values from its archive, never from a fingerprint.
A restart, another server or database, or anything in progress proves nothing: the caller reads
the database again.
"""

from __future__ import annotations

from typing import Any

import psycopg

_MARKER = """SELECT pg_catalog.pg_current_snapshot()::text, pg_catalog.pg_postmaster_start_time()::text,
    d.oid::text FROM pg_catalog.pg_database AS d WHERE d.datname = pg_catalog.current_database()"""


def read_at(conn: psycopg.Connection[Any]) -> dict[str, str]:
    """Where the session's current snapshot stands: the snapshot, its server's start and the database."""
    row = conn.execute(_MARKER).fetchone()
    snapshot, started, database_oid = row if row else ("", "", "")
    return {"snapshot": str(snapshot), "server_started": str(started), "database_oid": str(database_oid)}


def unchanged_proof(then: dict[str, Any], now: dict[str, Any]) -> str | None:
    """Why the state a fingerprint read at `then` (its `read_at`, with its identity) is the state
    read at `now`, or None where that cannot be proven."""
    marks = ("snapshot", "server_started", "database_oid", "system_identifier", "database")
    if any(not then.get(mark) or then.get(mark) != now.get(mark) for mark in marks):
        return None
    xmin, xmax, in_progress = str(then["snapshot"]).split(":")
    if xmin != xmax or in_progress:
        return None
    return (
        f"no transaction ended on {now['database']} since the fingerprint was read: both snapshots are"
        f" {then['snapshot']} with nothing in progress, in the server run started {then['server_started']}"
    )
