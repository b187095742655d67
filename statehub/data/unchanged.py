"""Proof that a database has not changed since a fingerprint was read, without reading it again.

Every change a fingerprint sees (a row, DDL, a large object, an `ALTER DATABASE ... SET`) runs in a
transaction that is assigned a transaction id, and a snapshot's xmax is one past the newest one that
ended. So if the fingerprint's snapshot had nothing in progress (xmin = xmax) and a later snapshot of
the same database, in the same run of its server, is the very same, no transaction ended in
between: both snapshots see the same rows. Sequences are the exception (nextval may skip the
transaction id), which is why a dump takes their values from its archive, never from a fingerprint.

A crash of one backend makes the postmaster run crash recovery without restarting: its start time
stays, but an unlogged table's rows are gone and no transaction id moved. Crash recovery ends with
a checkpoint, so the control file's checkpoint position is part of the mark: any checkpoint since
(a periodic one too) ends the proof, which only costs a second read.

A restart, a crash, another server or database, anything in progress, or a role that may not read
the control file proves nothing: the caller reads the database again.
"""

from __future__ import annotations

from typing import Any

import psycopg

from statehub.policy.fingerprints import ReadAt

_MARKER = """SELECT pg_catalog.pg_current_snapshot()::text, pg_catalog.pg_postmaster_start_time()::text,
    d.oid::text FROM pg_catalog.pg_database AS d WHERE d.datname = pg_catalog.current_database()"""
_MAY_READ_CHECKPOINT = "SELECT pg_catalog.has_function_privilege('pg_catalog.pg_control_checkpoint()', 'EXECUTE')"
_CHECKPOINT = "SELECT checkpoint_lsn::text || '/' || timeline_id::text FROM pg_catalog.pg_control_checkpoint()"


def read_at(conn: psycopg.Connection[Any]) -> ReadAt:
    """Where the session's current snapshot stands: the snapshot, its server's start, its last
    checkpoint and the database."""
    row = conn.execute(_MARKER).fetchone()
    snapshot, started, database_oid = row if row else ("", "", "")
    may = conn.execute(_MAY_READ_CHECKPOINT).fetchone()
    checkpoint = (conn.execute(_CHECKPOINT).fetchone() or [""])[0] if may and may[0] else ""
    return {
        "snapshot": str(snapshot),
        "server_started": str(started),
        "checkpoint": str(checkpoint),
        "database_oid": str(database_oid),
    }


def unchanged_proof(then: dict[str, Any], now: dict[str, Any]) -> str | None:
    """Why the state a fingerprint read at `then` (its `read_at`, with its identity) is the state
    read at `now`, or None where that cannot be proven."""
    marks = ("snapshot", "server_started", "checkpoint", "database_oid", "system_identifier", "database")
    if any(not then.get(mark) or then.get(mark) != now.get(mark) for mark in marks):
        return None
    xmin, xmax, in_progress = str(then["snapshot"]).split(":")
    if xmin != xmax or in_progress:
        return None
    return (
        f"no transaction ended on {now['database']} since the fingerprint was read: both snapshots are"
        f" {then['snapshot']} with nothing in progress, in the server run started {then['server_started']}"
        f" with no checkpoint since {then['checkpoint']}"
    )
