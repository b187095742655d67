"""Bring the cluster's writes since cutover back to the frozen WSL2 database (the rollback).

After a rollback the cluster is the truth: every table of WSL2 is made equal to the cluster's,
row by row (by primary key: delete what the cluster deleted or changed, then insert what it
changed or added, so two rows that swapped a unique value never meet; tables without a key are
replaced as a whole when their contents differ), each table on its own (`ONLY`: an inheritance
child's rows are its own), materialized views refreshed, and sequences moved to the cluster's
values. The cluster is read in one snapshot; for keyed tables only each key with its two 64-bit
row hashes crosses over, then only the rows whose hashes WSL2 lacks (COPY both times).

WSL2 is written in one transaction by the operator's superuser session (the only session a
freeze lets write), with foreign keys off (`session_replication_role = replica`) and every user
trigger that would still fire (`ENABLE ALWAYS`/`REPLICA`) disabled while rows move: they fired on
the cluster when the rows were written, and must not fire twice. Their state is put back before
the proof. That transaction commits only when a fingerprint taken inside it equals the cluster's:
otherwise nothing changes. Sequences are not transactional: their values before the sync are put
back on every path that does not commit. This is the one write to WSL2 besides freeze/unfreeze
that the safety contract asks for, so it refuses unless WSL2 is frozen and both schemas are equal.
"""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any

import psycopg
from psycopg import sql

from statehub.data.dsn import Dsn, connect
from statehub.data.fingerprint import (
    Difference,
    database_identity_of,
    diff_fingerprints,
    fingerprint_in,
    open_in_snapshot,
    prepare_session,
    sequences,
)
from statehub.data.freezing import is_frozen, operator_session
from statehub.data.progress import Progress, quietly
from statehub.data.row_hash import TableRef, list_tables, table_digest
from statehub.data.schema_signature import schema_signature
from statehub.policy.fingerprints import Fingerprint, fingerprint_digest
from statehub.policy.refusal import Refusal
from statehub.policy.report import Report

Connection = psycopg.Connection[Any]
Changes = dict[str, int]


def _columns(conn: Connection, table: TableRef) -> list[tuple[str, str]]:
    """Columns a row carries, with their declared types (generated ones are computed, not copied)."""
    rows = conn.execute(
        """SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = %s::regclass
        AND attnum > 0 AND NOT attisdropped AND attgenerated = '' ORDER BY attnum""",
        (table.key,),
    ).fetchall()
    return [(str(name), str(typ)) for name, typ in rows]


def _free_names(taken: set[str], *wanted: str) -> list[str]:
    """`wanted` names made distinct from every column of the table (a key column may be named `row_hash`)."""
    chosen = []
    for name in wanted:
        free = name
        while free in taken:
            free += "_"
        taken.add(free)
        chosen.append(free)
    return chosen


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


def _replace_whole(cluster: Connection, wsl2: Connection, table: TableRef, names: list[str]) -> Changes:
    """A table without a key: replace its rows when the exact multiset hashes differ (no equality
    operator needed, so json columns are fine)."""
    if table_digest(cluster, table)["hash"] == table_digest(wsl2, table)["hash"]:
        return {"inserted": 0, "updated": 0, "deleted": 0}
    plain = sql.SQL(", ").join(sql.Identifier(c) for c in names)
    _temp_like(wsl2, "incoming", plain, table)
    _copy_between(cluster, wsl2, sql.SQL("SELECT {} FROM ONLY {}").format(plain, table.ident()), "incoming")
    deleted = wsl2.execute(sql.SQL("DELETE FROM ONLY {}").format(table.ident())).rowcount
    return {"inserted": _insert_incoming(wsl2, table, names), "updated": 0, "deleted": deleted}


def _merge_by_key(cluster: Connection, wsl2: Connection, table: TableRef, columns: list[tuple[str, str]]) -> Changes:
    """Ship only what differs: first every key with its two row hashes, then the rows whose hashes are new.

    Changed rows are deleted and inserted again rather than updated in place: two rows that swapped
    a unique value would collide half-way through an UPDATE.
    """
    names = [name for name, _ in columns]
    target, keys = table.ident(), list(table.primary_key)
    hash_a, hash_b = _free_names({name for name, _ in columns}, "row_hash_a", "row_hash_b")
    expr_a, expr_b = table.row_hash_expressions()
    _temp_like(
        wsl2,
        "theirs",
        sql.SQL("{}, 0::bigint AS {}, 0::bigint AS {}").format(
            _qualified("t", keys), sql.Identifier(hash_a), sql.Identifier(hash_b)
        ),
        table,
    )
    _copy_between(
        cluster,
        wsl2,
        sql.SQL("SELECT {}, {}, {} FROM ONLY {} AS t").format(_qualified("t", keys), expr_a, expr_b, target),
        "theirs",
    )
    match = sql.SQL(" AND ").join(sql.SQL("t.{k} = i.{k}").format(k=sql.Identifier(k)) for k in keys)
    wsl2.execute(
        sql.SQL(
            "CREATE TEMP TABLE wanted ON COMMIT DROP AS SELECT {} FROM theirs AS i "
            "WHERE NOT EXISTS (SELECT FROM ONLY {} AS t WHERE {} AND {} = i.{} AND {} = i.{})"
        ).format(_qualified("i", keys), target, match, expr_a, sql.Identifier(hash_a), expr_b, sql.Identifier(hash_b))
    )
    gone = wsl2.execute(
        sql.SQL("DELETE FROM ONLY {} AS t WHERE NOT EXISTS (SELECT FROM theirs AS i WHERE {})").format(target, match)
    ).rowcount
    changed = wsl2.execute(
        sql.SQL("DELETE FROM ONLY {} AS t WHERE EXISTS (SELECT FROM wanted AS i WHERE {})").format(target, match)
    ).rowcount
    _temp_like(wsl2, "incoming", sql.SQL(", ").join(sql.Identifier(c) for c in names), table)
    wanted = wsl2.execute(
        sql.SQL("SELECT json_agg(json_build_object({})) FROM wanted AS i").format(
            sql.SQL(", ").join(sql.SQL("{}, i.{}").format(sql.Literal(k), sql.Identifier(k)) for k in keys)
        )
    ).fetchone()
    if wanted and wanted[0] is not None:
        # The cluster's session is read-only: the keys travel as a literal, typed by the key columns alone
        # (a record of the whole table would check its NOT NULL domains against the columns left out).
        types = dict(columns)
        shape = sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(k), sql.SQL(types[k])) for k in keys)
        _copy_between(
            cluster,
            wsl2,
            sql.SQL("SELECT {} FROM ONLY {} AS t JOIN pg_catalog.json_to_recordset({}) AS i({}) ON {}").format(
                _qualified("t", names), target, sql.Literal(json.dumps(wanted[0])), shape, match
            ),
            "incoming",
        )
    inserted = _insert_incoming(wsl2, table, names)
    return {"inserted": inserted - changed, "updated": changed, "deleted": gone}


