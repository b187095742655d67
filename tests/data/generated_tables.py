"""Hypothesis strategies for tables of the types the State Hub uses, with values over each type's whole range,
and an oracle that knows nothing of hashes: every row as text, sorted, with the columns' names and types.

Values are drawn as SQL literal text (or None for NULL) and cast on insert, so the extremes Python cannot
hold (BC dates, `infinity`, numeric `NaN`) are drawn too.
"""

from __future__ import annotations

import json
import math
import string
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from hypothesis import assume
from hypothesis import strategies as st
from psycopg import sql

ENUM_LABELS = ("todo", "doing", "blocked", "done", "dropped")

SETUP = f"""
CREATE TYPE {{schema}}.status AS ENUM ({", ".join(repr(label) for label in ENUM_LABELS)});
CREATE DOMAIN {{schema}}.tokens AS bigint CHECK (VALUE > -9223372036854775807);
CREATE DOMAIN {{schema}}.code AS char(6);
CREATE DOMAIN {{schema}}.short_code AS {{schema}}.code;
"""
"""Types a generated table may use, made in the example's own schema."""

_TEXT = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=24)


def _array_literal(items: list[str | None]) -> str:
    quoted = ["NULL" if item is None else '"' + item.replace("\\", "\\\\").replace('"', '\\"') + '"' for item in items]
    return "{" + ",".join(quoted) + "}"


def _timestamp(moment: datetime) -> str:
    return moment.isoformat(sep=" ")


_INT8 = st.integers(-(2**63), 2**63 - 1)
_MOMENTS = st.datetimes(datetime(1, 1, 1), datetime(9999, 12, 31, 23, 59, 59, 999999))
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**80), 2**80) | _TEXT,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(_TEXT, children, max_size=3),
    max_leaves=8,
)


@dataclass(frozen=True)
class ColumnType:
    """A column type the State Hub uses: its SQL (in the example's schema) and literals over its whole range."""

    name: str
    sql: str
    values: st.SearchStrategy[str]
    key: bool = True
    """Usable in a primary key (it has a btree equality)."""


COLUMN_TYPES = (
    ColumnType("smallint", "smallint", st.integers(-(2**15), 2**15 - 1).map(str)),
    ColumnType("integer", "integer", st.integers(-(2**31), 2**31 - 1).map(str)),
    ColumnType("bigint", "bigint", _INT8.map(str)),
    ColumnType(
        "numeric",
        "numeric",
        st.decimals(allow_nan=True, allow_infinity=True, places=None)
        .filter(lambda d: not d.is_snan() and (not d.is_finite() or abs(d.adjusted()) < 300))
        .map(lambda d: "NaN" if d.is_nan() else str(d)),
    ),
    ColumnType("text", "text", _TEXT),
    ColumnType("varchar", "varchar(24)", _TEXT),
    ColumnType("bpchar", "char(6)", st.text(string.ascii_letters + " ", max_size=6)),
    ColumnType("jsonb", "jsonb", _JSON.map(json.dumps), key=False),
    ColumnType("json", "json", _JSON.map(json.dumps), key=False),
    ColumnType(
        "timestamptz",
        "timestamptz",
        _MOMENTS.map(lambda m: _timestamp(m.replace(tzinfo=UTC)))
        | st.sampled_from(["infinity", "-infinity", "4713-01-01 00:00:00+00 BC", "294276-12-31 23:59:59.999999+00"]),
    ),
    ColumnType("timestamp", "timestamp", _MOMENTS.map(_timestamp) | st.sampled_from(["infinity", "-infinity"])),
    ColumnType(
        "date",
        "date",
        st.dates().map(lambda d: d.isoformat()) | st.sampled_from(["4713-01-01 BC", "5874897-12-31", "infinity"]),
    ),
    ColumnType("boolean", "boolean", st.sampled_from(["true", "false"])),
    ColumnType("uuid", "uuid", st.uuids().map(str)),
    ColumnType("bytea", "bytea", st.binary(max_size=16).map(lambda b: "\\x" + b.hex())),
    ColumnType(
        "float8",
        "double precision",
        st.floats().map(lambda f: "NaN" if math.isnan(f) else ("Infinity" if f == math.inf else repr(f))),
        key=False,
    ),
    ColumnType(
        "integer[]",
        "integer[]",
        st.lists(st.none() | st.integers(-(2**31), 2**31 - 1).map(str), max_size=4).map(_array_literal),
    ),
    ColumnType("text[]", "text[]", st.lists(st.none() | _TEXT, max_size=3).map(_array_literal)),
    ColumnType("enum", "{schema}.status", st.sampled_from(ENUM_LABELS)),
    ColumnType("domain over bigint", "{schema}.tokens", st.integers(-(2**63) + 2, 2**63 - 1).map(str)),
    ColumnType(
        "domain over a domain over bpchar", "{schema}.short_code", st.text(string.ascii_letters + " ", max_size=6)
    ),
)


