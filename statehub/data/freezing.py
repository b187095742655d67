"""Freeze and unfreeze the source database, and prove each.

`default_transaction_read_only` alone is no freeze (any session can turn it off), so a freeze
also sets the application roles' connection limit to 0 (superusers bypass it: the operator's own
session still works) and ends their sessions. What it changed is recorded in the database's own
setting `statehub.freeze`, so unfreeze reverts exactly that. Both are idempotent.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from statehub.data.dsn import ConnectError, Dsn, connect
from statehub.data.fingerprint import fingerprint
from statehub.data.report_files import read_passing_report
from statehub.policy.evidence import contradicts_itself
from statehub.policy.fingerprints import Fingerprint, fingerprint_digest, read_digest
from statehub.policy.refusal import Refusal
from statehub.policy.report import Report

STATE_SETTING = "statehub.freeze"


def _roles(conn: psycopg.Connection[Any], requested: list[str]) -> tuple[list[str], list[str]]:
    """Application roles to lock out, and superusers among the requested (which no setting can freeze)."""
    me = str((conn.execute("SELECT current_user").fetchone() or [""])[0])
    rows = conn.execute("SELECT rolname, rolsuper FROM pg_roles WHERE rolcanlogin AND rolname <> %s", (me,)).fetchall()
    known = {str(name): bool(sup) for name, sup in rows}
    if requested:
        unknown = [r for r in requested if r not in known]
        if unknown:
            raise Refusal(f"--app-role {unknown[0]!r} is not a login role of this server (known: {', '.join(known)})")
        chosen = requested
    else:
        chosen = [r for r, sup in known.items() if not sup]
    return [r for r in chosen if not known[r]], [r for r in chosen if known[r]]


def _database_settings(conn: psycopg.Connection[Any], dbname: str) -> dict[str, str]:
    """`ALTER DATABASE dbname SET ...` values (for all roles)."""
    row = conn.execute(
        """SELECT s.setconfig FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase
        WHERE d.datname = %s AND s.setrole = 0""",
        (dbname,),
    ).fetchone()
    return dict(str(item).partition("=")[::2] for item in (row[0] if row and row[0] else []))


def _state(conn: psycopg.Connection[Any], dbname: str) -> dict[str, Any] | None:
    """What the freeze of `dbname` changed, as it recorded it: {"roles": {role: limit}, "read_only": old}."""
    raw = _database_settings(conn, dbname).get(STATE_SETTING)
    if raw is None:
        return None
    parsed: dict[str, Any] = json.loads(raw)
    if "roles" not in parsed:  # recorded by an earlier version: role -> limit only
        parsed = {"roles": parsed, "read_only": None}
    return parsed


def _other_freezes(conn: psycopg.Connection[Any], dbname: str) -> dict[str, dict[str, Any]]:
    """The freezes of the server's other databases: a role locked by two freezes stays locked until both end."""
    names = [str(r[0]) for r in conn.execute("SELECT datname FROM pg_database WHERE datname <> %s", (dbname,))]
    return {name: state for name in names if (state := _state(conn, name)) is not None}


def is_frozen(dsn: Dsn) -> bool:
    """True while a freeze made by this tool holds on the database at `dsn`, checked, not trusted:
    the marker, the read-only default, every locked role at connection limit 0, none of their
    sessions left, no prepared transaction waiting."""
    with connect(dsn, autocommit=True) as conn:
        return not freeze_problems(conn, dsn.dbname)


def freeze_problems(conn: psycopg.Connection[Any], dbname: str) -> list[str]:
    """Why the freeze of `dbname` does not hold (empty when it does)."""
    state = _state(conn, dbname)
    if state is None:
        return [f"{dbname} carries no freeze marker ({STATE_SETTING})"]
    problems = []
    if _database_settings(conn, dbname).get("default_transaction_read_only") != "on":
        problems.append(f"{dbname}'s default_transaction_read_only is not on")
    roles = list(state["roles"])
    for role, limit in conn.execute("SELECT rolname, rolconnlimit FROM pg_roles WHERE rolname = ANY(%s)", (roles,)):
        if limit != 0:
            problems.append(f"role {role!r} may connect again (connection limit {limit})")
    sessions = conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND usename = ANY(%s) AND pid <> pg_backend_pid()",
        (dbname, roles),
    ).fetchone()
    if sessions and sessions[0]:
        problems.append(f"{sessions[0]} sessions of the locked roles are still connected to {dbname}")
    prepared = conn.execute("SELECT count(*) FROM pg_prepared_xacts WHERE database = %s", (dbname,)).fetchone()
    if prepared and prepared[0]:
        problems.append(
            f"{prepared[0]} prepared transactions wait on {dbname} (their writes would land after the freeze): "
            "COMMIT PREPARED or ROLLBACK PREPARED them first"
        )
    return problems


