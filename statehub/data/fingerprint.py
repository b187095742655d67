"""The fingerprint of a database, computed server-side, and the comparison of two fingerprints.

Per user table: row count and an order-independent multiset hash of the rows (each row's 64-bit
`hash_record_extended`, mixed two ways, summed exactly twice): any changed, missing, extra or
duplicated row changes it, and a NULL column hashes apart from an empty one. Large tables are
hashed in block ranges on several sessions at once; the sums add up to the same hash.

Columns of types whose hash is an exact function of the value and the same on every server
(integers, boolean, text without a nondeterministic collation, bytea, uuid, dates and timestamps)
are hashed natively, which is about five times faster than hashing the row's text; every other
column (jsonb, whose native hash confuses `{}` and `[]`; enums, whose hash is their server-local
OID; numerics, floats, intervals and anything else) is hashed as its text. Sequences, a schema
signature and the Alembic revision complete the fingerprint. Server version is recorded, not
compared.
"""

from __future__ import annotations

import queue
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from statehub.data.dsn import Dsn, cancel, connect
from statehub.data.processes import interrupts_to_the_main_thread
from statehub.data.schema_signature import USER_SCHEMAS, database_locale, database_settings, schema_signature
from statehub.data.unchanged import read_at

SESSION_SETTINGS = {
    "TimeZone": "UTC",
    "DateStyle": "ISO, YMD",
    "IntervalStyle": "postgres",
    "extra_float_digits": "3",
    "bytea_output": "hex",
    "search_path": "pg_catalog, pg_temp",
    "row_security": "off",
}
"""Row text depends on these: both sides render values identically. The connection must not decide
the result either: a user schema's function can't shadow a built-in (only pg_catalog is searched),
and row-level security never hides rows (a role that may not read everything fails loudly)."""

DIFF_KEY_LIMIT = 20

_TABLES = f"""
SELECT n.nspname, c.relname, format('%I.%I', n.nspname, c.relname), c.relkind::text, c.relpages,
       ARRAY(SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid
             AND a.attnum = ANY(i.indkey) WHERE i.indrelid = c.oid AND i.indisprimary ORDER BY a.attnum),
       ARRAY(SELECT a.attname FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
             ORDER BY a.attnum),
       ARRAY(SELECT CASE
                 WHEN EXISTS (SELECT FROM pg_collation co WHERE co.oid = a.attcollation AND NOT co.collisdeterministic)
                     THEN 'text_c'
                 WHEN (CASE WHEN ty.typtype = 'd' THEN ty.typbasetype ELSE ty.oid END) = 'bpchar'::regtype THEN 'bpchar'
                 WHEN (CASE WHEN ty.typtype = 'd' THEN ty.typbasetype ELSE ty.oid END) = ANY(
                     '{{smallint,integer,bigint,boolean,bytea,uuid,date,timestamp,timestamptz,text,varchar}}'
                     ::regtype[]::oid[]) THEN 'native'
                 ELSE 'text' END
             FROM pg_attribute a JOIN pg_type ty ON ty.oid = a.atttypid
             WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'm') AND {USER_SCHEMAS} ORDER BY 1, 2"""


HASHED_AS = {
    "native": "t.{}",
    "text": "t.{}::text",
    "text_c": 't.{}::text COLLATE "C"',
    "bpchar": "pg_catalog.textin(pg_catalog.bpcharout(t.{}))",
}
"""How a column enters the row hash. Natively where the type's hash is an exact function of the value
and the same on every server; otherwise as the text of its output function (jsonb, whose hash confuses
`{}`/`[]`, `0.5`/`0.50` and nested keys; numerics; floats; enums, whose hash is a server-local OID; ...),
byte for byte: `COLLATE "C"` where a nondeterministic collation would hash case-insensitively, and
bpchar through its own output function (a cast to text drops trailing spaces)."""


@dataclass(frozen=True)
class TableRef:
    schema: str
    name: str
    key: str
    """`schema.name` with each part quoted where SQL needs it (`a."b.c"` and `"a.b".c` stay apart)."""
    primary_key: tuple[str, ...]
    kind: str = "r"
    """pg_class.relkind: r table, p partitioned table, m materialized view."""
    columns: tuple[str, ...] = ()
    hash_modes: tuple[str, ...] = ()
    """Per column, how it enters the row hash (`HASHED_AS`). Only `table_digest` needs them."""
    pages: int = 0
    """pg_class.relpages, an estimate: it decides how many block ranges the table is hashed in."""

    def ident(self) -> sql.Composed:
        return sql.SQL("{}.{}").format(sql.Identifier(self.schema), sql.Identifier(self.name))

    def hashed_row(self) -> sql.Composable:
        """`ROW(...)` over the table alias `t`, each column as `HASHED_AS` says."""
        return sql.SQL("ROW({})").format(
            sql.SQL(", ").join(
                sql.SQL(HASHED_AS[mode]).format(sql.Identifier(column))
                for column, mode in zip(self.columns, self.hash_modes, strict=True)
            )
        )


