"""Bring the cluster's writes since cutover back to the frozen WSL2 database (the rollback).

After a rollback the cluster is the truth: every table of WSL2 is made equal to the cluster's,
row by row (by primary key: delete what the cluster deleted or changed, then insert what it
changed or added, so two rows that swapped a unique value never meet; tables without a key are
replaced as a whole when their contents differ), each table on its own (`ONLY`: an inheritance
child's rows are its own), materialized views refreshed, and sequences moved to the cluster's
values. The cluster is read in one snapshot; for keyed tables only each key with its row hash
crosses over, then only the rows whose hash WSL2 lacks (COPY both times). WSL2 is written in one
transaction by the operator's superuser session (the only session a freeze lets write), with
foreign-key triggers off while rows move, and that transaction commits only when a fingerprint
taken inside it equals the cluster's: otherwise nothing changes. This is the one write to WSL2
besides freeze/unfreeze that the safety contract asks for, so it refuses unless WSL2 is frozen
and both schemas are equal.
"""

from __future__ import annotations

import json
import time
from typing import Any

import psycopg
from psycopg import sql

from statehub.data.dsn import Dsn, connect
from statehub.data.fingerprint import (
    Difference,
    TableRef,
    database_identity_of,
    diff_fingerprints,
    fingerprint_in,
    list_tables,
    open_in_snapshot,
    prepare_session,
    sequences,
    table_digest,
)
from statehub.data.freezing import is_frozen, operator_session
from statehub.data.progress import Progress, quietly
from statehub.data.schema_signature import schema_signature
from statehub.policy.evidence import fingerprint_digest
from statehub.policy.refusal import Refusal
from statehub.policy.report import Report

Connection = psycopg.Connection[Any]


def _columns(conn: Connection, table: TableRef) -> list[str]:
    """Columns a row carries (generated ones are computed, not copied)."""
    rows = conn.execute(
        """SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped
        AND attgenerated = '' ORDER BY attnum""",
        (table.key,),
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
        sql.SQL("CREATE TEMP TABLE {} ON COMMIT DROP AS SELECT {} FROM ONLY {} AS t WITH NO DATA").format(
            sql.Identifier(name), columns, table.ident()
        )
    )


def _insert_incoming(wsl2: Connection, table: TableRef, names: list[str]) -> int:
    plain = sql.SQL(", ").join(sql.Identifier(c) for c in names)
    return wsl2.execute(
        sql.SQL("INSERT INTO {} ({}) OVERRIDING SYSTEM VALUE SELECT {} FROM incoming AS i").format(
            table.ident(), plain, _qualified("i", names)
        )
    ).rowcount


def _replace_whole(cluster: Connection, wsl2: Connection, table: TableRef, names: list[str]) -> dict[str, int]:
    """A table without a key: replace its rows when the exact multiset hashes differ (no equality
    operator needed, so json columns are fine)."""
    if table_digest(cluster, table)["hash"] == table_digest(wsl2, table)["hash"]:
        return {"inserted": 0, "updated": 0, "deleted": 0}
    plain = sql.SQL(", ").join(sql.Identifier(c) for c in names)
    _temp_like(wsl2, "incoming", plain, table)
    _copy_between(cluster, wsl2, sql.SQL("SELECT {} FROM ONLY {}").format(plain, table.ident()), "incoming")
    deleted = wsl2.execute(sql.SQL("DELETE FROM ONLY {}").format(table.ident())).rowcount
    return {"inserted": _insert_incoming(wsl2, table, names), "updated": 0, "deleted": deleted}


def _merge_by_key(cluster: Connection, wsl2: Connection, table: TableRef, names: list[str]) -> dict[str, int]:
    """Ship only what differs: first every key with its row hash, then the rows whose hash is new.

    Changed rows are deleted and inserted again rather than updated in place: two rows that swapped
    a unique value would collide half-way through an UPDATE.
    """
    target, keys = table.ident(), table.primary_key
    key_cols = _qualified("t", list(keys))
    row_hash = sql.SQL("pg_catalog.hash_record_extended({}, 0)").format(table.hashed_row())
    _temp_like(wsl2, "theirs", sql.SQL("{}, 0::bigint AS row_hash").format(key_cols), table)
    _copy_between(
        cluster, wsl2, sql.SQL("SELECT {}, {} FROM ONLY {} AS t").format(key_cols, row_hash, target), "theirs"
    )
    match = sql.SQL(" AND ").join(sql.SQL("t.{k} = i.{k}").format(k=sql.Identifier(k)) for k in keys)
    wsl2.execute(
        sql.SQL(
            "CREATE TEMP TABLE wanted ON COMMIT DROP AS SELECT {} FROM theirs AS i "
            "WHERE NOT EXISTS (SELECT FROM ONLY {} AS t WHERE {} AND {} = i.row_hash)"
        ).format(_qualified("i", list(keys)), target, match, row_hash)
    )
    gone = wsl2.execute(
        sql.SQL("DELETE FROM ONLY {} AS t WHERE NOT EXISTS (SELECT FROM theirs AS i WHERE {})").format(target, match)
    ).rowcount
    changed = wsl2.execute(
        sql.SQL("DELETE FROM ONLY {} AS t WHERE EXISTS (SELECT FROM wanted AS i WHERE {})").format(target, match)
    ).rowcount
    plain = sql.SQL(", ").join(sql.Identifier(c) for c in names)
    _temp_like(wsl2, "incoming", plain, table)
    wanted = wsl2.execute(
        sql.SQL("SELECT json_agg(json_build_object({})) FROM wanted AS i").format(
            sql.SQL(", ").join(sql.SQL("{}, i.{}").format(sql.Literal(k), sql.Identifier(k)) for k in keys)
        )
    ).fetchone()
    if wanted and wanted[0] is not None:  # the cluster's session is read-only: the keys travel as a literal
        _copy_between(
            cluster,
            wsl2,
            sql.SQL(
                "SELECT {} FROM ONLY {} AS t JOIN pg_catalog.json_populate_recordset(NULL::{}, {}) AS i ON {}"
            ).format(_qualified("t", names), target, target, sql.Literal(json.dumps(wanted[0])), match),
            "incoming",
        )
    inserted = _insert_incoming(wsl2, table, names)
    return {"inserted": inserted - changed, "updated": changed, "deleted": gone}


