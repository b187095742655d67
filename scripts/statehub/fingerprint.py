"""The fingerprint of a database, computed server-side, and the comparison of two fingerprints.

Per user table: row count and a 128-bit order-independent multiset hash of the rows (two exact
sums of 64-bit `hash_record_extended` with different seeds): any changed, missing, extra or
duplicated row changes it, and a NULL column hashes apart from an empty one. Columns of types whose
hash is an exact function of the value and the same on every server (integers, text without a
nondeterministic collation, bytea, uuid, dates and timestamps, jsonb) are hashed natively, which is
about five times faster than hashing the row's text; every other column (enums, whose hash is
their server-local OID, numerics, floats, intervals and anything else) is hashed as its text.
Sequences, a schema signature and the Alembic revision complete the fingerprint. Server version is
recorded, not compared.
"""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from statehub.dsn import Dsn, connect

SESSION_SETTINGS = {
    "TimeZone": "UTC",
    "DateStyle": "ISO, YMD",
    "IntervalStyle": "postgres",
    "extra_float_digits": "3",
    "bytea_output": "hex",
}
"""Row text depends on these: both sides render values identically."""

USER_SCHEMAS = "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'"
DIFF_KEY_LIMIT = 20

_TABLES = f"""
SELECT n.nspname, c.relname,
       ARRAY(SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid
             AND a.attnum = ANY(i.indkey) WHERE i.indrelid = c.oid AND i.indisprimary ORDER BY a.attnum),
       ARRAY(SELECT a.attname FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
             ORDER BY a.attnum),
       ARRAY(SELECT (CASE WHEN ty.typtype = 'd' THEN ty.typbasetype ELSE ty.oid END) = ANY(
                     '{{smallint,integer,bigint,boolean,bytea,uuid,date,timestamp,timestamptz,jsonb,text,varchar}}'
                     ::regtype[]::oid[])
                 AND NOT EXISTS (SELECT FROM pg_collation co WHERE co.oid = a.attcollation AND NOT co.collisdeterministic)
             FROM pg_attribute a JOIN pg_type ty ON ty.oid = a.atttypid
             WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND {USER_SCHEMAS} ORDER BY 1, 2"""

_SIGNATURE = {
    "columns": f"""SELECT format('%I.%I.%I %s%s%s', n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod),
        CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END,
        COALESCE(' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid), ''))
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm') AND {USER_SCHEMAS}""",
    "constraints": f"""SELECT format('%I.%I %I %s', n.nspname, c.relname, k.conname, pg_get_constraintdef(k.oid))
        FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE {USER_SCHEMAS}""",
    "indexes": f"""SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {USER_SCHEMAS}""",
    "views": f"""SELECT format('%I.%I %s', n.nspname, c.relname, pg_get_viewdef(c.oid)) FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('v', 'm') AND {USER_SCHEMAS}""",
    "types": f"""SELECT format('%I.%I %s', n.nspname, t.typname, CASE t.typtype
          WHEN 'e' THEN 'enum(' || (SELECT string_agg(quote_literal(e.enumlabel), ',' ORDER BY e.enumsortorder)
                                    FROM pg_enum e WHERE e.enumtypid = t.oid) || ')'
          ELSE 'domain ' || format_type(t.typbasetype, t.typtypmod) || CASE WHEN t.typnotnull THEN ' NOT NULL' ELSE '' END
               || COALESCE((SELECT ' ' || string_agg(pg_get_constraintdef(k.oid), ' ' ORDER BY k.conname)
                            FROM pg_constraint k WHERE k.contypid = t.oid), '') END)
        FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE t.typtype IN ('e', 'd') AND {USER_SCHEMAS}""",
    "extensions": "SELECT extname FROM pg_extension WHERE extname <> 'plpgsql'",
}


@dataclass(frozen=True)
class TableRef:
    schema: str
    name: str
    primary_key: tuple[str, ...]
    columns: tuple[str, ...] = ()
    native_hash: tuple[bool, ...] = ()
    """Per column: hashed as its value (True) or as its text (False). Only `table_digest` needs them."""

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"

    def ident(self) -> sql.Composed:
        return sql.SQL("{}.{}").format(sql.Identifier(self.schema), sql.Identifier(self.name))

    def hashed_row(self) -> sql.Composable:
        """`ROW(...)` over the table alias `t`: native columns as they are, the others as text."""
        return sql.SQL("ROW({})").format(
            sql.SQL(", ").join(
                sql.SQL("t.{}" if native else "t.{}::text").format(sql.Identifier(column))
                for column, native in zip(self.columns, self.native_hash, strict=True)
            )
        )


