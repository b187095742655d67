"""Evidence recorded as a workplan task's progress: what is sent (the report's kind, result, file name and
sha256, nothing else), a State Hub that does not take it (a warning, the evidence written, the script's exit
code its own), and what is refused before anything is touched (a freeze, a task id that is no UUID, a route
that is no template, a file that is no report)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, cast

import pytest

from standins.state_hub.serving import serving
from standins.state_hub.synthetic import MIGRATION_TASKS
from statehub.data.dsn import Dsn, connect
from statehub.data.freezing import is_frozen
from tests.data.conftest import NewDb, compare_cli, no_password, script_env
from tests.hostile_api import hostile_api
from tests.script_runner import run_script

T06 = MIGRATION_TASKS[5][1]


def _events(database: Dsn, task: str) -> list[dict[str, Any]]:
    with connect(database) as conn:
        rows = conn.execute(
            "SELECT e.payload FROM progress_events e JOIN tasks t ON t.id = e.task_id "
            "WHERE t.uid = %s AND e.kind = 'evidence' ORDER BY e.id",
            (task,),
        ).fetchall()
    return [cast("dict[str, Any]", row[0]) for row in rows]  # jsonb objects come back as dicts


def test_a_compare_is_recorded_with_its_digest_and_nothing_else(new_db: NewDb, tmp_path: Path) -> None:
    source, target = new_db(scale=1), new_db(scale=1)
    report = tmp_path / "restore-compare.json"
    with serving(source.url()) as live:
        done = compare_cli(source, target, report, "--record-progress", T06, "--progress-api", live)
    assert done.returncode == 0, done.stderr
    [payload] = _events(source, T06)
    assert payload == {
        "script": "compare",
        "report_kind": "compare",
        "result": "pass",
        "created_at": payload["created_at"],
        "evidence_file": "restore-compare.json",
        "evidence_sha256": hashlib.sha256(report.read_bytes()).hexdigest(),
    }
    password = source.get("password")
    assert password and password not in json.dumps(payload)


@pytest.mark.parametrize("where", ["redirect", "nothing there"])
def test_a_refused_record_is_a_warning_and_the_evidence_stays(new_db: NewDb, tmp_path: Path, where: str) -> None:
    source = new_db(scale=1)
    report = tmp_path / "compare.json"
    with hostile_api("redirect") as api:
        url = api.url if where == "redirect" else "http://127.0.0.1:9"
        done = compare_cli(source, source, report, "--record-progress", T06, "--progress-api", url)
    assert done.returncode == 0, done.stderr  # the compare passed; the record is not its verdict
    assert json.loads(report.read_text())["result"] == "pass"
    assert "warning: the State Hub did not take the progress record" in done.stderr
    assert f"record_progress.py --evidence {report} --record-progress {T06}" in done.stderr


def test_the_record_can_be_made_later(new_db: NewDb, tmp_path: Path) -> None:
    source = new_db(scale=1)
    report = tmp_path / "compare.json"
    assert compare_cli(source, source, report).returncode == 0
    with serving(source.url()) as live:
        done = run_script(
            "record_progress.py", "--evidence", str(report), "--record-progress", T06, "--progress-api", live
        )
        unknown = run_script(
            "record_progress.py",
            "--evidence",
            str(report),
            "--record-progress",
            "00000000-0000-4000-8000-000000000000",
            "--progress-api",
            live,
        )
    assert done.returncode == 0, done.stderr
    assert [e["evidence_file"] for e in _events(source, T06)] == ["compare.json"]
    assert unknown.returncode == 1 and "HTTP 404" in unknown.stderr


def test_a_freeze_is_never_recorded_on_the_side_it_freezes(new_db: NewDb, tmp_path: Path) -> None:
    source = new_db(scale=1)
    report = tmp_path / "freeze.json"
    done = run_script(
        "freeze.py",
        "--target",
        no_password(source),
        "--report",
        str(report),
        "--record-progress",
        T06,
        env=script_env(source),
    )
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "nothing is written to a frozen side" in done.stderr
    assert not report.exists() and not is_frozen(source)


REFUSED = {
    "task id": (["--record-progress", "T06"], "is not a task's UUID"),
    "route": (["--record-progress", T06, "--progress-path", "/progress"], "is not a route template"),
    "route braces": (["--record-progress", T06, "--progress-path", "/t/{task_id}/{x}"], "only {task_id}"),
    "route query": (["--record-progress", T06, "--progress-path", "/t/{task_id}?token=x"], "is not a route"),
    "api": (["--record-progress", T06, "--progress-api", "http://u:p@127.0.0.1:1"], "carries credentials"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_bad_record_flags_are_refused_first(case: str, tmp_path: Path) -> None:
    flags, expected = REFUSED[case]
    evidence = tmp_path / "some.json"
    evidence.write_text("{}")
    done = run_script("record_progress.py", "--evidence", str(evidence), *flags)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and expected in done.stderr, done.stderr


def test_a_file_that_is_no_report_is_refused(tmp_path: Path) -> None:
    evidence = tmp_path / "notes.json"
    evidence.write_text('{"kind": "x"}')
    done = run_script("record_progress.py", "--evidence", str(evidence), "--record-progress", T06)
    assert done.returncode == 2 and done.stderr.startswith(f"error: --evidence {evidence}")