def prepare_session(conn: psycopg.Connection[Any]) -> None:
    for name, value in SESSION_SETTINGS.items():
        conn.execute(sql.SQL("SELECT set_config({}, {}, false)").format(sql.Literal(name), sql.Literal(value)))


def list_tables(conn: psycopg.Connection[Any]) -> list[TableRef]:
    return [
        TableRef(s, n, key, tuple(pk), kind, tuple(cols), tuple(modes), int(pages))
        for s, n, key, kind, pages, pk, cols, modes in conn.execute(_TABLES).fetchall()
    ]


BlockRange = tuple[int, int | None]
"""Heap blocks [first, last) of a table; last None: to the end, whatever the table's size now."""

WHOLE_TABLE: BlockRange = (0, None)
RANGE_PAGES = 1024
"""About 8 MB of heap per block range: small enough to spread the largest table over every session."""


def block_ranges(table: TableRef, most: int) -> list[BlockRange]:
    """The table cut into at most `most` block ranges that cover it whole: the last one is open, so a
    stale `relpages` can cost speed but never rows."""
    count = max(1, min(most, table.pages // RANGE_PAGES)) if table.kind in ("r", "m") else 1
    step = -(-table.pages // count) if count > 1 else 0
    return [(i * step, (i + 1) * step if i < count - 1 else None) for i in range(count)]


def table_digest(conn: psycopg.Connection[Any], table: TableRef, blocks: BlockRange = WHOLE_TABLE) -> dict[str, Any]:
    """Row count and the two hash sums of `table`, or of its rows in `blocks` (sums of ranges add up)."""
    # Each row hash is mixed non-linearly before the sum, or a value moved between rows would cancel
    # out (the row hash is linear in its column hashes); OFFSET 0 keeps each row's hash computed once.
    first, last = blocks
    where = [sql.SQL("t.ctid >= {}::pg_catalog.tid").format(sql.Literal(f"({first},0)"))] if first else []
    if last is not None:
        where.append(sql.SQL("t.ctid < {}::pg_catalog.tid").format(sql.Literal(f"({last},0)")))
    query = sql.SQL(
        "SELECT count(*),"
        " COALESCE(sum(pg_catalog.hashint8extended(h, 0)), 0)::text,"
        " COALESCE(sum(pg_catalog.hashint8extended(h, 1)), 0)::text"
        " FROM (SELECT pg_catalog.hash_record_extended({row}, 0) AS h"
        " FROM ONLY {table} AS t{where} OFFSET 0) AS rows"  # ONLY: children are tables too
    ).format(
        row=table.hashed_row(),
        table=table.ident(),
        where=sql.SQL(" WHERE ") + sql.SQL(" AND ").join(where) if where else sql.SQL(""),
    )
    count, h0, h1 = conn.execute(query).fetchone() or (0, "0", "0")
    return {
        "schema": table.schema,
        "name": table.name,
        "rows": int(count),
        "hash": f"{h0}:{h1}",
        "primary_key": list(table.primary_key),
    }


def _summed(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One table's digest from the digests of its block ranges."""
    sums = [p["hash"].split(":") for p in parts]
    return {
        **parts[0],
        "rows": sum(p["rows"] for p in parts),
        "hash": ":".join(str(sum(int(s[i]) for s in sums)) for i in range(2)),
    }


def large_objects_digest(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    """Large objects (pg_dump restores them with their OIDs): count and a multiset hash of (oid, content)."""
    count, h0 = conn.execute(
        "SELECT count(*), COALESCE(sum(pg_catalog.hashint8extended(pg_catalog.hash_record_extended("
        "ROW(m.oid::bigint, pg_catalog.md5(pg_catalog.lo_get(m.oid))), 0), 0)), 0)::text"
        " FROM pg_catalog.pg_largeobject_metadata AS m"
    ).fetchone() or (0, "0")
    return {"rows": int(count), "hash": str(h0), "primary_key": ["oid"]}


LARGE_OBJECTS = "(large objects)"
"""The key of the large objects among the tables of a fingerprint (no table can be named so unquoted)."""


def sequences(conn: psycopg.Connection[Any]) -> dict[str, list[Any]]:
    found = conn.execute(f"""SELECT n.nspname, c.relname, format('%I.%I', n.nspname, c.relname) FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'S' AND {USER_SCHEMAS} ORDER BY 1, 2""").fetchall()
    values: dict[str, list[Any]] = {}
    for schema, name, key in found:
        row = conn.execute(
            sql.SQL("SELECT last_value, is_called FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(name))
        ).fetchone()
        values[str(key)] = [int(row[0]), bool(row[1])] if row else []
    return values


def alembic_revision(conn: psycopg.Connection[Any]) -> str | None:
    """The revision in `alembic_version`, found through the catalog (public first), not the search path."""
    found = conn.execute(f"""SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relname = 'alembic_version' AND c.relkind IN ('r', 'p') AND {USER_SCHEMAS}
        ORDER BY n.nspname <> 'public', n.nspname LIMIT 1""").fetchone()
    if not found:
        return None
    row = conn.execute(
        sql.SQL("SELECT string_agg(version_num::text, ',' ORDER BY version_num::text) FROM {}.alembic_version").format(
            sql.Identifier(found[0])
        )
    ).fetchone()
    return str(row[0]) if row and row[0] is not None else None


def open_in_snapshot(dsn: Dsn, snapshot: str | None) -> psycopg.Connection[Any]:
    """A read-only repeatable-read session with the row-text settings, in `snapshot` or a fresh one."""
    conn = connect(dsn, autocommit=True)
    prepare_session(conn)
    conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    if snapshot:
        conn.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot)))
    return conn


def fingerprint(dsn: Dsn, *, snapshot: str | None = None, workers: int = 4) -> dict[str, Any]:
    """The fingerprint of the database at `dsn`, read in one snapshot (exported, or a fresh one).

    Tables, the large ones in block ranges, are hashed in parallel by `workers` sessions that all
    import the same snapshot, so the result describes one consistent state even while the database
    takes writes.
    """
    main = open_in_snapshot(dsn, snapshot)
    try:
        if snapshot is None and workers > 1:
            snapshot = str((main.execute("SELECT pg_export_snapshot()").fetchone() or [""])[0])
        tables = list_tables(main)
        result = _everything_but_rows(main)
        parts = [(t, blocks) for t in tables for blocks in block_ranges(t, 2 * workers)]
        if workers > 1 and len(parts) > 1:
            digests = _hashed_in_parallel(dsn, snapshot, parts, workers)
        else:
            digests = [table_digest(main, t, blocks) for t, blocks in parts]
        by_table: dict[str, list[dict[str, Any]]] = {}
        for (table, _), digest in zip(parts, digests, strict=True):
            by_table.setdefault(table.key, []).append(digest)
        result["tables"] = {key: _summed(found) for key, found in by_table.items()}
        result["tables"][LARGE_OBJECTS] = large_objects_digest(main)
        return result
    finally:
        main.close()


def _hashed_in_parallel(
    dsn: Dsn, snapshot: str | None, parts: list[tuple[TableRef, BlockRange]], workers: int
) -> list[dict[str, Any]]:
    """`table_digest` of each part, the largest first, each on whichever session is free."""
    helpers = [open_in_snapshot(dsn, snapshot) for _ in range(min(workers, len(parts)))]
    free: queue.SimpleQueue[psycopg.Connection[Any]] = queue.SimpleQueue()
    for helper in helpers:
        free.put(helper)

    def digest(part: tuple[TableRef, BlockRange]) -> dict[str, Any]:
        conn = free.get()
        try:
            return table_digest(conn, *part)
        finally:
            free.put(conn)

    def weight(index: int) -> int:
        table, (first, last) = parts[index]
        return (last if last is not None else max(table.pages, first + 1)) - first

    try:
        with ThreadPoolExecutor(len(helpers), initializer=interrupts_to_the_main_thread) as pool:
            order = sorted(range(len(parts)), key=weight, reverse=True)
            futures = {index: pool.submit(digest, parts[index]) for index in order}
            done, _ = wait(futures.values(), return_when=FIRST_EXCEPTION)
            failed = next((f.exception() for f in done if f.exception() is not None), None)
            if failed is not None:
                _stop_the_rest(list(futures.values()), helpers)
                raise failed
            return [futures[index].result() for index in range(len(parts))]
    finally:
        for helper in helpers:
            helper.close()


def _stop_the_rest(futures: list[Future[dict[str, Any]]], helpers: list[psycopg.Connection[Any]]) -> None:
    """After one table failed: the tables not started never start, and the helpers' queries are cancelled
    until every table has ended (one may send its query just after a cancel, then wait on a lock for a
    result nobody reads)."""
    for future in futures:
        future.cancel()
    pending = [future for future in futures if not future.done()]
    while pending:
        cancel(helpers)
        _, still = wait(pending, timeout=0.2)
        pending = list(still)


def fingerprint_in(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    """The fingerprint as one session sees it, inside whatever transaction it is in (the sync-back
    proves its own writes before it commits them)."""
    prepare_session(conn)
    result = _everything_but_rows(conn)
    result["tables"] = {t.key: table_digest(conn, t) for t in list_tables(conn)}
    result["tables"][LARGE_OBJECTS] = large_objects_digest(conn)
    return result


def database_identity_of(conn: psycopg.Connection[Any]) -> dict[str, str]:
    """Which database a session is on: its name and its server's system identifier (initdb's, the same
    for every database of a server, new for each server; readable without superuser)."""
    row = conn.execute("SELECT current_database(), system_identifier::text FROM pg_control_system()").fetchone()
    database, system_identifier = row if row else ("", "")
    return {"database": str(database), "system_identifier": str(system_identifier)}


def _everything_but_rows(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    return {
        "server_version": str((conn.execute("SHOW server_version").fetchone() or [""])[0]),
        **database_identity_of(conn),
        "read_at": read_at(conn),
        "schema": {**schema_signature(conn), "database": [database_locale(conn)]},
        "database_settings": database_settings(conn),
        "sequences": sequences(conn),
        "alembic_revision": alembic_revision(conn),
    }


@dataclass(frozen=True)
class Difference:
    kind: str
    """table-missing, table-extra, row-count, content, sequence, schema, alembic-revision"""
    where: str
    detail: str
    keys: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "where": self.where, "detail": self.detail, "keys": list(self.keys)}


def diff_fingerprints(source: dict[str, Any], target: dict[str, Any]) -> list[Difference]:
    found: list[Difference] = []
    src_tables, dst_tables = source["tables"], target["tables"]
    for name in sorted(set(src_tables) - set(dst_tables)):
        found.append(Difference("table-missing", name, "table missing on target"))
    for name in sorted(set(dst_tables) - set(src_tables)):
        found.append(Difference("table-extra", name, "table only on target"))
    for name in sorted(set(src_tables) & set(dst_tables)):
        a, b = src_tables[name], dst_tables[name]
        if a["rows"] != b["rows"]:
            found.append(Difference("row-count", name, f"{a['rows']} rows on source, {b['rows']} on target"))
        elif a["hash"] != b["hash"]:
            found.append(Difference("content", name, "same row count, different content"))
    for name in sorted(set(source["sequences"]) | set(target["sequences"])):
        a, b = source["sequences"].get(name), target["sequences"].get(name)
        if a != b:
            found.append(Difference("sequence", name, f"source {a}, target {b}"))
    for part in sorted(set(source["schema"]) | set(target["schema"])):
        a_items, b_items = set(source["schema"].get(part, [])), set(target["schema"].get(part, []))
        for item in sorted(a_items - b_items):
            found.append(Difference("schema", part, f"only on source: {item}"))
        for item in sorted(b_items - a_items):
            found.append(Difference("schema", part, f"only on target: {item}"))
    if source["alembic_revision"] != target["alembic_revision"]:
        found.append(
            Difference(
                "alembic-revision",
                "alembic_version",
                f"source {source['alembic_revision']}, target {target['alembic_revision']}",
            )
        )
    return found


def differing_keys(
    source: Dsn, target: Dsn, table: TableRef, *, snapshot: str | None = None, limit: int = DIFF_KEY_LIMIT
) -> tuple[str, ...]:
    """Primary keys (or row texts, without a key) of rows that differ: only run on a mismatch."""
    key = (
        sql.SQL("({})::text").format(sql.SQL(", ").join(sql.Identifier(c) for c in table.primary_key))
        if table.primary_key
        else sql.SQL("t::text")
    )
    query = sql.SQL("SELECT {} , pg_catalog.md5(t::text) FROM ONLY {} AS t").format(key, table.ident())

    def rows(dsn: Dsn, snap: str | None) -> dict[str, list[str]]:
        conn = open_in_snapshot(dsn, snap)
        try:
            out: dict[str, list[str]] = {}
            for k, h in conn.execute(query):
                out.setdefault(str(k), []).append(str(h))
            return out
        finally:
            conn.close()

    a, b = rows(source, snapshot), rows(target, None)
    changed = sorted(k for k in set(a) | set(b) if sorted(a.get(k, [])) != sorted(b.get(k, [])))
    return tuple(changed[:limit])
