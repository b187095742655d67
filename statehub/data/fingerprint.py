"""The fingerprint of a database, computed server-side, and the comparison of two fingerprints.

Per user table: row count and a 128-bit multiset hash of its rows (statehub/data/row_hash.py); then
sequences, a schema signature and the Alembic revision. Server version and identity are recorded,
not compared.

All of it describes one snapshot. The main session holds it (exported, or imported from a dump's
export) and reads the catalog parts; helper sessions hash the tables, the large ones in block
ranges, largest first, each on whichever session is free. A helper imports the snapshot afresh for
every few tables and commits in between, so it never holds more than a few dozen locks: reading
5,000 tables in one transaction would need a lock (and one per index) for each, more than the
server's lock table holds beside pg_dump's own. A table the helper reaches after a TRUNCATE or a
rewrite that committed after the snapshot has new storage and rows the snapshot cannot see; it is
caught by its storage (relfilenode) and the fingerprint fails rather than describe it wrongly.
"""

from __future__ import annotations

import queue
from collections.abc import Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from statehub.data.dsn import Dsn, cancel, connect
from statehub.data.processes import interrupts_to_the_main_thread
from statehub.data.row_hash import (
    LARGE_OBJECTS,
    WHOLE_TABLE,
    BlockRange,
    TableRef,
    TableRewritten,
    digests,
    large_objects_digest,
    list_tables,
    rewritten_since_snapshot,
    summed,
    table_digest,
)
from statehub.data.schema_signature import USER_SCHEMAS, database_locale, database_settings, schema_signature
from statehub.data.unchanged import read_at
from statehub.data.unchecked import unchecked_objects
from statehub.policy.fingerprints import HASH_ALGORITHM, Fingerprint, TableDigest

SESSION_SETTINGS = {
    "TimeZone": "UTC",
    "DateStyle": "ISO, YMD",
    "IntervalStyle": "postgres",
    "extra_float_digits": "3",
    "bytea_output": "hex",
    "search_path": "pg_catalog, pg_temp",
    "row_security": "off",
    "xmloption": "content",
}
"""Row text depends on these: both sides render values identically. The connection must not decide
the result either: a user schema's function can't shadow a built-in (only pg_catalog is searched),
and row-level security never hides rows (a role that may not read everything fails loudly)."""

DIFF_KEY_LIMIT = 20
TABLES_PER_TRANSACTION = 16
"""A helper commits (and imports the snapshot again) after reading this many tables: each holds a lock on
the table, its indexes and its TOAST table until then, well under what pg_dump leaves of the lock table."""
RANGE_PAGES = 1024
"""About 8 MB of heap per block range: small enough to spread the largest table over every session."""


def prepare_session(conn: psycopg.Connection[Any]) -> None:
    conn.execute(
        sql.SQL("SELECT {}").format(
            sql.SQL(", ").join(
                sql.SQL("set_config({}, {}, false)").format(sql.Literal(name), sql.Literal(value))
                for name, value in SESSION_SETTINGS.items()
            )
        )
    )


def block_ranges(table: TableRef, most: int) -> list[BlockRange]:
    """The table cut into at most `most` block ranges that cover it whole: the last one is open, so a
    stale `relpages` can cost speed but never rows."""
    count = max(1, min(most, table.pages // RANGE_PAGES)) if table.kind in ("r", "m") else 1
    step = -(-table.pages // count) if count > 1 else 0
    return [(i * step, (i + 1) * step if i < count - 1 else None) for i in range(count)]


def sequences(conn: psycopg.Connection[Any]) -> dict[str, list[int | bool]]:
    found = conn.execute(f"""SELECT n.nspname, c.relname, format('%I.%I', n.nspname, c.relname) FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'S' AND {USER_SCHEMAS}
        AND NOT EXISTS (SELECT FROM pg_depend e WHERE e.objid = c.oid AND e.deptype = 'e') ORDER BY 1, 2""").fetchall()
    values: dict[str, list[int | bool]] = {}
    for start in range(0, len(found), 1000):  # one statement per 1,000 sequences, not one round trip each
        chunk = found[start : start + 1000]
        query = sql.SQL(" UNION ALL ").join(
            sql.SQL("SELECT {}::text, last_value, is_called FROM {}.{}").format(
                sql.Literal(key), sql.Identifier(schema), sql.Identifier(name)
            )
            for schema, name, key in chunk
        )
        for key, value, called in conn.execute(query).fetchall():
            values[str(key)] = [int(value), bool(called)]
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
    _begin_in(conn, snapshot)
    return conn


def _begin_in(conn: psycopg.Connection[Any], snapshot: str | None) -> None:
    conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    if snapshot:
        conn.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot)))


