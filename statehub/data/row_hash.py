"""How a table's rows become its digest: a row count and a 128-bit multiset hash, computed server-side.

Each row is hashed twice by `hash_record_extended`, with two seeds drawn from the table's column
identity (position, name, type, collation): two independent 64-bit row hashes, so two columns that
trade names, or a table whose columns moved, hash apart even where every value is the same. Each
row hash is then mixed non-linearly (`hashint4extended(0, h)` runs the full 64-bit `h` through
lookup3's mix as its seed) and the mixed values are summed exactly (numeric), once per seed. The
row hash alone is linear in its column hashes, so without the mix a value moved from one row to
another would cancel out; with it, a changed, missing, extra, duplicated or moved row changes both
sums unless both 64-bit mixed hashes collide (about 2^-128 for a change that was not crafted;
docs/compare.md says what a crafted one can do).

How a column enters the row hash (`Column.hashed`):
- natively, where the type's extended hash is an exact function of all of its value and the same on
  every server: bool, int2, int4, date, "char", oid, uuid, bytea; text, varchar and name under
  `COLLATE "C"` (a nondeterministic collation would hash case-insensitively);
- through its binary send function where the native hash folds 64 bits to 32 (`hashint8extended`
  hashes `lo32 XOR hi32`, so `1` and `2^32` collide): int8, timestamp, timestamptz, time,
  numeric; and bpchar, whose send form keeps the trailing spaces a cast to text drops;
- as the text of the type's own output function, byte for byte, for everything else (jsonb, whose
  hash confuses `{}`/`[]`; json; floats, where -NaN and NaN are one value; enums, whose hash is a
  server-local OID; arrays; composites; intervals; xml, whose cast to text keeps a declaration the
  output drops; extension types).
Domains are resolved to their base type through every level.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from statehub.data.schema_signature import USER_SCHEMAS
from statehub.policy.fingerprints import TableDigest

NATIVE = {
    16: "bool",
    18: '"char"',
    21: "int2",
    23: "int4",
    26: "oid",
    17: "bytea",
    1082: "date",
    2950: "uuid",
}
"""Base type OID (fixed across majors) -> its name, for types hashed natively."""
NATIVE_TEXT = {19: "name", 25: "text", 1043: "varchar"}
"""Collatable types hashed natively under `COLLATE "C"`."""
SENT = {
    20: "int8send",
    1114: "timestamp_send",
    1184: "timestamptz_send",
    1083: "time_send",
    1700: "numeric_send",
    1042: "bpcharsend",
}
"""Base type OID -> the send function its value is hashed through."""

_TABLES = f"""
SELECT c.oid, n.nspname, c.relname, format('%I.%I', n.nspname, c.relname), c.relkind::text, c.relpages,
       c.relfilenode::text, c.relkind <> 'm' OR c.relispopulated,
       ARRAY(SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid
             AND a.attnum = ANY(i.indkey) WHERE i.indrelid = c.oid AND i.indisprimary ORDER BY a.attnum)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'm') AND {USER_SCHEMAS} ORDER BY 2, 3"""

_COLUMNS = f"""
WITH RECURSIVE columns AS (
    SELECT a.attrelid, a.attnum, a.attname, a.atttypid, a.atttypmod, a.attcollation
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p', 'm') AND {USER_SCHEMAS} AND a.attnum > 0 AND NOT a.attisdropped
), resolved(attrelid, attnum, typ, depth) AS (
    SELECT attrelid, attnum, atttypid, 0 FROM columns
    UNION ALL
    SELECT r.attrelid, r.attnum, t.typbasetype, r.depth + 1
    FROM resolved r JOIN pg_type t ON t.oid = r.typ WHERE t.typtype = 'd'
)
SELECT c.attrelid, c.attname, format_type(c.atttypid, c.atttypmod),
       COALESCE((SELECT format('%I.%I', cn.nspname, co.collname) FROM pg_collation co
                 JOIN pg_namespace cn ON cn.oid = co.collnamespace WHERE co.oid = c.attcollation), ''),
       b.oid::int, c.atttypid <> b.oid, fn.nspname, fp.proname
