"""Compare's verdict against an independent oracle, on generated tables with values over each type's range.

Each example makes the same table in two databases, mutates one side (a changed value, a value moved
between rows, two columns swapped in a row or by name, a duplicated or deleted row, a bigint moved by
the 32-bit fold, or nothing), and asks both the fingerprint and the oracle (every row as text, sorted,
with the columns' names and types) whether the two sides are the same. They must agree, both ways: no
miss, and no false alarm. Fixed seeds in CI (`--hypothesis-profile ci`, the default); a longer run:
`uv run pytest tests/data/test_fingerprint_properties.py --hypothesis-profile long --hypothesis-seed N`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as st
from psycopg import sql

from statehub.data.dsn import Dsn, connect
from statehub.data.dumping import dump
from statehub.data.ephemeral import EphemeralServer
from statehub.data.fingerprint import diff_fingerprints, fingerprint
from statehub.data.freezing import freeze, unfreeze
from statehub.data.restoring import restore
from statehub.data.syncing import sync_back
from tests.data.conftest import create_db
from tests.data.generated_tables import Table, folded, oracle, tables

_schemas = itertools.count()


@dataclass(frozen=True)
class Pair:
    source: Dsn
    target: Dsn


@pytest.fixture(scope="module")
def same_server(pg16: EphemeralServer) -> Pair:
    return Pair(create_db(pg16), create_db(pg16))


@contextmanager
def both_sides(pair: Pair, table: Table) -> Iterator[tuple[psycopg.Connection[Any], str]]:
    """The table made in a schema of its own on both sides (dropped afterwards); yields the target's session."""
    schema = f"g{next(_schemas)}"
    conns = [connect(dsn, autocommit=True) for dsn in (pair.source, pair.target)]
    try:
        for conn in conns:
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
            table.create(conn, schema)
        yield conns[1], schema
    finally:
        for conn in conns:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
            conn.close()


TABLES_FOR = {
    "none": tables(),
    "change": tables(least_rows=1),
    "move": tables(least_rows=2),
    "swap-in-row": tables(least_rows=1, twins=True),
    "swap-names": tables(twins=True),
    "duplicate": tables(least_rows=1, keyless=True),
    "delete": tables(least_rows=1),
    "fold": tables(least_rows=1, including="bigint") | tables(least_rows=1, including="domain over bigint"),
}
"""Tables each mutation can be applied to (the rest would only be rejected)."""


@dataclass(frozen=True)
class Target:
    """The target's copy of the generated table, and what a mutation may draw."""

    conn: psycopg.Connection[Any]
    schema: str
    table: Table
    data: st.DataObject

    @property
    def t(self) -> sql.Composable:
        return sql.SQL("{}.t").format(sql.Identifier(self.schema))

    def cast(self, column: str) -> sql.Composable:
        kind = dict(self.table.columns)[column]
        return sql.SQL(kind.sql.format(schema=sql.Identifier(self.schema).as_string(self.conn)))

    def row(self, label: str = "row", other_than: str = "") -> str:
        rows = [
            str(r[0])
            for r in self.conn.execute(sql.SQL("SELECT ctid FROM {} ORDER BY ctid").format(self.t))
            if str(r[0]) != other_than
        ]
        assume(rows)
        return self.data.draw(st.sampled_from(rows), label=label)

    def same_typed(self, *, keys: bool) -> list[str]:
        """Two columns of one type (none of them the key unless `keys`)."""
        groups: dict[str, list[str]] = {}
        for name, kind in self.table.columns:
            if keys or (name,) != self.table.key:
                groups.setdefault(kind.sql, []).append(name)
        pairs = [group[:2] for group in groups.values() if len(group) > 1]
        assume(pairs)
        return self.data.draw(st.sampled_from(pairs), label="columns")

    def set(self, column: str, value: str | None, row: str) -> None:
        statement = sql.SQL("UPDATE {} SET {} = %s::{} WHERE ctid = %s::tid")
        self.conn.execute(statement.format(self.t, sql.Identifier(column), self.cast(column)), (value, row))


def _change(target: Target) -> str:
    row = target.row()
    name = target.data.draw(st.sampled_from([n for n, _ in target.table.columns]), label="column")
    kind = dict(target.table.columns)[name]
    keyed = (name,) == target.table.key
    value = target.data.draw(kind.values if keyed else st.none() | kind.values, label="value")
    try:
        target.set(name, value, row)
    except psycopg.errors.UniqueViolation:
        assume(False)
    return f"change {name} of {row} to {value!r}"


def _move(target: Target) -> str:
    movable = [n for n, _ in target.table.columns if (n,) != target.table.key]
    assume(movable)
    row = target.row()
    other = target.row("other row", other_than=row)
    name = target.data.draw(st.sampled_from(movable), label="column")
    target.conn.execute(
        sql.SQL(
            "UPDATE {t} AS a SET {c} = b.{c} FROM {t} AS b "
            "WHERE (a.ctid, b.ctid) IN ((%s::tid, %s::tid), (%s::tid, %s::tid))"
        ).format(t=target.t, c=sql.Identifier(name)),
        (row, other, other, row),
    )
    return f"swap {name} between {row} and {other}"


