"""Empty a copy's target: every schema the copy brings, as the database's owner can (cnpg gives no superuser).

One reset for every copy into state-hub-db (the restore of stage restore, the final copy of cutover, the
rehearsal's cluster stand-in): it drops each user schema of the target (the copy brings all of its own),
`public` included and made again empty, and every large object, and says what it dropped. It refuses
the copy's own source (same server and database as the fingerprint it is given) and, unless asked to
`drop`, only lists what it would drop.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from statehub.data.dsn import Dsn, connect
from statehub.data.fingerprint import database_identity_of
from statehub.data.restoring import user_objects
from statehub.data.schema_signature import USER_SCHEMAS
from statehub.policy.fingerprints import Fingerprint
from statehub.policy.refusal import Refusal
from statehub.policy.report import Report

_SCHEMAS = f"""SELECT n.nspname FROM pg_namespace n WHERE {USER_SCHEMAS}
    AND NOT EXISTS (SELECT FROM pg_depend e WHERE e.objid = n.oid AND e.deptype = 'e') ORDER BY 1"""


def schemas_of(conn: psycopg.Connection[Any]) -> list[str]:
    return [str(row[0]) for row in conn.execute(_SCHEMAS)]


def reset_for_copy(target: Dsn, copy_of: Fingerprint, *, drop: bool) -> Report:
    """List (or, with `drop`, drop) what stands in the way of a copy of `copy_of` into `target`."""
    objects = user_objects(target)
    with connect(target, autocommit=True) as conn:
        identity = database_identity_of(conn)
        if (identity["system_identifier"], identity["database"]) == (
            copy_of["system_identifier"],
            copy_of["database"],
        ):
            raise Refusal(
                f"--target {target.masked()} is the copy's own source (server {identity['system_identifier']}, "
                f"database {identity['database']}): a reset empties the target of a copy, never its source"
            )
        schemas = schemas_of(conn)
        if drop:
            with conn.transaction():  # all or nothing
                for schema in schemas:
                    conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
                conn.execute("CREATE SCHEMA public")
                conn.execute("SELECT pg_catalog.lo_unlink(oid) FROM pg_catalog.pg_largeobject_metadata")
    left = user_objects(target) if drop else objects
    return Report(
        kind="reset",
        result="pass" if not drop or not left else "fail",
        details={
            "target": target.masked(),
            "dropped": drop,
            "schemas": schemas,
            "objects": objects,
            "left": left if drop else [],
            "copy_of": {"system_identifier": copy_of["system_identifier"], "database": copy_of["database"]},
        },
    )
