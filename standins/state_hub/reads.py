"""What the stand-in answers, read with SQLAlchemy Core text queries over the synthetic schema.

Values come back JSON-ready and in a fixed order (keys ascending), so two servers holding the same
rows answer byte for byte the same.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import uuid
from typing import Any

from sqlalchemy import Connection, text

LATEST = 5
"""How many of the newest items of each kind the summary lists."""

_COUNTED = ("workstreams", "tasks", "decisions", "progress_events", "repos", "token_events")
_LATEST_QUERIES = {
    "workstreams": "SELECT id, name, created_at FROM workstreams ORDER BY created_at DESC, id DESC LIMIT :n",
    "tasks": "SELECT id, title, status::text AS status, created_at FROM tasks ORDER BY created_at DESC, id DESC LIMIT :n",
    "decisions": "SELECT id, summary, decided_at FROM decisions ORDER BY decided_at DESC, id DESC LIMIT :n",
    "progress_events": "SELECT id, task_id, kind, at FROM progress_events ORDER BY at DESC, id DESC LIMIT :n",
}


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    return value


def _rows(conn: Connection, query: str, **params: Any) -> list[dict[str, Any]]:
    return [{k: _plain(v) for k, v in row._mapping.items()} for row in conn.execute(text(query), params)]


def _one(conn: Connection, query: str, **params: Any) -> dict[str, Any] | None:
    rows = _rows(conn, query, **params)
    return rows[0] if rows else None


def ping(conn: Connection) -> None:
    conn.execute(text("SELECT 1"))


def summary(conn: Connection) -> dict[str, Any]:
    """What the MCP tool `get_state_summary()` shows: counts, tasks by status, the newest items, token totals."""
    counts = {table: conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() for table in _COUNTED}
    by_status = {
        r["status"]: r["n"]
        for r in _rows(conn, "SELECT status::text AS status, count(*) AS n FROM tasks GROUP BY 1 ORDER BY 1")
    }
    return {
        "generated_at": dt.datetime.now(dt.UTC).isoformat(),
        "schema_revision": conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one_or_none(),
        "counts": counts,
        "tasks_by_status": by_status,
        "latest": {kind: _rows(conn, query, n=LATEST) for kind, query in _LATEST_QUERIES.items()},
        "tokens": token_totals(conn),
    }


def workstream(conn: Connection, key: int | uuid.UUID) -> dict[str, Any] | None:
    """One workstream (by its number or its UUID) with its repo, tasks, decisions and its tasks' progress events."""
    by = "uid" if isinstance(key, uuid.UUID) else "id"
    found = _one(
        conn,
        f"SELECT id, uid, name, description, repo_id, created_at, meta FROM workstreams WHERE {by} = :key",
        key=key,
    )
    if found is None:
        return None
    workstream_id = found["id"]
    found["tasks"] = _rows(
        conn,
        "SELECT id, uid, title, notes, status::text AS status, priority, due, created_at FROM tasks "
        "WHERE workstream_id = :id ORDER BY id",
        id=workstream_id,
    )
    found["decisions"] = _rows(
        conn,
        "SELECT id, summary, rationale, decided_at FROM decisions WHERE workstream_id = :id ORDER BY id",
        id=workstream_id,
    )
    found["progress_events"] = _rows(
        conn,
        "SELECT e.id, e.task_id, e.kind, e.payload, e.at FROM progress_events e JOIN tasks t ON t.id = e.task_id "
        "WHERE t.workstream_id = :id ORDER BY e.id",
        id=workstream_id,
    )
    return found


def task(conn: Connection, uid: uuid.UUID) -> dict[str, Any] | None:
    """One task by its UUID, with its workstream's UUID."""
    return _one(
        conn,
        "SELECT t.uid, w.uid AS workstream, t.title, t.status::text AS status, t.created_at FROM tasks t "
        "JOIN workstreams w ON w.id = t.workstream_id WHERE t.uid = :uid",
        uid=uid,
    )


def add_progress(conn: Connection, uid: uuid.UUID, kind: str, payload: dict[str, Any]) -> int | None:
    """A progress event on the task `uid` (committed); its id, or None when there is no such task."""
    added = conn.execute(
        text(
            "INSERT INTO progress_events (task_id, kind, payload) "
            "SELECT id, :kind, CAST(:payload AS jsonb) FROM tasks WHERE uid = :uid RETURNING id"
        ),
        {"uid": uid, "kind": kind, "payload": json.dumps(payload)},
    ).scalar_one_or_none()
    conn.commit()
    return added


def repo(conn: Connection, repo_id: int) -> dict[str, Any] | None:
    found = _one(conn, "SELECT id, name, url, default_branch FROM repos WHERE id = :id", id=repo_id)
    if found is not None:
        found["workstreams"] = [
            r["id"] for r in _rows(conn, "SELECT id FROM workstreams WHERE repo_id = :id ORDER BY id", id=repo_id)
        ]
    return found


def token_totals(conn: Connection) -> dict[str, Any]:
    per_agent = _rows(
        conn,
        "SELECT agent, count(*) AS events, sum(tokens)::bigint AS tokens, sum(cost) AS cost FROM token_events GROUP BY agent ORDER BY agent",
    )
    total = _one(
        conn,
        "SELECT count(*) AS events, coalesce(sum(tokens), 0)::bigint AS tokens, coalesce(sum(cost), 0) AS cost FROM token_events",
    )
    return {"total": total, "per_agent": per_agent}
