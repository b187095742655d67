"""The fingerprint of a database as evidence carries it: its typed shape and its digests.

Pure (no database, no Pulumi): the data tools write fingerprints in this shape, the gates and the
scripts that build on a report read them back, and both compute the same digests from them.
"""

from __future__ import annotations

import hashlib
import json
from typing import NotRequired, TypedDict

HASH_ALGORITHM = "rows-128/v2"
"""How `TableDigest.hash` is computed (statehub/data/row_hash.py). Fingerprints made by another
algorithm cannot be compared: the tools refuse the pair and say to take the older one again."""


class ReadAt(TypedDict):
    """Where the fingerprint's snapshot stood: what proves a later snapshot sees the same state."""

    snapshot: str
    """`pg_current_snapshot()`: xmin:xmax:in-progress."""
    server_started: str
    """`pg_postmaster_start_time()`: a restart ends the proof."""
    checkpoint: str
    """The control file's last checkpoint position: crash recovery writes a new one (the postmaster's
    start time survives a crash). Empty where the role may not read it (then nothing is provable)."""
    database_oid: str


class TableDigest(TypedDict):
    """One table's rows (or the large objects', without schema and name)."""

    schema: NotRequired[str]
    name: NotRequired[str]
    rows: int
    hash: str
    """Two exact sums of 64-bit mixed row hashes, `a:b` (a 128-bit multiset hash per row)."""
    primary_key: list[str]


class DatabaseIdentity(TypedDict):
    """Which database a fingerprint is of."""

    system_identifier: str | None
    """initdb's identifier of the server: new for every server, the same for each of its databases."""
    database: str | None


class Fingerprint(TypedDict):
    """Everything "the same database" means, and where and when it was read."""

    algorithm: str
    """`HASH_ALGORITHM` of the tool that read it."""
    server_version: str
    database: str
    system_identifier: str
    read_at: ReadAt
    schema: dict[str, list[str]]
    """Part name -> sorted signature lines (statehub/data/schema_signature.py)."""
    database_settings: list[str]
    """`ALTER DATABASE/ROLE ... SET` that apply to this database: reported, not compared."""
    sequences: dict[str, list[int | bool]]
    """`schema.name` -> [last_value, is_called]."""
    alembic_revision: str | None
    tables: dict[str, TableDigest]
    warnings: NotRequired[list[str]]
    """What the signature does not compare but found in this database (statehub/data/unchecked.py)."""


COMPARED = ("sequences", "schema", "alembic_revision")
"""The parts besides the tables' rows that make two fingerprints equal."""


def fingerprint_digest(fp: Fingerprint) -> str:
    """sha256 of what "the same database" means: rows, sequences, schema, Alembic revision and the hash
    algorithm (not the server's version, the database's name or when it was read)."""
    compared: dict[str, object] = {
        "algorithm": fp.get("algorithm", "rows-64/v1"),
        "sequences": fp["sequences"],
        "schema": fp["schema"],
        "alembic_revision": fp["alembic_revision"],
        "tables": {
            name: {"rows": info["rows"], "hash": info["hash"], "primary_key": info["primary_key"]}
            for name, info in fp["tables"].items()
        },
    }
    return _sha256(compared)


def read_digest(fp: Fingerprint) -> str:
    """sha256 of the fingerprint with where and when it was read: what a report that carries a fingerprint
    forward (the freeze) records, so an edited `read_at` or identity cannot pass as the one read."""
    return _sha256(
        {
            "fingerprint": fingerprint_digest(fp),
            "read_at": fp["read_at"],
            "identity": database_identity(fp),
        }
    )


def database_identity(fp: Fingerprint) -> DatabaseIdentity:
    return {"system_identifier": fp.get("system_identifier"), "database": fp.get("database")}


def _sha256(value: object) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()