Part = tuple[TableRef, BlockRange]


def work_units(tables: list[TableRef], workers: int) -> list[list[Part]]:
    """What one statement of a helper reads: a block range of a large table, or up to
    `TABLES_PER_TRANSACTION` small tables at once (a statement per small table would cost more than
    its rows). The largest first, so the last to finish is a small one."""
    large = [(t, blocks) for t in tables if t.pages >= RANGE_PAGES for blocks in block_ranges(t, 2 * workers)]
    small = sorted((t for t in tables if t.pages < RANGE_PAGES), key=lambda t: t.pages, reverse=True)
    units = [[part] for part in sorted(large, key=_weight, reverse=True)]
    units += [
        [(t, WHOLE_TABLE) for t in small[i : i + TABLES_PER_TRANSACTION]]
        for i in range(0, len(small), TABLES_PER_TRANSACTION)
    ]
    return units


def _weight(part: Part) -> int:
    table, (first, last) = part
    return (last if last is not None else max(table.pages, first + 1)) - first


def fingerprint(dsn: Dsn, *, snapshot: str | None = None, workers: int = 4) -> Fingerprint:
    """The fingerprint of the database at `dsn`, read in one snapshot (exported, or a fresh one).

    Tables, the large ones in block ranges, are hashed by `workers` helper sessions that import the
    same snapshot, so the result describes one consistent state even while the database takes writes.
    """
    main = open_in_snapshot(dsn, snapshot)
    try:
        if snapshot is None:
            snapshot = str((main.execute("SELECT pg_export_snapshot()").fetchone() or [""])[0])
        tables = list_tables(main)
        units = work_units(tables, max(1, workers))
        helpers = [_Helper(dsn, snapshot) for _ in range(min(max(1, workers), len(units)))]
        try:
            with ThreadPoolExecutor(1, initializer=interrupts_to_the_main_thread) as pool:
                hashing = pool.submit(_hashed_by_helpers, helpers, units)  # while main reads the catalog parts
                try:
                    result = _everything_but_rows(main, sequences(main))
                except BaseException:
                    _stop_the_rest([hashing], [helper.conn for helper in helpers])
                    raise
                read = hashing.result()
        finally:
            for helper in helpers:
                helper.conn.close()
        by_table: dict[str, list[TableDigest]] = {}
        for unit, found in zip(units, read, strict=True):
            for (table, _), digest in zip(unit, found, strict=True):
                by_table.setdefault(table.key, []).append(digest)
        result["tables"] = {t.key: summed(by_table[t.key]) for t in tables}
        result["tables"][LARGE_OBJECTS] = large_objects_digest(main)
        return result
    finally:
        main.close()


class _Helper:
    """A session that hashes work units in the snapshot, committing (and importing it again) every
    `TABLES_PER_TRANSACTION` tables, after checking that none it read was rewritten since."""

    def __init__(self, dsn: Dsn, snapshot: str) -> None:
        self.snapshot = snapshot
        self.conn = open_in_snapshot(dsn, snapshot)
        self.read: list[TableRef] = []

    def digest(self, unit: list[Part]) -> list[TableDigest]:
        found = digests(self.conn, unit)
        self.read += [table for table, _ in unit]
        if len(self.read) >= TABLES_PER_TRANSACTION:
            self.settle()
            _begin_in(self.conn, self.snapshot)
        return found

    def settle(self) -> None:
        """Check what this transaction read, then end it (its locks go with it)."""
        rewritten = rewritten_since_snapshot(self.conn, self.read)
        self.read = []
        if rewritten:
            raise TableRewritten(
                f"{', '.join(sorted(set(rewritten)))} was truncated or rewritten (TRUNCATE, ALTER TABLE, "
                "VACUUM FULL) while the fingerprint read the database: its rows cannot be read in the snapshot "
                "any more. Run it again when no such command runs"
            )
        self.conn.execute("COMMIT")