def _sync_table(cluster: Connection, wsl2: Connection, table: TableRef) -> Changes:
    columns = _columns(wsl2, table)
    if table.primary_key:
        changes = _merge_by_key(cluster, wsl2, table, columns)
    else:
        changes = _replace_whole(cluster, wsl2, table, [name for name, _ in columns])
    wsl2.execute("DROP TABLE IF EXISTS theirs, wanted, incoming")
    return changes


def _set_sequences(conn: Connection, values: dict[str, list[int | bool]]) -> None:
    for name, (value, called) in values.items():
        conn.execute("SELECT pg_catalog.setval(%s::regclass, %s, %s)", (name, value, called))


_FIRING_TRIGGERS = """SELECT format('%I.%I', n.nspname, c.relname), t.tgname, t.tgenabled::text
    FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE NOT t.tgisinternal AND t.tgparentid = 0 AND t.tgenabled IN ('A', 'R') ORDER BY 1, 2"""
_ENABLE = {"A": "ENABLE ALWAYS TRIGGER", "R": "ENABLE REPLICA TRIGGER"}


def _quiet_triggers(wsl2: Connection) -> list[tuple[str, str, str]]:
    """Disable (inside the transaction) the user triggers that fire even for a replica session; return them."""
    firing = [(str(table), str(name), str(mode)) for table, name, mode in wsl2.execute(_FIRING_TRIGGERS).fetchall()]
    for table, name, _ in firing:
        wsl2.execute(sql.SQL("ALTER TABLE {} DISABLE TRIGGER {}").format(sql.SQL(table), sql.Identifier(name)))
    return firing


def _restore_triggers(wsl2: Connection, firing: list[tuple[str, str, str]]) -> None:
    for table, name, mode in firing:
        enable = sql.SQL(_ENABLE[mode])
        wsl2.execute(sql.SQL("ALTER TABLE {} {} {}").format(sql.SQL(table), enable, sql.Identifier(name)))


def _check_pair(cluster: Dsn, wsl2: Dsn, source: Connection, target: Connection) -> None:
    """Refusals that need both sessions: nothing has been written yet."""
    if database_identity_of(source) == database_identity_of(target):
        raise Refusal(
            f"--cluster {cluster.masked()} and --wsl2 {wsl2.masked()} reach the same database: nothing to bring back"
        )
    if schema_signature(source) != schema_signature(target):
        raise Refusal(
            "the cluster's schema differs from WSL2's (a migration ran after cutover?): bring WSL2 to the "
            "same Alembic revision first; nothing was changed"
        )


def _put_sequences_back(wsl2: Dsn, target: Connection, before: dict[str, list[int | bool]]) -> None:
    """After a rollback or a failure: setval is not transactional, so the values before the sync go back,
    through a new session if the sync's own is gone."""
    try:
        _set_sequences(target, before)
    except psycopg.Error:
        with connect(wsl2, autocommit=True) as again:
            operator_session(again)
            _set_sequences(again, before)


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
        _check_pair(cluster, wsl2, source, target)
        operator_session(target)  # before BEGIN: the transaction must start writable
        before = sequences(target)
        committed = False
        try:
            target.execute("SET session_replication_role = replica")  # foreign keys: the compare proves them
            target.execute("BEGIN")  # one transaction: closing without COMMIT leaves WSL2 as it was
            changes: dict[str, Changes] = {}
            with progress(f"bringing the rows of {cluster.masked()} back to {wsl2.masked()}"):
                firing = _quiet_triggers(target)
                tables = list_tables(source)
                for table in tables:
                    if table.kind == "r":  # a partitioned table's rows are its partitions'
                        changes[table.key] = _sync_table(source, target, table)
                for table in tables:
                    if table.kind == "m" and table.populated:
                        target.execute(sql.SQL("REFRESH MATERIALIZED VIEW {}").format(table.ident()))
                _restore_triggers(target, firing)
                _set_sequences(target, sequences(source))
            with progress("comparing inside the transaction, before it commits"):
                cluster_fp, wsl2_fp = fingerprint_in(source), fingerprint_in(target)
            differences = diff_fingerprints(cluster_fp, wsl2_fp)
            if not differences:
                target.execute("COMMIT")
                committed = True
        finally:
            if not committed:
                with contextlib.suppress(psycopg.Error):
                    target.execute("ROLLBACK")
                _put_sequences_back(wsl2, target, before)
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
    changes: dict[str, Changes],
    differences: list[Difference],
    cluster_fp: Fingerprint,
    wsl2_fp: Fingerprint,
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