def operator_session(conn: psycopg.Connection[Any]) -> None:
    """Only the operator's superuser session may write while frozen (e.g. to freeze again or unfreeze)."""
    row = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()
    if not row or not row[0]:
        raise Refusal("this needs the operator's superuser session: connect as a superuser (e.g. postgres)")
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
    """Freeze all or nothing (one transaction), then end the locked roles' sessions and verify."""
    dbname = dsn.dbname
    with connect(dsn, autocommit=True) as conn:
        operator_session(conn)
        roles, superusers = _roles(conn, app_roles)
        role_makers = _role_makers(conn, roles)
        with conn.transaction():  # interrupted before this commits, nothing of the freeze exists
            state = _lock(conn, dbname, [*roles, *role_makers])
        locked = list(state["roles"])
        ended = conn.execute(
            """SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
            WHERE ((datname = %s AND usename = ANY(%s)) OR usename = ANY(%s)) AND pid <> pg_backend_pid()""",
            (dbname, locked, role_makers),
        ).fetchone()
        problems = _settled_problems(conn, dbname)
        other_superusers = conn.execute(
            """SELECT DISTINCT a.usename FROM pg_stat_activity a JOIN pg_roles r
            ON r.rolname = a.usename WHERE a.datname = %s AND r.rolsuper AND a.pid <> pg_backend_pid()""",
            (dbname,),
        ).fetchall()
        undoers = _who_can_undo(conn, dbname, locked)
    warnings = [f"application role {r!r} is a superuser: no database setting can freeze it" for r in superusers]
    warnings += [f"superuser {r[0]!r} has other sessions on {dbname}: they can still write" for r in other_superusers]
    warnings += undoers
    probe_result = probe_write(probe, locked) if probe else None
    if probe and probe.dbname != dbname:
        probe_result = f"inconclusive: the probe names database {probe.dbname!r}, the freeze is of {dbname!r}"
    fp = fingerprint(dsn)
    proven = probe_result is None or probe_result.startswith("refused:")
    return Report(
        kind="freeze",
        result="pass" if proven and not superusers and not problems else "fail",
        details={
            "database": dbname,
            "dsn": dsn.masked(),
            "locked_roles": locked,
            "previous_connection_limits": state["roles"],
            "previous_read_only_default": state["read_only"],
            "sessions_ended": int(str(ended[0])) if ended else 0,
            "problems": problems,
            "warnings": warnings,
            "proof": {
                "probe": probe.masked() if probe else None,
                "write_attempt": probe_result,
                "method": "new session of the application role, read-only turned off" if probe else "catalog only",
            },
            "fingerprint": fp,
            "fingerprint_sha256": fingerprint_digest(fp),
            "fingerprint_read_sha256": read_digest(fp),
        },
    )


def frozen_fingerprint(path: Path, *, flag: str = "--unchanged-since") -> Fingerprint:
    """The fingerprint a passing freeze report recorded, refused unless it is one and is the digest it
    claims (an edited fingerprint would let a dump vouch for rows it never read)."""
    remedy = "give the report scripts/freeze.py wrote (freeze again if it failed)"
    report = read_passing_report(path, "freeze", named=f"{flag} {path}", remedy=remedy)
    problem = contradicts_itself(report)
    if problem:
        raise Refusal(f"{flag} {path} says pass but {problem}: {remedy}")
    frozen: Fingerprint = report.details["fingerprint"]
    return frozen


def _role_makers(conn: psycopg.Connection[Any], locked: list[str]) -> list[str]:
    """Login roles with CREATEROLE (not superusers, not the operator): from any database of the server one of
    them could `ALTER ROLE app CONNECTION LIMIT -1` and undo the freeze. They are locked out too, and their
    sessions anywhere on the server ended; unfreeze gives their limits back."""
    rows = conn.execute(
        """SELECT rolname FROM pg_roles WHERE rolcanlogin AND rolcreaterole AND NOT rolsuper
        AND rolname <> current_user AND NOT (rolname = ANY(%s)) ORDER BY 1""",
        (locked,),
    ).fetchall()
    return [str(row[0]) for row in rows]


