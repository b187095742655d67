"""Freeze and unfreeze the source database, and prove each.

`default_transaction_read_only` alone is no freeze (any session can turn it off), so a freeze
also sets the application roles' connection limit to 0 (superusers bypass it: the operator's own
session still works) and ends their sessions. What it changed is recorded in the database's own
setting `statehub.freeze`, so unfreeze reverts exactly that. Both are idempotent.
"""

from __future__ import annotations

import json
from typing import Any

import psycopg
from psycopg import sql

from statehub.dsn import ConnectError, Dsn, connect
from statehub.errors import Refused
from statehub.fingerprint import fingerprint, fingerprint_digest
from statehub.reports import Report

STATE_SETTING = "statehub.freeze"


def _roles(conn: psycopg.Connection[Any], requested: list[str]) -> tuple[list[str], list[str]]:
    """Application roles to lock out, and superusers among the requested (which no setting can freeze)."""
    me = str((conn.execute("SELECT current_user").fetchone() or [""])[0])
    rows = conn.execute("SELECT rolname, rolsuper FROM pg_roles WHERE rolcanlogin AND rolname <> %s", (me,)).fetchall()
    known = {str(name): bool(sup) for name, sup in rows}
    if requested:
        unknown = [r for r in requested if r not in known]
        if unknown:
            raise Refused(f"--app-role {unknown[0]!r} is not a login role of this server (known: {', '.join(known)})")
        chosen = requested
    else:
        chosen = [r for r, sup in known.items() if not sup]
    return [r for r in chosen if not known[r]], [r for r in chosen if known[r]]


def _state(conn: psycopg.Connection[Any], dbname: str) -> dict[str, int] | None:
    row = conn.execute(
        """SELECT s.setconfig FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase
        WHERE d.datname = %s AND s.setrole = 0""",
        (dbname,),
    ).fetchone()
    for item in row[0] if row and row[0] else []:
        key, _, value = str(item).partition("=")
        if key == STATE_SETTING:
            parsed: dict[str, int] = json.loads(value)
            return parsed
    return None


def is_frozen(dsn: Dsn) -> bool:
    """True while a freeze made by this tool holds on the database at `dsn`."""
    with connect(dsn, autocommit=True) as conn:
        return _state(conn, dsn.dbname) is not None


def operator_session(conn: psycopg.Connection[Any]) -> None:
    """Only the operator's superuser session may write while frozen (e.g. to freeze again or unfreeze)."""
    row = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()
    if not row or not row[0]:
        raise Refused("this needs the operator's superuser session: connect as a superuser (e.g. postgres)")
    conn.execute("SET default_transaction_read_only = off")


def probe_write(dsn: Dsn, locked_roles: list[str] | None = None) -> str:
    """Try to write the way a client that fights the freeze would; nothing persists (rolled back).

    Only two outcomes prove a freeze, and they start with "refused:": the application role logged
    in (its password was right) and was turned away by its connection limit of 0, or it connected
    and its write failed because the transaction is read-only. A probe that could not log in for
    any other reason (wrong password, port, database or role), or whose write failed for another
    reason, proves nothing: "inconclusive: ...". "write accepted" means the database is writable.
    """
    role = dsn.get("user") or ""
    if locked_roles is not None and role not in locked_roles:
        return f"inconclusive: the probe's role {role!r} is not one of the frozen application roles {locked_roles}"
    try:
        conn = connect(dsn)
    except ConnectError as error:
        if f'too many connections for role "{role}"' in str(error):
            return f"refused: the application role {role!r} authenticated and was locked out (connection limit 0)"
        return f"inconclusive: the probe could not log in, which proves nothing ({error})"
    with conn:
        try:
            conn.execute("SET default_transaction_read_only = off")
            conn.execute("BEGIN READ WRITE")
            conn.execute("CREATE TEMP TABLE statehub_write_probe (x int)")
        except psycopg.errors.ReadOnlySqlTransaction as error:
            return f"refused: {str(error).strip().splitlines()[0]}"
        except psycopg.Error as error:
            return f"inconclusive: the write failed for another reason ({str(error).strip().splitlines()[0]})"
        finally:
            conn.rollback()
    return "write accepted"