def prepare_session(conn: psycopg.Connection[Any]) -> None:
    for name, value in SESSION_SETTINGS.items():
        conn.execute(sql.SQL("SELECT set_config({}, {}, false)").format(sql.Literal(name), sql.Literal(value)))


def list_tables(conn: psycopg.Connection[Any]) -> list[TableRef]:
    return [
        TableRef(s, n, tuple(pk), tuple(cols), tuple(native))
        for s, n, pk, cols, native in conn.execute(_TABLES).fetchall()
    ]


def table_digest(conn: psycopg.Connection[Any], table: TableRef) -> dict[str, Any]:
    row = table.hashed_row()
    query = sql.SQL(
        "SELECT count(*), COALESCE(sum(hash_record_extended({row}, 0)), 0)::text,"
        " COALESCE(sum(hash_record_extended({row}, 1)), 0)::text FROM {table} AS t"
    ).format(row=row, table=table.ident())
    count, h0, h1 = conn.execute(query).fetchone() or (0, "0", "0")
    return {"rows": int(count), "hash": f"{h0}:{h1}", "primary_key": list(table.primary_key)}


def schema_signature(conn: psycopg.Connection[Any]) -> dict[str, list[str]]:
    return {part: sorted(str(r[0]) for r in conn.execute(query).fetchall()) for part, query in _SIGNATURE.items()}


def sequences(conn: psycopg.Connection[Any]) -> dict[str, list[Any]]:
    found = conn.execute(f"""SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind = 'S' AND {USER_SCHEMAS} ORDER BY 1, 2""").fetchall()
    values: dict[str, list[Any]] = {}
    for schema, name in found:
        row = conn.execute(
            sql.SQL("SELECT last_value, is_called FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(name))
        ).fetchone()
        values[f"{schema}.{name}"] = [int(row[0]), bool(row[1])] if row else []
    return values


def alembic_revision(conn: psycopg.Connection[Any]) -> str | None:
    exists = conn.execute("SELECT to_regclass('alembic_version') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return None
    row = conn.execute("SELECT string_agg(version_num, ',' ORDER BY version_num) FROM alembic_version").fetchone()
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

    Tables are hashed in parallel by `workers` sessions that all import the same snapshot, so
    the result describes one consistent state even while the database takes writes.
    """
    main = open_in_snapshot(dsn, snapshot)
    try:
        if snapshot is None and workers > 1:
            snapshot = str((main.execute("SELECT pg_export_snapshot()").fetchone() or [""])[0])
        tables = list_tables(main)
        result: dict[str, Any] = {
            "server_version": str((main.execute("SHOW server_version").fetchone() or [""])[0]),
            "database": dsn.dbname,
            "schema": schema_signature(main),
            "sequences": sequences(main),
            "alembic_revision": alembic_revision(main),
        }
        if workers > 1 and len(tables) > 1:
            helpers = [open_in_snapshot(dsn, snapshot) for _ in range(min(workers, len(tables)))]
            try:
                with ThreadPoolExecutor(len(helpers)) as pool:
                    digests = list(
                        pool.map(lambda i: table_digest(helpers[i % len(helpers)], tables[i]), range(len(tables)))
                    )
            finally:
                for helper in helpers:
                    helper.close()
        else:
            digests = [table_digest(main, t) for t in tables]
        result["tables"] = {t.qualified: d for t, d in zip(tables, digests, strict=True)}
        return result
    finally:
        main.close()


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
    query = sql.SQL("SELECT {} , md5(t::text) FROM {} AS t").format(key, table.ident())

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


def fingerprint_digest(fp: dict[str, Any]) -> str:
    """sha256 of what "the same database" means: everything but server version and name."""
    compared = {k: fp[k] for k in ("tables", "sequences", "schema", "alembic_revision")}
    return hashlib.sha256(json.dumps(compared, sort_keys=True).encode()).hexdigest()
