"""Large tables are hashed in block ranges on several sessions: the ranges cover every row, whatever
the catalog's page estimate says, and the summed hash is the one-session hash."""

from __future__ import annotations

import pytest

from statehub.data import fingerprint as fingerprint_module
from statehub.data.dsn import Dsn, connect
from statehub.data.ephemeral import EphemeralServer
from statehub.data.fingerprint import block_ranges, fingerprint, fingerprint_in
from statehub.data.row_hash import TableRef
from statehub.policy.fingerprints import fingerprint_digest
from tests.data.conftest import create_db


def table(pages: int, kind: str = "r") -> TableRef:
    return TableRef("public", "t", "public.t", (), kind, pages=pages)


@pytest.mark.parametrize("pages", [0, 1, 1023, 1024, 2048, 5000, 1_000_000])
def test_ranges_are_contiguous_and_the_last_is_open(pages: int) -> None:
    ranges = block_ranges(table(pages), 8)
    assert ranges[0][0] == 0 and ranges[-1][1] is None
    assert all(ranges[i][1] == ranges[i + 1][0] for i in range(len(ranges) - 1))
    assert 1 <= len(ranges) <= 8
    assert len(ranges) == max(1, min(8, pages // fingerprint_module.RANGE_PAGES))


def test_a_partitioned_parent_is_one_range() -> None:
    assert block_ranges(table(50_000, "p"), 8) == [(0, None)]


def one_session(dsn: Dsn) -> str:
    with connect(dsn) as conn:
        return fingerprint_digest(fingerprint_in(conn))


@pytest.fixture
def tiny_ranges(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every page its own range (up to the most per table): the seeded tables are cut up too."""
    monkeypatch.setattr(fingerprint_module, "RANGE_PAGES", 1)


@pytest.mark.usefixtures("tiny_ranges")
def test_ranges_sum_to_the_one_session_hash(pg16: EphemeralServer) -> None:
    dsn = create_db(pg16, scale=1)
    with connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
        pages = conn.execute("SELECT relpages FROM pg_class WHERE relname = 'progress_events'").fetchone()
    assert pages is not None and int(str(pages[0])) > 8  # cut into the most ranges there may be
    assert fingerprint_digest(fingerprint(dsn)) == one_session(dsn)


@pytest.mark.usefixtures("tiny_ranges")
def test_rows_past_a_stale_page_estimate_are_hashed(pg16: EphemeralServer) -> None:
    dsn = create_db(pg16, scale=1)
    with connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
        before = fingerprint(dsn)
        # relpages stays as ANALYZE left it while the table grows (autovacuum is not that quick)
        conn.execute(
            "INSERT INTO progress_events (task_id, kind, payload, at) SELECT task_id, kind, payload, at"
            " FROM progress_events"
        )
    after = fingerprint(dsn)
    events = "public.progress_events"
    assert after["tables"][events]["rows"] == 2 * before["tables"][events]["rows"]
    assert fingerprint_digest(after) == one_session(dsn) != fingerprint_digest(before)


@pytest.mark.usefixtures("tiny_ranges")
def test_a_row_moved_between_ranges_changes_nothing_but_a_changed_one_does(pg16: EphemeralServer) -> None:
    dsn = create_db(pg16, scale=1)
    with connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
        before = fingerprint_digest(fingerprint(dsn))
        conn.execute("UPDATE progress_events SET kind = kind WHERE id = 1")  # a new row version, in another block
        assert fingerprint_digest(fingerprint(dsn)) == before
        conn.execute("UPDATE progress_events SET kind = kind || '!' WHERE id = 1")
    assert fingerprint_digest(fingerprint(dsn)) != before
