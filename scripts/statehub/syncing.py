"""Bring the cluster's writes since cutover back to the frozen WSL2 database (the rollback).

After a rollback the cluster is the truth: every table of WSL2 is made equal to the cluster's,
row by row (by primary key: delete what the cluster deleted, update what it changed, insert
what it added; tables without a key are replaced as a whole), and sequences are moved to the
cluster's values. The cluster is read in one snapshot; for keyed tables only each key with its
row hash crosses over, then only the rows whose hash WSL2 lacks (COPY both times); WSL2 is written in
one transaction by the operator's superuser session (the only session a freeze lets write), with
foreign-key triggers off while rows move, so a failure leaves WSL2 exactly as it was. A compare
afterwards proves the two are equal. This is the one write to WSL2 besides freeze/unfreeze that
the safety contract asks for, so it refuses unless WSL2 is frozen and both schemas are equal.
"""

from __future__ import annotations

import json
import time
from typing import Any

import psycopg
from psycopg import sql

from statehub.cli import Refused, step
from statehub.comparing import compare_databases
from statehub.dsn import Dsn, connect
from statehub.fingerprint import TableRef, list_tables, open_in_snapshot, prepare_session, schema_signature, sequences
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


def _copy_between(cluster: Connection, wsl2: Connection, query: sql.Composable, into: str) -> None:
    """Stream the rows of `query` on the cluster into the temporary table `into` on WSL2 (COPY)."""
    out_sql = sql.SQL("COPY ({}) TO STDOUT").format(query)
    in_sql = sql.SQL("COPY {} FROM STDIN").format(sql.Identifier(into))
    with cluster.cursor().copy(out_sql) as source, wsl2.cursor().copy(in_sql) as target:
        for chunk in source:
            target.write(chunk)


def _temp_like(wsl2: Connection, name: str, columns: sql.Composable, table: TableRef) -> None:
    wsl2.execute(
        sql.SQL("CREATE TEMP TABLE {} ON COMMIT DROP AS SELECT {} FROM {} AS t WITH NO DATA").format(
            sql.Identifier(name), columns, table.ident()
        )
    )


def _replace_whole(cluster: Connection, wsl2: Connection, table: TableRef, names: list[str]) -> dict[str, int]:
    """A table without a key: replace its rows when the two multisets differ."""
    plain = sql.SQL(", ").join(sql.Identifier(c) for c in names)
    _temp_like(wsl2, "incoming", plain, table)
    _copy_between(cluster, wsl2, sql.SQL("SELECT {} FROM {}").format(plain, table.ident()), "incoming")
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
        sql.SQL("INSERT INTO {} ({}) SELECT {} FROM incoming AS x").format(target, plain, cols)
    ).rowcount
    return {"inserted": inserted, "updated": 0, "deleted": deleted}


def _merge_by_key(cluster: Connection, wsl2: Connection, table: TableRef, names: list[str]) -> dict[str, int]:
    """Ship only what differs: first every key with its row hash, then the rows whose hash is new."""
    target, keys = table.ident(), table.primary_key
    key_cols = _qualified("t", list(keys))
    row_hash = sql.SQL("hash_record_extended({}, 0)").format(table.hashed_row())
    _temp_like(wsl2, "theirs", sql.SQL("{}, 0::bigint AS row_hash").format(key_cols), table)
    _copy_between(cluster, wsl2, sql.SQL("SELECT {}, {} FROM {} AS t").format(key_cols, row_hash, target), "theirs")
    match = sql.SQL(" AND ").join(sql.SQL("t.{k} = i.{k}").format(k=sql.Identifier(k)) for k in keys)
    deleted = wsl2.execute(
        sql.SQL("DELETE FROM {} AS t WHERE NOT EXISTS (SELECT FROM theirs AS i WHERE {})").format(target, match)
    ).rowcount
    wanted = wsl2.execute(
        sql.SQL(
            "SELECT json_agg(json_build_object({})) FROM theirs AS i "
            "WHERE NOT EXISTS (SELECT FROM {} AS t WHERE {} AND {} = i.row_hash)"
        ).format(
            sql.SQL(", ").join(sql.SQL("{}, i.{}").format(sql.Literal(k), sql.Identifier(k)) for k in keys),
            target,
            match,
            row_hash,
        )
    ).fetchone()
    if not wanted or wanted[0] is None:
        return {"inserted": 0, "updated": 0, "deleted": deleted}
    plain = sql.SQL(", ").join(sql.Identifier(c) for c in names)
    _temp_like(wsl2, "incoming", plain, table)
    _copy_between(
        cluster,
        wsl2,
        sql.SQL("SELECT {} FROM {} AS t JOIN json_populate_recordset(NULL::{}, {}) AS i ON {}").format(
            _qualified("t", names), target, target, sql.Literal(json.dumps(wanted[0])), match
        ),
        "incoming",
    )
    others = [c for c in names if c not in keys]
    updated = 0
    if others:
        assignments = sql.SQL(", ").join(sql.SQL("{c} = i.{c}").format(c=sql.Identifier(c)) for c in others)
        updated = wsl2.execute(
            sql.SQL("UPDATE {} AS t SET {} FROM incoming AS i WHERE {}").format(target, assignments, match)
        ).rowcount
    inserted = wsl2.execute(
        sql.SQL(
            "INSERT INTO {} ({}) OVERRIDING SYSTEM VALUE SELECT {} FROM incoming AS i "
            "WHERE NOT EXISTS (SELECT FROM {} AS t WHERE {})"
        ).format(target, plain, _qualified("i", names), target, match)
    ).rowcount
    return {"inserted": inserted, "updated": updated, "deleted": deleted}


def _sync_table(cluster: Connection, wsl2: Connection, table: TableRef) -> dict[str, int]:
    names = _columns(wsl2, table)
    if table.primary_key:
        changes = _merge_by_key(cluster, wsl2, table, names)
    else:
        changes = _replace_whole(cluster, wsl2, table, names)
    wsl2.execute("DROP TABLE IF EXISTS theirs, incoming")
    return changes


def sync_back(cluster: Dsn, wsl2: Dsn) -> Report:
    """Make the frozen WSL2 database equal to the cluster's; then compare the two."""
    if not is_frozen(wsl2):
        raise Refused(
            f"{wsl2.masked()} is not frozen: the sync-back only writes into a frozen WSL2 database (freeze it "
            "with scripts/freeze.py first, so no client writes while the cluster's rows come back)"
        )
    started = time.monotonic()
    with open_in_snapshot(cluster, None) as source, connect(wsl2, autocommit=True) as target:
        prepare_session(target)
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