def _hashed_by_helpers(helpers: list[_Helper], units: list[list[Part]]) -> list[list[TableDigest]]:
    """The digests of each unit, in order, each unit read by whichever helper is free."""
    free: queue.SimpleQueue[_Helper] = queue.SimpleQueue()
    for helper in helpers:
        free.put(helper)

    def digest(unit: list[Part]) -> list[TableDigest]:
        helper = free.get()
        try:
            return helper.digest(unit)
        finally:
            free.put(helper)

    if not units:
        return []
    with ThreadPoolExecutor(len(helpers), initializer=interrupts_to_the_main_thread) as pool:
        futures = [pool.submit(digest, unit) for unit in units]
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        failed = next((f.exception() for f in done if f.exception() is not None), None)
        if failed is not None:
            _stop_the_rest(futures, [helper.conn for helper in helpers])
            raise failed
        for helper in helpers:
            helper.settle()
        return [future.result() for future in futures]


def _stop_the_rest(futures: Sequence[Future[Any]], helpers: list[psycopg.Connection[Any]]) -> None:
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


def fingerprint_in(conn: psycopg.Connection[Any]) -> Fingerprint:
    """The fingerprint as one session sees it, inside whatever transaction it is in (the sync-back
    proves its own writes before it commits them)."""
    prepare_session(conn)
    result = _everything_but_rows(conn, sequences(conn))
    result["tables"] = {t.key: table_digest(conn, t, WHOLE_TABLE) for t in list_tables(conn)}
    result["tables"][LARGE_OBJECTS] = large_objects_digest(conn)
    return result


def database_identity_of(conn: psycopg.Connection[Any]) -> dict[str, str]:
    """Which database a session is on: its name and its server's system identifier (initdb's, the same
    for every database of a server, new for each server; readable without superuser)."""
    row = conn.execute("SELECT current_database(), system_identifier::text FROM pg_control_system()").fetchone()
    database, system_identifier = row if row else ("", "")
    return {"database": str(database), "system_identifier": str(system_identifier)}


def _everything_but_rows(conn: psycopg.Connection[Any], sequence_values: dict[str, list[int | bool]]) -> Fingerprint:
    identity = database_identity_of(conn)
    fp: Fingerprint = {
        "algorithm": HASH_ALGORITHM,
        "server_version": str((conn.execute("SHOW server_version").fetchone() or [""])[0]),
        "database": identity["database"],
        "system_identifier": identity["system_identifier"],
        "read_at": read_at(conn),
        "schema": {**schema_signature(conn), "database": [database_locale(conn)]},
        "database_settings": database_settings(conn),
        "sequences": sequence_values,
        "alembic_revision": alembic_revision(conn),
        "tables": {},
    }
    unchecked = unchecked_objects(conn)
    if unchecked:
        fp["warnings"] = unchecked
    return fp


@dataclass(frozen=True)
class Difference:
    kind: str
    """table-missing, table-extra, row-count, content, sequence, schema, alembic-revision, algorithm"""
    where: str
    detail: str
    keys: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "where": self.where, "detail": self.detail, "keys": list(self.keys)}


def diff_fingerprints(source: Fingerprint, target: Fingerprint) -> list[Difference]:
    source_algorithm, target_algorithm = source.get("algorithm", "rows-64/v1"), target.get("algorithm", "rows-64/v1")
    if source_algorithm != target_algorithm:
        return [
            Difference(
                "algorithm",
                "fingerprint",
                f"the source was fingerprinted by {source_algorithm}, the target by {target_algorithm}: "
                "their row hashes cannot be compared. Take the older evidence again with this version",
            )
        ]
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
        seq_a, seq_b = source["sequences"].get(name), target["sequences"].get(name)
        if seq_a != seq_b:
            found.append(Difference("sequence", name, f"source {seq_a}, target {seq_b}"))
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