def _swap_in_row(target: Target) -> str:
    row = target.row()
    first, second = target.same_typed(keys=False)
    target.conn.execute(
        sql.SQL("UPDATE {} SET {a} = {b}, {b} = {a} WHERE ctid = %s::tid").format(
            target.t, a=sql.Identifier(first), b=sql.Identifier(second)
        ),
        (row,),
    )
    return f"swap {first} and {second} in {row}"


def _swap_names(target: Target) -> str:
    first, second = target.same_typed(keys=True)
    for old, new in ((first, "tmp"), (second, first), ("tmp", second)):
        target.conn.execute(
            sql.SQL("ALTER TABLE {} RENAME {} TO {}").format(target.t, sql.Identifier(old), sql.Identifier(new))
        )
    return f"rename {first} <-> {second}"


def _duplicate(target: Target) -> str:
    row = target.row()
    target.conn.execute(sql.SQL("INSERT INTO {t} SELECT * FROM {t} WHERE ctid = %s::tid").format(t=target.t), (row,))
    return f"duplicate {row}"


def _delete(target: Target) -> str:
    row = target.row()
    target.conn.execute(sql.SQL("DELETE FROM {} WHERE ctid = %s::tid").format(target.t), (row,))
    return f"delete {row}"


def _fold(target: Target) -> str:
    """A bigint v becomes v XOR (k * (2^32 + 1)): the same under `hashint8extended`'s 32-bit fold."""
    wide = [n for n, c in target.table.columns if c.name in ("bigint", "domain over bigint")]
    name = target.data.draw(st.sampled_from(wide), label="column")
    row = target.row()
    found = target.conn.execute(
        sql.SQL("SELECT {}::text FROM {} WHERE ctid = %s::tid").format(sql.Identifier(name), target.t), (row,)
    ).fetchone()
    value = found[0] if found else None
    assume(value is not None)
    moved = folded(str(value))
    assume(moved != "-9223372036854775808")  # the domain's CHECK refuses it
    target.set(name, moved, row)
    return f"fold {name} of {row}: {value} -> {moved}"


MUTATE = {
    "none": lambda target: "none",
    "change": _change,
    "move": _move,
    "swap-in-row": _swap_in_row,
    "swap-names": _swap_names,
    "duplicate": _duplicate,
    "delete": _delete,
    "fold": _fold,
}


@pytest.mark.parametrize("kind", list(TABLES_FOR))
@settings(deadline=None, max_examples=30, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_compare_agrees_with_the_oracle(same_server: Pair, kind: str, data: st.DataObject) -> None:
    table = data.draw(TABLES_FOR[kind], label="table")
    with both_sides(same_server, table) as (target, schema):
        what = MUTATE[kind](Target(target, schema, table, data))
        note(what)
        with connect(same_server.source) as conn:
            source_text = oracle(conn, schema)
        target_text = oracle(target, schema)
        differences = diff_fingerprints(fingerprint(same_server.source), fingerprint(same_server.target))
        oracle_says_same = source_text == target_text
        assert (not differences) == oracle_says_same, (
            f"{what}: fingerprint {'equal' if not differences else [d.as_dict() for d in differences]}, "
            f"oracle {'equal' if oracle_says_same else 'different'}"
        )


@pytest.mark.parametrize(("source_major", "target_major"), [(15, 17), (16, 17), (17, 18)])
@settings(deadline=None, max_examples=8, suppress_health_check=list(HealthCheck))
@given(table=tables(most_rows=5))
def test_an_honest_copy_across_majors_compares_equal(
    servers: Any, tmp_path_factory: pytest.TempPathFactory, source_major: int, target_major: int, table: Table
) -> None:
    """pg_dump on the source's major, pg_restore into the target's: whatever the values, no false alarm."""
    source = create_db(servers(source_major))
    with connect(source, autocommit=True) as conn:
        table.create(conn, "public")
    out: Path = tmp_path_factory.mktemp("copy") / "dump"
    dump(source, out, compress=False)
    report = restore(out, create_db(servers(target_major)))
    assert report.result == "pass", report.details["differences"]


@pytest.fixture(scope="module")
def rollback_pair(pg16: EphemeralServer) -> Pair:
    """WSL2 (source) and the cluster (target) of a rollback."""
    return Pair(create_db(pg16), create_db(pg16))


@pytest.mark.parametrize("kind", [k for k in TABLES_FOR if k != "swap-names"])
@settings(deadline=None, max_examples=15, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_sync_back_makes_wsl2_what_the_oracle_calls_equal(rollback_pair: Pair, kind: str, data: st.DataObject) -> None:
    """The cluster takes a write after cutover; the rollback's sync must leave WSL2 equal to it by the oracle,
    and say pass only then (a false 'equal' would lose the cluster's write)."""
    table = data.draw(TABLES_FOR[kind], label="table")
    with both_sides(rollback_pair, table) as (cluster, schema):
        what = MUTATE[kind](Target(cluster, schema, table, data))
        note(what)
        freeze(rollback_pair.source, app_roles=[], probe=None)
        try:
            report = sync_back(rollback_pair.target, rollback_pair.source)
        finally:
            unfreeze(rollback_pair.source, probe=None)
        with connect(rollback_pair.source) as conn:
            wsl2_text = oracle(conn, schema)
        assert report.result == "pass", (what, report.details["differences"])
        assert wsl2_text == oracle(cluster, schema), what
