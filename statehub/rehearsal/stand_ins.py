"""The rehearsal's stand-ins for the workstation and the cluster: roles, client writes, resets, and
the bare copy every window is measured against."""

from __future__ import annotations

import json
import secrets
import subprocess
import time

from psycopg import sql

from statehub.data.dsn import Dsn, connect
from statehub.data.ephemeral import EphemeralServer
from statehub.data.pgtools import find_tool, server_major_of, tool_major
from statehub.data.restoring import RESTORE_FLAGS
from statehub.policy.settings import DATABASE_OWNER

DATABASE = "state_hub"
APP_ROLE = "state_hub_app"
"""The workstation's application role."""
CLUSTER_OWNER = DATABASE_OWNER
"""On the cluster the app connects as the database owner (cnpg's initdb owner)."""


def grant_app(dsn: Dsn) -> None:
    with connect(dsn, autocommit=True) as conn:
        conn.execute(
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(dsn.dbname), sql.Identifier(APP_ROLE))
        )
        for statement in (
            "GRANT USAGE ON SCHEMA public TO {}",
            "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {}",
            "GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {}",
        ):
            conn.execute(sql.SQL(statement).format(sql.Identifier(APP_ROLE)))


def create_cluster_owner(server: EphemeralServer) -> Dsn:
    """What cnpg's initdb makes: the database owned by `state_hub`, a login that is not a superuser and
    holds no CREATEROLE; it is also the role the app connects as. Returns the owner's DSN."""
    password = secrets.token_urlsafe(18)
    with connect(server.dsn("postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB PASSWORD {}").format(
                sql.Identifier(CLUSTER_OWNER), sql.Literal(password)
            )
        )
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(DATABASE), sql.Identifier(CLUSTER_OWNER))
        )
    return server.dsn(DATABASE).replace(user=CLUSTER_OWNER, password=password)


def create_app_role(server: EphemeralServer) -> Dsn:
    password = secrets.token_urlsafe(18)
    with connect(server.dsn("postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(APP_ROLE), sql.Literal(password))
        )
    return server.dsn(DATABASE).replace(user=APP_ROLE, password=password)


def simulate_writes(app: Dsn, label: str, count: int, *, synthetic: bool) -> int:
    """What the State Hub's clients do: new progress events, a task moving on, a token event."""
    with connect(app) as conn, conn.cursor() as cursor:
        if not synthetic:
            cursor.executemany(
                "INSERT INTO rehearsal_writes (label, i) VALUES (%s, %s)", [(label, i) for i in range(count)]
            )
            conn.commit()
            return count
        cursor.executemany(
            "INSERT INTO progress_events (task_id, kind, payload) VALUES (1 + %s %% 900, 'note', %s)",
            [(i, json.dumps({"by": label, "i": i})) for i in range(count)],
        )
        conn.execute("UPDATE tasks SET status = 'done', notes = %s WHERE id IN (2, 3)", (f"closed during {label}",))
        conn.execute("INSERT INTO token_events (agent, tokens, cost) VALUES (%s, 1234, 0.0123)", (label,))
        conn.commit()
    return count + 3


def checkpoint(*dsns: Dsn) -> None:
    """Flush both servers before a timed copy, so a checkpoint the earlier steps made due does not
    land inside one measurement and not the other."""
    for dsn in dsns:
        with connect(dsn, autocommit=True) as conn:
            conn.execute("CHECKPOINT")


def bare_copy_seconds(source: Dsn, target: Dsn) -> float:
    """`pg_dump -Fc -Z0 | pg_restore` of the same database into the empty `target`: the reference cost."""
    pg_dump = find_tool("pg_dump", at_least=server_major_of(source))  # the tools the final copy picks
    pg_restore = find_tool("pg_restore", at_least=tool_major(pg_dump), at_most=server_major_of(target))
    started = time.monotonic()
    dumper = subprocess.Popen(
        [str(pg_dump), "-Fc", "-Z0", "-d", source.dbname],
        stdout=subprocess.PIPE,
        env=source.child_env(),
    )
    restored = subprocess.run(
        [str(pg_restore), *RESTORE_FLAGS, "-d", target.dbname],  # the flags of the final copy
        stdin=dumper.stdout,
        env=target.child_env(),
        capture_output=True,
        check=False,
    )
    if dumper.stdout:
        dumper.stdout.close()
    if dumper.wait() != 0 or restored.returncode != 0:
        raise RuntimeError(f"bare copy failed: {restored.stderr.decode(errors='replace')[-300:]}")
    return round(time.monotonic() - started, 3)