@dataclass(frozen=True)
class Table:
    """A generated table: its columns (name, type) and rows (one literal or None per column)."""

    columns: tuple[tuple[str, ColumnType], ...]
    key: tuple[str, ...]
    rows: tuple[tuple[str | None, ...], ...]

    def create(self, conn: psycopg.Connection[Any], schema: str) -> None:
        conn.execute(SETUP.format(schema=sql.Identifier(schema).as_string(conn)).encode())
        columns = [
            sql.SQL("{} {}").format(
                sql.Identifier(name), sql.SQL(kind.sql.format(schema=sql.Identifier(schema).as_string(conn)))
            )
            for name, kind in self.columns
        ]
        if self.key:
            columns.append(sql.SQL("PRIMARY KEY ({})").format(sql.SQL(", ").join(map(sql.Identifier, self.key))))
        conn.execute(sql.SQL("CREATE TABLE {}.t ({})").format(sql.Identifier(schema), sql.SQL(", ").join(columns)))
        for row in self.rows:
            self.insert(conn, schema, row)

    def insert(self, conn: psycopg.Connection[Any], schema: str, row: tuple[str | None, ...]) -> None:
        casts = [
            sql.SQL("%s::{}").format(sql.SQL(kind.sql.format(schema=sql.Identifier(schema).as_string(conn))))
            for _, kind in self.columns
        ]
        conn.execute(
            sql.SQL("INSERT INTO {}.t VALUES ({})").format(sql.Identifier(schema), sql.SQL(", ").join(casts)), row
        )


@st.composite
def tables(
    draw: st.DrawFn,
    *,
    most_rows: int = 8,
    least_rows: int = 0,
    twins: bool = False,
    keyless: bool = False,
    including: str = "",
) -> Table:
    """A table of 1-5 columns of drawn types and up to `most_rows` rows.

    `twins`: two columns share a type (to swap); `keyless`: no primary key (to duplicate a row);
    `including`: a column of that type (by `ColumnType.name`), never NULL and never the key.
    """
    kinds = draw(st.lists(st.sampled_from(COLUMN_TYPES), min_size=1, max_size=4))
    if twins:
        kinds.append(draw(st.sampled_from(kinds)))
    forced = -1
    if including:
        kinds.append(next(kind for kind in COLUMN_TYPES if kind.name == including))
        forced = len(kinds) - 1
    columns = tuple((f"c{i}", kind) for i, kind in enumerate(kinds))
    keyed = [name for i, (name, kind) in enumerate(columns) if kind.key and i != forced]
    key = (keyed[0],) if keyed and not keyless and draw(st.booleans()) else ()
    cells = [
        kind.values if (name,) == key or i == forced else st.none() | kind.values
        for i, (name, kind) in enumerate(columns)
    ]
    rows = draw(st.lists(st.tuples(*cells), min_size=least_rows, max_size=most_rows))
    if key:
        index = [name for name, _ in columns].index(key[0])
        rows = list({r[index]: r for r in rows}.values())
        assume(len(rows) >= least_rows)
    return Table(columns, key, tuple(rows))


def oracle(conn: psycopg.Connection[Any], schema: str) -> tuple[list[tuple[str, str]], list[str]]:
    """The table as plain text: its columns (name, type) in order, and every row as text, sorted."""
    conn.execute("SET extra_float_digits = 3")
    conn.execute("SET TimeZone = 'UTC'")
    header = conn.execute(
        "SELECT attname::text, format_type(atttypid, atttypmod) FROM pg_attribute "
        "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
        (f'"{schema}".t',),
    ).fetchall()
    rows = conn.execute(sql.SQL("SELECT t::text FROM {}.t AS t").format(sql.Identifier(schema))).fetchall()
    return [(str(a), str(b)) for a, b in header], sorted(str(r[0]) for r in rows)


FOLD = 2**32 + 1
"""`hashint8extended` hashes lo32 XOR hi32: v and v XOR (k * FOLD) collide under it."""


def folded(literal: str) -> str:
    """The bigint `literal` moved to a value the 32-bit fold cannot tell from it."""
    value = int(literal) & (2**64 - 1)
    moved = value ^ ((value & 0x7FFF or 1) * FOLD)
    moved &= 2**64 - 1
    return str(moved - 2**64 if moved >= 2**63 else moved)
