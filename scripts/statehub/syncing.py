"""Bring the cluster's writes since cutover back to the frozen WSL2 database (the rollback).

After a rollback the cluster is the truth: every table of WSL2 is made equal to the cluster's,
row by row (by primary key: delete what the cluster deleted, update what it changed, insert
what it added; tables without a key are replaced as a whole), and sequences are moved to the
cluster's values. The cluster is read in one snapshot and streamed with COPY; WSL2 is written in
one transaction by the operator's superuser session (the only session a freeze lets write), with
foreign-key triggers off while rows move, so a failure leaves WSL2 exactly as it was. A compare
afterwards proves the two are equal. This is the one write to WSL2 besides freeze/unfreeze that
the safety contract asks for, so it refuses unless WSL2 is frozen and both schemas are equal.
"""

from __future__ import annotations

import time
from typing import Any

import psycopg
from psycopg import sql

from statehub.cli import Refused, step
from statehub.comparing import compare_databases
from statehub.dsn import Dsn, connect
from statehub.fingerprint import TableRef, list_tables, prepare_session, schema_signature, sequences
from statehub.freezing import is_frozen, operator_session
from statehub.reports import Report

Connection = psycopg.Connection[Any]


def _columns(conn: Connection, table: TableRef) -> list[str]:
    """Columns a row carries (generated ones are computed, not copied)."""
    rows = conn.execute(
        """SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped
        AND attgenerated = '' ORDER BY attnum""",
        (table.ident().as_string(conn),),
    ).fetchall()
    return [str(r[0]) for r in rows]


def _qualified(alias: str, names: list[str]) -> sql.Composable:
    return sql.SQL(", ").join(sql.SQL("{}.{}").format(sql.Identifier(alias), sql.Identifier(c)) for c in names)


def _row_text(alias: str, names: list[str]) -> sql.Composable:
    """The row's text: compares every type, also those without an equality operator (json)."""
    return sql.SQL("ROW({})::text").format(_qualified(alias, names))


def _stream(cluster: Connection, wsl2: Connection, table: TableRef, names: list[str]) -> None:
    """COPY the cluster's rows of `table` into a temporary table `incoming` on WSL2."""
    cols = sql.SQL(", ").join(sql.Identifier(c) for c in names)
    wsl2.execute(
        sql.SQL("CREATE TEMP TABLE incoming ON COMMIT DROP AS SELECT {} FROM {} WITH NO DATA").format(
            cols, table.ident()
        )
    )
    out_sql = sql.SQL("COPY (SELECT {} FROM {}) TO STDOUT").format(cols, table.ident())
    with cluster.cursor().copy(out_sql) as source, wsl2.cursor().copy("COPY incoming FROM STDIN") as target:
        for chunk in source:
            target.write(chunk)


def _replace_whole(wsl2: Connection, table: TableRef, names: list[str]) -> dict[str, int]:
    """A table without a key: replace its rows when the two multisets differ."""
    cols, target = _qualified("x", names), table.ident()
    differs = wsl2.execute(
        sql.SQL(
            "SELECT EXISTS (SELECT {c} FROM {t} AS x EXCEPT ALL SELECT {c} FROM incoming AS x)"
            " OR EXISTS (SELECT {c} FROM incoming AS x EXCEPT ALL SELECT {c} FROM {t} AS x)"
        ).format(c=cols, t=target)
    ).fetchone()
    if not differs or not differs[0]:
        return {"inserted": 0, "updated": 0, "deleted": 0}
    deleted = wsl2.execute(sql.SQL("DELETE FROM {}").format(target)).rowcount
    inserted = wsl2.execute(
        sql.SQL("INSERT INTO {} ({}) SELECT {} FROM incoming AS x").format(
            target, sql.SQL(", ").join(sql.Identifier(c) for c in names), cols
        )
    ).rowcount
    return {"inserted": inserted, "updated": 0, "deleted": deleted}


