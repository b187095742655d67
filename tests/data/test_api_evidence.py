"""The API side of the evidence against the stand-in State Hub over real PostgreSQL: its migration, and
the compare's API part passing on equal sides and failing, naming the side and the field, when a side is
down, when the summaries differ, when a representative read is missing or differs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from standins.state_hub.serving import migrate, serving, serving_each
from statehub.data.api_checks import check_apis
from statehub.data.comparing import ApiCheck, compare_databases
from statehub.data.dsn import Dsn, connect
from statehub.data.fingerprint import fingerprint
from statehub.policy.api_contract import VOLATILE_FIELDS, api_part_problem
from tests.data.conftest import NewDb, no_password, script_env
from tests.script_runner import run_script


@pytest.fixture(scope="module")
def seeded_pair(pg16: Any) -> Iterator[tuple[Dsn, Dsn, str, str]]:
    """Two equal seeded State Hubs, each served by its own stand-in (only read by the tests that share it)."""
    from tests.data.conftest import create_db

    source, target = create_db(pg16, scale=1), create_db(pg16, scale=1)
    with serving_each([source.url(), target.url()]) as (source_api, target_api):
        yield source, target, source_api, target_api


def test_the_migration_creates_exactly_the_seeded_schema(new_db: NewDb) -> None:
    """`alembic upgrade head` (the migration Job) on an empty database gives the seeded schema and revision."""
    migrated, seeded = new_db(), new_db(scale=1)
    migrate(migrated.url())
    got, expected = fingerprint(migrated), fingerprint(seeded)
    assert got["schema"] == expected["schema"]
    assert got["alembic_revision"] == expected["alembic_revision"] == "8f2c1d9a4b7e"
    assert all(info["rows"] == 0 for name, info in got["tables"].items() if name != "public.alembic_version")


def test_equal_sides_pass_with_reads_chosen_from_the_data(seeded_pair: tuple[Dsn, Dsn, str, str]) -> None:
    _, target, source_api, target_api = seeded_pair
    part = check_apis(source_api, target_api, target, VOLATILE_FIELDS)
    assert part["result"] == "pass", part["problems"]
    assert [r["path"] for r in part["reads"]] == [
        "/state/workstreams/1",
        "/state/workstreams/117",
        "/state/repos/1",
        "/state/repos/23",
        "/state/tokens",
    ]
    assert part["summary"]["equal"] is True
    assert part["summary"]["source"]["counts"]["tasks"] == 989
    assert api_part_problem(part) is None  # what the gate recomputes agrees


def test_compare_cli_records_the_api_part(seeded_pair: tuple[Dsn, Dsn, str, str], tmp_path: Path) -> None:
    source, target, source_api, target_api = seeded_pair
    report = tmp_path / "compare.json"
    done = run_script(
        "compare.py",
        *("--source", no_password(source), "--target", no_password(target), "--report", str(report)),
        *("--source-api", source_api, "--target-api", target_api),
        env=script_env(source),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    api = json.loads(report.read_text())["details"]["api"]
    assert api["result"] == "pass" and len(api["reads"]) == 5


def test_a_side_that_is_down_fails_naming_that_side(seeded_pair: tuple[Dsn, Dsn, str, str]) -> None:
    _, target, source_api, _ = seeded_pair
    with serving(target.replace(password="wrong").url()) as locked_out:  # the API runs, its database refuses it
        part = check_apis(source_api, locked_out, target, VOLATILE_FIELDS)
    health = [p for p in part["problems"] if p["kind"] == "api-health"]
    assert [p["side"] for p in health] == ["target"]
    assert "HTTP 503" in health[0]["detail"]
    assert part["target"]["health"]["body"] == {"status": "error", "db": "unreachable"}


def test_a_side_that_does_not_answer_fails_naming_it(seeded_pair: tuple[Dsn, Dsn, str, str]) -> None:
    _, target, _, target_api = seeded_pair
    part = check_apis("http://127.0.0.1:9", target_api, target, VOLATILE_FIELDS)
    assert part["problems"][0]["side"] == "source" and "HTTP 0" in part["problems"][0]["detail"]
    assert part["result"] == "fail"


def test_summaries_that_differ_fail_naming_the_field(new_db: NewDb, tmp_path: Path) -> None:
    source, target = new_db(scale=1), new_db(scale=1)
    with connect(target, autocommit=True) as conn:
        conn.execute("UPDATE tasks SET status = 'blocked' WHERE id = 1")
    with serving_each([source.url(), target.url()]) as (source_api, target_api):
        report = compare_databases(source, target, source_label="s", api=ApiCheck(source_api, target_api))
    summary = [p for p in report.details["api"]["problems"] if p["kind"] == "api-summary"]
    assert summary and summary[0]["side"] == "both"
    assert summary[0]["field"].startswith("tasks_by_status."), summary
    assert "both sides /state/summary field tasks_by_status." in summary[0]["where"]
    read = [p for p in report.details["api"]["problems"] if p["kind"] == "api-read"]
    assert read and read[0]["where"].startswith("both sides /state/workstreams/")
    assert read[0]["field"].endswith(".status")
    assert report.result == "fail"


def test_an_api_wired_to_another_database_misses_the_representative_reads(
    new_db: NewDb, seeded_pair: tuple[Dsn, Dsn, str, str]
) -> None:
    """The target API answers healthy but serves an empty database: the reads chosen from the data are 404."""
    _, target, source_api, _ = seeded_pair
    empty = new_db()
    migrate(empty.url())
    with serving(empty.url()) as wrong_api:
        part = check_apis(source_api, wrong_api, target, VOLATILE_FIELDS)
    missing = [p for p in part["problems"] if p["kind"] == "api-read" and p["side"] == "target"]
    assert {p["where"] for p in missing} >= {
        "target API /state/workstreams/1 field status",
        "target API /state/repos/23 field status",
    }
    assert all(p["detail"] == "HTTP 404" for p in missing)
    assert api_part_problem(part) is not None
