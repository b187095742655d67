"""Every collision class of the fingerprint, tried on real PostgreSQL: each mutation of each shape
must be caught, and an honest dump and restore of each shape must compare equal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from statehub.data.comparing import compare_databases
from statehub.data.dsn import Dsn, connect
from statehub.data.dumping import dump
from statehub.data.ephemeral import EphemeralServer
from statehub.data.fingerprint import diff_fingerprints, fingerprint
from statehub.data.restoring import restore
from tests.data.conftest import create_db
from tests.data.shape_corpus import Shape, apply, load_shapes

SHAPES = load_shapes()


def shape_db(server: EphemeralServer, shape: Shape, mutation: str = "") -> Dsn:
    dsn = create_db(server)
    apply(dsn, shape.setup)
    if mutation:
        apply(dsn, mutation)
    return dsn


@pytest.mark.parametrize("shape", SHAPES, ids=[s.name for s in SHAPES])
def test_every_mutation_changes_the_fingerprint(pg16: EphemeralServer, shape: Shape) -> None:
    original = fingerprint(shape_db(pg16, shape))
    missed = []
    for name, statements in shape.mutations:
        if not diff_fingerprints(original, fingerprint(shape_db(pg16, shape, statements))):
            missed.append(name)
    assert not missed, f"{shape.name}: not caught: {missed}"


@pytest.mark.parametrize("shape", SHAPES, ids=[s.name for s in SHAPES])
def test_a_restored_copy_compares_equal(pg16: EphemeralServer, shape: Shape, tmp_path: Path) -> None:
    source = shape_db(pg16, shape)
    dump(source, tmp_path / "dump", compress=False)
    report = restore(tmp_path / "dump", create_db(pg16))
    assert report.result == "pass", report.details["differences"]


def test_a_role_that_cannot_read_every_row_fails_loudly(pg16: EphemeralServer) -> None:
    """Row-level security must not make a compare pass on the rows it hides."""
    dsn = create_db(pg16)
    apply(
        dsn,
        """CREATE TABLE secrets (id int PRIMARY KEY, owner text);
        INSERT INTO secrets VALUES (1, 'someone else');
        ALTER TABLE secrets ENABLE ROW LEVEL SECURITY;
        CREATE POLICY own ON secrets USING (owner = current_user);
        DO $$ BEGIN CREATE ROLE limited LOGIN PASSWORD 'limited'; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
        GRANT SELECT ON secrets TO limited;""",
    )
    limited = dsn.replace(user="limited", password="limited")
    with pytest.raises(Exception, match="row-level security"):
        fingerprint(limited)


def test_database_settings_are_reported_not_lost(pg16: EphemeralServer) -> None:
    """pg_dump does not carry ALTER DATABASE ... SET: the compare report says so."""
    source, target = create_db(pg16), create_db(pg16)
    with connect(source, autocommit=True) as conn:
        conn.execute(f"ALTER DATABASE \"{source.dbname}\" SET work_mem = '8MB'")
    report = compare_databases(source, target, source_label="source")
    assert report.result == "pass"
    assert any("work_mem=8MB" in w for w in report.details["warnings"]), report.details["warnings"]


XML_SETUP = """CREATE TABLE docs (id int PRIMARY KEY, body xml);
INSERT INTO docs VALUES (1, '<?xml version="1.0"?><a>1</a>'), (2, '<b/>');"""


def test_xml_with_a_declaration_round_trips_and_a_change_is_seen(servers: Any, tmp_path: Path) -> None:
    """xml keeps an XML declaration in storage that its output, and so pg_dump, drops: hashed as its output,
    an honest copy is equal and a changed document is not (Debian's 15 is built with libxml; pgserver's 16 not)."""
    server = servers(15)
    source = create_db(server)
    apply(source, XML_SETUP)
    dump(source, tmp_path / "dump", compress=False)
    report = restore(tmp_path / "dump", create_db(server))
    assert report.result == "pass", report.details["differences"]
    changed = create_db(server)
    apply(changed, XML_SETUP + "UPDATE docs SET body = '<?xml version=\"1.0\"?><a>2</a>' WHERE id = 1;")
    assert diff_fingerprints(fingerprint(source), fingerprint(changed))


def test_role_wide_settings_are_reported(pg16: EphemeralServer) -> None:
    """ALTER ROLE ... SET (for every database) can change what the app reads (its search_path): reported."""
    source, target = create_db(pg16), create_db(pg16)
    role = f"role_{source.dbname}"
    apply(source, f"CREATE ROLE {role} LOGIN; ALTER ROLE {role} SET search_path = audit, public;")
    report = compare_databases(source, target, source_label="source")
    assert any(f"{role} in every database: search_path=audit, public" in w for w in report.details["warnings"])
