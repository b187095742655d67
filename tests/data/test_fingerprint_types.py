"""The row hash sees a change in a column of every kind the State Hub uses, including the kinds
hashed natively (not as text) and the ones hashed as text (enums, numerics, floats)."""

from __future__ import annotations

import pytest

from statehub.data.dsn import connect
from statehub.data.ephemeral import EphemeralServer
from statehub.data.fingerprint import fingerprint
from tests.data.conftest import create_db

CHANGES = [
    ("text", "tasks", "UPDATE tasks SET title = 'x' WHERE id = 3"),
    ("enum", "tasks", "UPDATE tasks SET status = 'blocked' WHERE id = 1"),
    ("real", "tasks", "UPDATE tasks SET priority = priority + 0.5 WHERE id = 3"),
    ("date", "tasks", "UPDATE tasks SET due = due + 1 WHERE id = 3"),
    ("timestamptz", "tasks", "UPDATE tasks SET created_at = created_at + interval '1 microsecond' WHERE id = 3"),
    ("bigint", "tasks", "UPDATE tasks SET workstream_id = workstream_id % 117 + 1 WHERE id = 3"),
    ("jsonb", "progress_events", "UPDATE progress_events SET payload = payload || '{\"x\": 1}' WHERE id = 3"),
    (
        "jsonb null vs JSON null",
        "progress_events",
        "UPDATE progress_events SET payload = 'null' WHERE payload IS NULL OR id = 3",
    ),
    ("bytea", "token_events", "UPDATE token_events SET raw = raw || '\\x00'::bytea WHERE id = 3"),
    ("numeric", "token_events", "UPDATE token_events SET cost = cost + 0.000001 WHERE id = 3"),
    ("domain", "token_events", "UPDATE token_events SET tokens = tokens + 1 WHERE id = 3"),
    ("uuid", "decisions", "UPDATE decisions SET id = md5('other')::uuid WHERE summary = 'decision 3'"),
    ("two columns swapped", "repos", "UPDATE repos SET name = url, url = name WHERE id = 3"),
    ("empty string vs NULL", "agent_notes", "UPDATE agent_notes SET note = NULL WHERE note = ''"),
]


@pytest.mark.parametrize(("label", "table", "statement"), CHANGES, ids=[c[0] for c in CHANGES])
def test_a_change_of_each_column_kind_changes_the_table_hash(
    pg16: EphemeralServer, label: str, table: str, statement: str
) -> None:
    dsn = create_db(pg16, scale=1)
    before = fingerprint(dsn)["tables"][f"public.{table}"]
    with connect(dsn, autocommit=True) as conn:
        changed = conn.execute(statement.encode()).rowcount
    assert changed >= 1, f"{label}: the statement changed no row"
    after = fingerprint(dsn)["tables"][f"public.{table}"]
    assert after["rows"] == before["rows"]
    assert after["hash"] != before["hash"], label