def _who_can_undo(conn: psycopg.Connection[Any], dbname: str, locked: list[str]) -> list[str]:
    """Roles and sessions that could lift the freeze or write past it, the operator's own and the locked ones
    excepted: other superusers, BYPASSRLS, and their sessions in the server's other databases (ALTER
    DATABASE/ROLE reach this one from anywhere). CREATEROLE roles are locked out with the freeze."""
    roles = conn.execute(
        """SELECT rolname, rolsuper, rolcreaterole, rolbypassrls FROM pg_roles
        WHERE rolcanlogin AND rolname <> current_user AND (rolsuper OR rolcreaterole OR rolbypassrls)
        AND NOT (rolname = ANY(%s)) ORDER BY rolname""",
        (locked,),
    ).fetchall()
    found = []
    for name, superuser, createrole, bypassrls in roles:
        powers = [
            p for p, has in (("SUPERUSER", superuser), ("CREATEROLE", createrole), ("BYPASSRLS", bypassrls)) if has
        ]
        found.append(f"login role {name!r} has {'/'.join(powers)}: it can undo the freeze or write past it")
    sessions = conn.execute(
        """SELECT DISTINCT a.usename, a.datname FROM pg_stat_activity a JOIN pg_roles r ON r.rolname = a.usename
        WHERE a.datname IS NOT NULL AND a.datname <> %s AND a.pid <> pg_backend_pid()
          AND (r.rolsuper OR r.rolcreaterole) AND NOT (r.rolname = ANY(%s)) ORDER BY 1, 2""",
        (dbname, locked),
    ).fetchall()
    found += [
        f"{user!r} has a session on database {other!r} of this server: from there it can undo the freeze"
        for user, other in sessions
    ]
    return found


def _lock(conn: psycopg.Connection[Any], dbname: str, roles: list[str]) -> dict[str, Any]:
    """Record what is about to change (once: a second freeze keeps the first record and adds roles),
    then set the read-only default and lock the roles out. Runs inside the caller's transaction."""
    state = _state(conn, dbname) or {
        "roles": {},
        "read_only": _database_settings(conn, dbname).get("default_transaction_read_only"),
    }
    already_locked = {
        r: limit for other in _other_freezes(conn, dbname).values() for r, limit in other["roles"].items()
    }
    for role, limit in conn.execute("SELECT rolname, rolconnlimit FROM pg_roles WHERE rolname = ANY(%s)", (roles,)):
        if role not in state["roles"]:  # the limit before any freeze, even one of another database
            state["roles"][str(role)] = already_locked.get(str(role), int(limit))
    conn.execute(
        sql.SQL("ALTER DATABASE {} SET {} = {}").format(
            sql.Identifier(dbname), sql.Identifier(STATE_SETTING), sql.Literal(json.dumps(state))
        )
    )
    conn.execute(sql.SQL("ALTER DATABASE {} SET default_transaction_read_only = on").format(sql.Identifier(dbname)))
    for role in state["roles"]:
        conn.execute(sql.SQL("ALTER ROLE {} CONNECTION LIMIT 0").format(sql.Identifier(role)))
    return state


def _settled_problems(conn: psycopg.Connection[Any], dbname: str) -> list[str]:
    """`freeze_problems` once ended sessions are gone (termination is asynchronous: up to 5 s)."""
    deadline = time.monotonic() + 5
    while (problems := freeze_problems(conn, dbname)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return problems


def unfreeze(dsn: Dsn, *, probe: Dsn | None) -> Report:
    """Put back exactly what the freeze changed, in one transaction; a role another database's freeze
    still locks stays locked until that one ends too."""
    dbname = dsn.dbname
    with connect(dsn, autocommit=True) as conn:
        operator_session(conn)
        with conn.transaction():
            state = _state(conn, dbname)
            if state is None:
                raise Refusal(f"{dsn.masked()} is not frozen (no freeze marker): nothing to unfreeze; check --target")
            still_locked = {r for other in _other_freezes(conn, dbname).values() for r in other["roles"]}
            restored = {}
            for role, limit in state["roles"].items():
                exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
                if exists and role not in still_locked:
                    conn.execute(
                        sql.SQL("ALTER ROLE {} CONNECTION LIMIT {}").format(sql.Identifier(role), sql.Literal(limit))
                    )
                    restored[role] = limit
            database = sql.Identifier(dbname)
            if state["read_only"] is None:
                conn.execute(sql.SQL("ALTER DATABASE {} RESET default_transaction_read_only").format(database))
            else:
                conn.execute(
                    sql.SQL("ALTER DATABASE {} SET default_transaction_read_only = {}").format(
                        database, sql.Literal(state["read_only"])
                    )
                )
            conn.execute(sql.SQL("ALTER DATABASE {} RESET {}").format(database, sql.Identifier(STATE_SETTING)))
    probe_result = probe_write(probe) if probe else None
    writable = probe_result is None or probe_result == "write accepted"
    return Report(
        kind="unfreeze",
        result="pass" if writable else "fail",
        details={
            "database": dbname,
            "dsn": dsn.masked(),
            "restored_connection_limits": restored,
            "kept_locked_by_other_freezes": sorted(set(state["roles"]) & still_locked),
            "restored_read_only_default": state["read_only"],
            "proof": {"probe": probe.masked() if probe else None, "write_attempt": probe_result},
        },
    )
