"""5,000 tables: a dump, its restore and a compare read them all in one snapshot without running the server
out of lock memory (a lock per table and index on one session is more than its lock table holds beside
pg_dump's), and a table truncated after the snapshot is refused, not read as empty."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from statehub.data.comparing import compare_databases
from statehub.data.dsn import Dsn, connect
from statehub.data.dumping import dump
from statehub.data.ephemeral import EphemeralServer, ephemeral_server
from statehub.data.fingerprint import fingerprint
from statehub.data.restoring import restore, user_objects
from statehub.data.row_hash import TableRewritten
from statehub.policy.refusal import Refusal
from tests.data.conftest import create_db

TABLES = 5000


@pytest.fixture(scope="module")
def default_sized() -> Iterator[EphemeralServer]:
    """A server with PostgreSQL's default max_connections (100), whose lock table a plain pg_dump of 5,000
    tables fits in (the tests' other servers are smaller)."""
    with ephemeral_server(tcp=True, settings={"max_connections": "100"}) as server:
        yield server


def many_tables(server: EphemeralServer) -> Dsn:
    dsn = create_db(server)
    with connect(dsn, autocommit=True) as conn:
        for first in range(1, TABLES + 1, 500):
            conn.execute(
                f"""DO $$ BEGIN FOR i IN {first}..{first + 499} LOOP
                    EXECUTE format('CREATE TABLE t%s (id serial PRIMARY KEY, v text);
                                    INSERT INTO t%s (v) VALUES (''a''), (''b'')', i, i);
                END LOOP; END $$"""
            )
    return dsn


def test_five_thousand_tables_dump_restore_and_compare(default_sized: EphemeralServer, tmp_path: Path) -> None:
    target = create_db(default_sized)
    source, twin = many_tables(default_sized), many_tables(default_sized)
    manifest = dump(source, tmp_path / "dump", compress=False)
    assert len(manifest.details["fingerprint"]["tables"]) == TABLES + 1  # and the large objects
    assert compare_databases(source, twin, source_label="source").result == "pass"
    with connect(twin, autocommit=True) as conn:
        conn.execute("UPDATE t4321 SET v = 'changed' WHERE id = 2")
    changed = compare_databases(source, twin, source_label="source")
    assert [d["where"] for d in changed.details["differences"]] == ["public.t4321"]
    with pytest.raises(Refusal, match=r"about \d+ locks, more than target .* has room for \(6400"):
        restore(tmp_path / "dump", target)  # one transaction cannot hold them all: said before it starts
    assert user_objects(target) == []


def test_a_table_truncated_after_the_snapshot_is_refused(pg16: EphemeralServer) -> None:
    """TRUNCATE is not MVCC-safe: a snapshot taken before it sees the table empty once it has committed. A helper
    that reaches the table afterwards must fail the fingerprint instead of hashing no rows."""
    source = create_db(pg16, scale=1)
    with connect(source, autocommit=True) as exporter:
        exporter.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        snapshot = str((exporter.execute("SELECT pg_export_snapshot()").fetchone() or [""])[0])
        with connect(source, autocommit=True) as other:
            other.execute("TRUNCATE agent_notes")
        with pytest.raises(TableRewritten, match="agent_notes was truncated or rewritten"):
            fingerprint(source, snapshot=snapshot)
        exporter.execute("COMMIT")