FROM columns c
JOIN resolved r ON r.attrelid = c.attrelid AND r.attnum = c.attnum
JOIN pg_type b ON b.oid = r.typ AND b.typtype <> 'd'
JOIN pg_proc fp ON fp.oid = b.typoutput JOIN pg_namespace fn ON fn.oid = fp.pronamespace
ORDER BY c.attrelid, c.attnum"""


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    """`format_type` of the declared type (a domain by its own name)."""
    collation: str
    """The column's collation, `schema.name`, or '' for a type without one."""
    base_oid: int
    """The type under every level of domain."""
    is_domain: bool
    output_function: tuple[str, str]
    """Schema and name of the base type's output function."""

    def identity(self) -> list[str]:
        return [self.name, self.type, self.collation]

    def hashed(self) -> sql.Composable:
        """What enters the row hash for this column of the row `t` (see the module's docstring)."""
        value = sql.SQL("t.{}").format(sql.Identifier(self.name))
        if self.base_oid in NATIVE or self.base_oid in NATIVE_TEXT:
            base = NATIVE.get(self.base_oid) or NATIVE_TEXT[self.base_oid]
            if self.is_domain:
                value = sql.SQL("({})::pg_catalog.{}").format(value, sql.SQL(base))
            return sql.SQL('{} COLLATE "C"').format(value) if self.base_oid in NATIVE_TEXT else value
        if self.base_oid in SENT:
            return sql.SQL("pg_catalog.{}({})").format(sql.SQL(SENT[self.base_oid]), value)
        schema, function = self.output_function
        return sql.SQL('pg_catalog.textin({}({})) COLLATE "C"').format(sql.Identifier(schema, function), value)


@dataclass(frozen=True)
class TableRef:
    schema: str
    name: str
    key: str
    """`schema.name` with each part quoted where SQL needs it (`a."b.c"` and `"a.b".c` stay apart)."""
    primary_key: tuple[str, ...]
    kind: str = "r"
    """pg_class.relkind: r table, p partitioned table, m materialized view."""
    columns: tuple[Column, ...] = ()
    pages: int = 0
    """pg_class.relpages, an estimate: it decides how many block ranges the table is hashed in."""
    oid: int = 0
    storage: str = ""
    """pg_class.relfilenode as the snapshot sees it: a TRUNCATE or a rewrite after the snapshot gives the
    table a new one, and rows a snapshot cannot see any more (`table_digest` then refuses)."""
    populated: bool = True
    """False for a materialized view created or refreshed WITH NO DATA: it has no rows to read."""

    def ident(self) -> sql.Composed:
        return sql.SQL("{}.{}").format(sql.Identifier(self.schema), sql.Identifier(self.name))

    def seeds(self) -> tuple[int, int]:
        """The two row-hash seeds: from each column's position, name, type and collation."""
        identity = json.dumps([column.identity() for column in self.columns]).encode()
        return tuple(  # type: ignore[return-value]
            int.from_bytes(hashlib.sha256(side + identity).digest()[:8], "big", signed=True) for side in (b"a", b"b")
        )

    def hashed_row(self) -> sql.Composable:
        """`ROW(...)` over the table alias `t`, each column as `Column.hashed` says."""
        return sql.SQL("ROW({})").format(sql.SQL(", ").join(column.hashed() for column in self.columns))

    def row_hash_expressions(self) -> tuple[sql.Composable, sql.Composable]:
        """The two 64-bit hashes of the row `t` (the sync-back matches rows by them)."""
        return tuple(  # type: ignore[return-value]
            sql.SQL("pg_catalog.hash_record_extended({}, {})").format(self.hashed_row(), sql.Literal(seed))
            for seed in self.seeds()
        )


def list_tables(conn: psycopg.Connection[Any]) -> list[TableRef]:
    """Every table, partitioned table and materialized view of the user schemas, with its columns."""
    columns: dict[int, list[Column]] = {}
    for relid, name, typ, collation, base, is_domain, fn_schema, fn_name in conn.execute(_COLUMNS).fetchall():
        column = Column(str(name), str(typ), str(collation), int(base), bool(is_domain), (str(fn_schema), str(fn_name)))
        columns.setdefault(int(relid), []).append(column)
    return [
        TableRef(
            str(schema),
            str(name),
            str(key),
            tuple(str(k) for k in pk),
            str(kind),
            tuple(columns.get(int(oid), [])),
            int(pages),
            int(oid),
            str(storage),
            bool(populated),
        )
        for oid, schema, name, key, kind, pages, storage, populated, pk in conn.execute(_TABLES).fetchall()
    ]


BlockRange = tuple[int, int | None]
"""Heap blocks [first, last) of a table; last None: to the end, whatever the table's size now."""

WHOLE_TABLE: BlockRange = (0, None)
UNPOPULATED = "not populated"
"""The hash of a materialized view WITH NO DATA: it has no rows to read (reading them is an error)."""


class TableRewritten(Exception):
    """A table was truncated or rewritten after the snapshot: its rows can no longer be read in it."""


