"""Objects a database holds that the fingerprint does not compare, named so the report can warn of them.

Each is left out for a reason a restore makes true: pg_dump does not carry it, or carries it only
with privileges the cluster's owner does not have, or it holds a credential that must not enter a
report. A database that has none of them gets no warning.
"""

from __future__ import annotations

from typing import Any

import psycopg

UNCHECKED = (
    (
        "SELECT count(*) FROM pg_catalog.pg_subscription WHERE subdbid = "
        "(SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())",
        "subscriptions: not restored without superuser and never compared (their connection strings are secrets)",
    ),
    (
        "SELECT count(*) FROM pg_catalog.pg_user_mappings",
        "user mappings of foreign servers: not compared (their options hold credentials); recreate them by hand",
    ),
    (
        "SELECT count(*) FROM pg_catalog.pg_seclabel",
        "security labels: not compared (they need the label provider loaded on both servers)",
    ),
    (
        "SELECT count(*) FROM pg_catalog.pg_default_acl",
        "default privileges (ALTER DEFAULT PRIVILEGES): restore runs --no-privileges, so they are not carried "
        "and not compared; grant them on the target by hand",
    ),
)


def unchecked_objects(conn: psycopg.Connection[Any]) -> list[str]:
    """One line per kind of uncompared object this database holds: how many, and why it is not compared."""
    found = []
    for query, why in UNCHECKED:
        row = conn.execute(query).fetchone()
        count = int(row[0]) if row else 0
        if count:
            found.append(f"{count} {why}")
    return found