def _sync_table(cluster: Connection, wsl2: Connection, table: TableRef) -> dict[str, int]:
    names = _columns(wsl2, table)
    if table.primary_key:
        changes = _merge_by_key(cluster, wsl2, table, names)
    else:
        changes = _replace_whole(cluster, wsl2, table, names)
    wsl2.execute("DROP TABLE IF EXISTS theirs, wanted, incoming")
    return changes


def _set_sequences(conn: Connection, values: dict[str, list[Any]]) -> None:
    for name, (value, called) in values.items():
        conn.execute("SELECT pg_catalog.setval(%s::regclass, %s, %s)", (name, value, called))


def sync_back(cluster: Dsn, wsl2: Dsn, progress: Progress = quietly) -> Report:
    """Make the frozen WSL2 database equal to the cluster's, proven before it commits."""
    if cluster.same_database(wsl2):
        raise Refusal(f"--cluster and --wsl2 are the same database ({wsl2.masked()}): nothing to bring back")
    if not is_frozen(wsl2):
        raise Refusal(
            f"{wsl2.masked()} is not frozen: the sync-back only writes into a frozen WSL2 database (freeze it "
            "with scripts/freeze.py first, so no client writes while the cluster's rows come back)"
        )
    started = time.monotonic()
    with open_in_snapshot(cluster, None) as source, connect(wsl2, autocommit=True) as target:
        prepare_session(target)
        if database_identity_of(source) == database_identity_of(target):
            raise Refusal(
                f"--cluster {cluster.masked()} and --wsl2 {wsl2.masked()} reach the same database: "
                "nothing to bring back"
            )
        if schema_signature(source) != schema_signature(target):
            raise Refusal(
                "the cluster's schema differs from WSL2's (a migration ran after cutover?): bring WSL2 to the "
                "same Alembic revision first; nothing was changed"
            )
        operator_session(target)  # before BEGIN: the transaction must start writable
        target.execute("SET session_replication_role = replica")  # foreign keys: the compare proves them
        target.execute("BEGIN")  # one transaction: closing without COMMIT leaves WSL2 as it was
        changes: dict[str, dict[str, int]] = {}
        with progress(f"bringing the rows of {cluster.masked()} back to {wsl2.masked()}"):
            tables = list_tables(source)
            for table in tables:
                if table.kind != "m":
                    changes[table.key] = _sync_table(source, target, table)
            for table in tables:
                if table.kind == "m":
                    target.execute(sql.SQL("REFRESH MATERIALIZED VIEW {}").format(table.ident()))
            before = sequences(target)
            _set_sequences(target, sequences(source))
        with progress("comparing inside the transaction, before it commits"):
            cluster_fp, wsl2_fp = fingerprint_in(source), fingerprint_in(target)
        differences = diff_fingerprints(cluster_fp, wsl2_fp)
        if differences:
            target.execute("ROLLBACK")
            _set_sequences(target, before)  # setval is not transactional: put them back by hand
        else:
            target.execute("COMMIT")
        source.execute("COMMIT")
    return _report(
        cluster,
        wsl2,
        changes=changes,
        differences=differences,
        cluster_fp=cluster_fp,
        wsl2_fp=wsl2_fp,
        seconds=time.monotonic() - started,
    )


def _report(
    cluster: Dsn,
    wsl2: Dsn,
    *,
    changes: dict[str, dict[str, int]],
    differences: list[Difference],
    cluster_fp: dict[str, Any],
    wsl2_fp: dict[str, Any],
    seconds: float,
) -> Report:
    totals = {kind: sum(c[kind] for c in changes.values()) for kind in ("inserted", "updated", "deleted")}
    return Report(
        kind="sync-back",
        result="fail" if differences else "pass",
        details={
            "cluster": cluster.masked(),
            "wsl2": wsl2.masked(),
            "committed": not differences,
            "changes": {name: c for name, c in changes.items() if any(c.values())} if not differences else {},
            "totals": totals if not differences else {"inserted": 0, "updated": 0, "deleted": 0},
            "differences": [d.as_dict() for d in differences],
            "source_fingerprint_sha256": fingerprint_digest(cluster_fp),
            "target_fingerprint_sha256": fingerprint_digest(wsl2_fp),
            "seconds": round(seconds, 3),
        },
    )