def digest_query(table: TableRef, blocks: BlockRange, label: int) -> sql.Composable:
    """One row: `label`, the row count and the two hash sums of `table`'s rows in `blocks` (sums of ranges
    add up). Queries of several tables joined by UNION ALL read them in one statement."""
    first, last = blocks
    where = [sql.SQL("t.ctid >= {}::pg_catalog.tid").format(sql.Literal(f"({first},0)"))] if first else []
    if last is not None:
        where.append(sql.SQL("t.ctid < {}::pg_catalog.tid").format(sql.Literal(f"({last},0)")))
    hash_a, hash_b = table.row_hash_expressions()
    return sql.SQL(
        "(SELECT {label}::int, count(*),"
        " COALESCE(sum(pg_catalog.hashint4extended(0, {a})), 0)::text,"
        " COALESCE(sum(pg_catalog.hashint4extended(0, {b})), 0)::text"
        " FROM ONLY {table} AS t{where})"  # ONLY: children are tables too
    ).format(
        label=sql.Literal(label),
        a=hash_a,
        b=hash_b,
        table=table.ident(),
        where=sql.SQL(" WHERE ") + sql.SQL(" AND ").join(where) if where else sql.SQL(""),
    )


def digests(conn: psycopg.Connection[Any], parts: list[tuple[TableRef, BlockRange]]) -> list[TableDigest]:
    """The digest of each part (a table, or a block range of one), read in one statement."""
    found: list[TableDigest] = [
        {
            "schema": table.schema,
            "name": table.name,
            "rows": 0,
            "hash": UNPOPULATED,
            "primary_key": list(table.primary_key),
        }
        for table, _ in parts
    ]
    readable = [digest_query(table, blocks, i) for i, (table, blocks) in enumerate(parts) if table.populated]
    if readable:
        for label, count, a, b in conn.execute(sql.SQL(" UNION ALL ").join(readable)).fetchall():
            found[int(label)]["rows"], found[int(label)]["hash"] = int(count), f"{a}:{b}"
    return found


def table_digest(conn: psycopg.Connection[Any], table: TableRef, blocks: BlockRange = WHOLE_TABLE) -> TableDigest:
    """Row count and the two hash sums of `table`, or of its rows in `blocks`."""
    return digests(conn, [(table, blocks)])[0]


def rewritten_since_snapshot(conn: psycopg.Connection[Any], tables: list[TableRef]) -> list[str]:
    """Those of `tables` (already read in this transaction, so locked against another rewrite) whose
    storage is not the one the snapshot saw: truncated or rewritten since (their rows were read wrong)."""
    stored = [t for t in tables if t.storage not in ("", "0")]
    if not stored:
        return []
    now = dict(
        conn.execute(
            "SELECT o::bigint, pg_catalog.pg_relation_filenode(o)::text FROM unnest(%s::oid[]) AS o",
            ([t.oid for t in stored],),
        ).fetchall()
    )
    return [t.key for t in stored if now.get(t.oid) != t.storage]


def summed(parts: list[TableDigest]) -> TableDigest:
    """One table's digest from the digests of its block ranges."""
    if any(p["hash"] == UNPOPULATED for p in parts):
        return parts[0]
    sums = [p["hash"].split(":") for p in parts]
    return {
        **parts[0],
        "rows": sum(p["rows"] for p in parts),
        "hash": ":".join(str(sum(int(s[i]) for s in sums)) for i in range(2)),
    }


LARGE_OBJECTS = "(large objects)"
"""The key of the large objects among the tables of a fingerprint (no table can be named so unquoted)."""

_LARGE_OBJECT_SEEDS = (0x5A17_0B1E_C7A5_0001, 0x5A17_0B1E_C7A5_0002)


def large_objects_digest(conn: psycopg.Connection[Any]) -> TableDigest:
    """Large objects (pg_dump restores them with their OIDs): count and a 128-bit multiset hash of
    (oid, content), mixed and summed as rows are."""
    count, a, b = conn.execute(
        "SELECT count(*), COALESCE(sum(pg_catalog.hashint4extended(0, h.a)), 0)::text,"
        " COALESCE(sum(pg_catalog.hashint4extended(0, h.b)), 0)::text FROM ("
        " SELECT pg_catalog.hash_record_extended(l.r, %s) AS a, pg_catalog.hash_record_extended(l.r, %s) AS b FROM ("
        " SELECT ROW(m.oid, pg_catalog.lo_get(m.oid)) AS r FROM pg_catalog.pg_largeobject_metadata AS m OFFSET 0)"
        " AS l OFFSET 0) AS h",
        _LARGE_OBJECT_SEEDS,
    ).fetchone() or (0, "0", "0")
    return {"rows": int(count), "hash": f"{a}:{b}", "primary_key": ["oid"]}