def freeze(dsn: Dsn, *, app_roles: list[str], probe: Dsn | None) -> Report:
    dbname = dsn.dbname
    with connect(dsn, autocommit=True) as conn:
        operator_session(conn)
        roles, superusers = _roles(conn, app_roles)
        state = _state(conn, dbname)
        if state is None:
            state = {
                str(r): int(str(limit))
                for r, limit in conn.execute(
                    "SELECT rolname, rolconnlimit FROM pg_roles WHERE rolname = ANY(%s)", (roles,)
                ).fetchall()
            }
            conn.execute(
                sql.SQL("ALTER DATABASE {} SET {} = {}").format(
                    sql.Identifier(dbname), sql.Identifier(STATE_SETTING), sql.Literal(json.dumps(state))
                )
            )
        conn.execute(sql.SQL("ALTER DATABASE {} SET default_transaction_read_only = on").format(sql.Identifier(dbname)))
        for role in roles:
            conn.execute(sql.SQL("ALTER ROLE {} CONNECTION LIMIT 0").format(sql.Identifier(role)))
        ended = conn.execute(
            """SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
            WHERE datname = %s AND usename = ANY(%s) AND pid <> pg_backend_pid()""",
            (dbname, roles),
        ).fetchone()
        other_superusers = conn.execute(
            """SELECT DISTINCT a.usename FROM pg_stat_activity a JOIN pg_roles r
            ON r.rolname = a.usename WHERE a.datname = %s AND r.rolsuper AND a.pid <> pg_backend_pid()""",
            (dbname,),
        ).fetchall()
    warnings = [f"application role {r!r} is a superuser: no database setting can freeze it" for r in superusers]
    warnings += [f"superuser {r[0]!r} has other sessions on {dbname}: they can still write" for r in other_superusers]
    probe_result = probe_write(probe, roles) if probe else None
    if probe and probe.dbname != dbname:
        probe_result = f"inconclusive: the probe names database {probe.dbname!r}, the freeze is of {dbname!r}"
    fp = fingerprint(dsn)
    frozen = probe_result is None or probe_result.startswith("refused:")
    return Report(
        kind="freeze",
        result="pass" if frozen and not superusers else "fail",
        details={
            "database": dbname,
            "dsn": dsn.masked(),
            "locked_roles": roles,
            "previous_connection_limits": state,
            "sessions_ended": int(str(ended[0])) if ended else 0,
            "warnings": warnings,
            "proof": {
                "probe": probe.masked() if probe else None,
                "write_attempt": probe_result,
                "method": "new session of the application role, read-only turned off" if probe else "catalog only",
            },
            "fingerprint": fp,
            "fingerprint_sha256": fingerprint_digest(fp),
        },
    )


def unfreeze(dsn: Dsn, *, probe: Dsn | None) -> Report:
    dbname = dsn.dbname
    with connect(dsn, autocommit=True) as conn:
        operator_session(conn)
        state = _state(conn, dbname) or {}
        for role, limit in state.items():
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
            if exists:
                conn.execute(
                    sql.SQL("ALTER ROLE {} CONNECTION LIMIT {}").format(sql.Identifier(role), sql.Literal(limit))
                )
        conn.execute(sql.SQL("ALTER DATABASE {} RESET default_transaction_read_only").format(sql.Identifier(dbname)))
        conn.execute(
            sql.SQL("ALTER DATABASE {} RESET {}").format(sql.Identifier(dbname), sql.Identifier(STATE_SETTING))
        )
    probe_result = probe_write(probe) if probe else None
    writable = probe_result is None or probe_result == "write accepted"
    return Report(
        kind="unfreeze",
        result="pass" if writable else "fail",
        details={
            "database": dbname,
            "dsn": dsn.masked(),
            "restored_connection_limits": state,
            "proof": {"probe": probe.masked() if probe else None, "write_attempt": probe_result},
        },
    )