def _merge_by_key(wsl2: Connection, table: TableRef, names: list[str]) -> dict[str, int]:
    target = table.ident()
    key = sql.SQL(" AND ").join(sql.SQL("t.{k} = i.{k}").format(k=sql.Identifier(k)) for k in table.primary_key)
    deleted = wsl2.execute(
        sql.SQL("DELETE FROM {} AS t WHERE NOT EXISTS (SELECT FROM incoming AS i WHERE {})").format(target, key)
    ).rowcount
    others = [c for c in names if c not in table.primary_key]
    updated = 0
    if others:
        assignments = sql.SQL(", ").join(sql.SQL("{c} = i.{c}").format(c=sql.Identifier(c)) for c in others)
        updated = wsl2.execute(
            sql.SQL("UPDATE {} AS t SET {} FROM incoming AS i WHERE {} AND {} IS DISTINCT FROM {}").format(
                target, assignments, key, _row_text("t", names), _row_text("i", names)
            )
        ).rowcount
    inserted = wsl2.execute(
        sql.SQL(
            "INSERT INTO {} ({}) OVERRIDING SYSTEM VALUE SELECT {} FROM incoming AS i "
            "WHERE NOT EXISTS (SELECT FROM {} AS t WHERE {})"
        ).format(target, sql.SQL(", ").join(sql.Identifier(c) for c in names), _qualified("i", names), target, key)
    ).rowcount
    return {"inserted": inserted, "updated": updated, "deleted": deleted}


def _sync_table(cluster: Connection, wsl2: Connection, table: TableRef) -> dict[str, int]:
    names = _columns(wsl2, table)
    _stream(cluster, wsl2, table, names)
    changes = _merge_by_key(wsl2, table, names) if table.primary_key else _replace_whole(wsl2, table, names)
    wsl2.execute("DROP TABLE incoming")
    return changes


def sync_back(cluster: Dsn, wsl2: Dsn) -> Report:
    """Make the frozen WSL2 database equal to the cluster's; then compare the two."""
    if not is_frozen(wsl2):
        raise Refused(
            f"{wsl2.masked()} is not frozen: the sync-back only writes into a frozen WSL2 database (freeze it "
            "with scripts/freeze.py first, so no client writes while the cluster's rows come back)"
        )
    started = time.monotonic()
    with connect(cluster, autocommit=True) as source, connect(wsl2, autocommit=True) as target:
        prepare_session(source)
        prepare_session(target)
        source.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        if schema_signature(source) != schema_signature(target):
            raise Refused(
                "the cluster's schema differs from WSL2's (a migration ran after cutover?): bring WSL2 to the "
                "same Alembic revision first; nothing was changed"
            )
        operator_session(target)  # before BEGIN: the transaction must start writable
        target.execute("SET session_replication_role = replica")  # foreign keys: the compare proves them
        target.execute("BEGIN")  # one transaction: closing without COMMIT leaves WSL2 as it was
        changes: dict[str, dict[str, int]] = {}
        with step(f"bringing the rows of {cluster.masked()} back to {wsl2.masked()}"):
            for table in list_tables(source):
                changes[table.qualified] = _sync_table(source, target, table)
            for name, (value, called) in sequences(source).items():
                target.execute("SELECT setval(%s::regclass, %s, %s)", (name, value, called))
        target.execute("COMMIT")
        source.execute("COMMIT")
    compare = compare_databases(cluster, wsl2, source_label=cluster.masked())
    totals = {kind: sum(c[kind] for c in changes.values()) for kind in ("inserted", "updated", "deleted")}
    return Report(
        kind="sync-back",
        result=compare.result,
        details={
            "cluster": cluster.masked(),
            "wsl2": wsl2.masked(),
            "changes": {name: c for name, c in changes.items() if any(c.values())},
            "totals": totals,
            "differences": compare.details["differences"],
            "source_fingerprint_sha256": compare.details["source_fingerprint_sha256"],
            "target_fingerprint_sha256": compare.details["target_fingerprint_sha256"],
            "seconds": round(time.monotonic() - started, 3),
        },
    )
