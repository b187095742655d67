"""File-backed workplans against a State Hub: the parser on the real format and on every malformed block
(one line each, the others still read), and the check against the stand-in finding a task the State Hub
lacks, a status that differs, a task it holds that the file does not list, an unknown workstream."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from standins.state_hub.serving import serving
from standins.state_hub.synthetic import MIGRATION_TASKS, MIGRATION_WORKSTREAM
from statehub.data.dsn import Dsn, connect
from statehub.data.workplan_check import check_workplans
from statehub.data.workplan_files import parse_workplan, read_workplans, render_workplan
from tests.hostile_api import hostile_api
from tests.script_runner import run_script

REAL_FORMAT = """---
id: CUST-WP-0011
type: workplan
state_hub_workstream_id: "967baafb-d92d-405a-ba0b-0d00d37c4940"
---

# A workplan

### T01

```task
id: CUST-WP-0011-T01
status: done
priority: high
state_hub_task_id: "b0caf112-dc1d-43a8-9f27-d627dd4aa2bf"
completed: "2026-05-02"
```

Text between blocks, with a fenced example that is no task:

```sh
uv run scripts/drill.py
```

```task
id: CUST-WP-0011-T02
status: in_progress
```
"""


def test_the_real_format_is_read() -> None:
    plan = parse_workplan(Path("wp.md"), REAL_FORMAT)
    assert plan.problems == ()
    assert plan.workstream_id == "967baafb-d92d-405a-ba0b-0d00d37c4940"
    assert [(t.key, t.status, t.state_hub_task_id, t.line) for t in plan.tasks] == [
        ("CUST-WP-0011-T01", "done", "b0caf112-dc1d-43a8-9f27-d627dd4aa2bf", 11),
        ("CUST-WP-0011-T02", "in_progress", None, 25),
    ]


MALFORMED = {
    "no id": ("```task\nstatus: todo\n```\n", "wp.md:1: the task block has no usable id"),
    "no status": ("```task\nid: X-T1\n```\n", "wp.md:1: task X-T1 has no status"),
    "not yaml": ("```task\nid: [unclosed\n```\n", "wp.md:1: the task block is not YAML"),
    "not a mapping": ("```task\n- a list\n```\n", "wp.md:1: the task block is not a list of `key: value` lines"),
    "bad uuid": (
        "```task\nid: X-T1\nstatus: todo\nstate_hub_task_id: nope\n```\n",
        "wp.md:1: task X-T1's state_hub_task_id 'nope' is not a UUID",
    ),
    "twice": (
        "```task\nid: X-T1\nstatus: todo\n```\n```task\nid: X-T1\nstatus: done\n```\n",
        "wp.md:5: task X-T1 is defined again (first at line 1)",
    ),
    "unclosed": ("```task\nid: X-T1\nstatus: todo\n", "wp.md:1: a task block is not closed with ``` before line 5"),
    "unclosed at the end": ("```task\nid: X-T1\n", "wp.md:"),
    "front matter unclosed": ("---\ntitle: x\n", "wp.md:1: the front matter is not closed with ---"),
    "front matter uuid": (
        "---\nstate_hub_workstream_id: 12\n---\n",
        "wp.md:2: state_hub_workstream_id '12' is not a UUID",
    ),
    "alias": ("```task\nid: &a X-T1\nstatus: *a\n```\n", "wp.md:1: the task block is not YAML"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_each_malformed_block_is_one_line_and_the_rest_is_read(case: str) -> None:
    text, expected = MALFORMED[case]
    good = "\n```task\nid: GOOD-T9\nstatus: todo\n```\n"
    plan = parse_workplan(Path("wp.md"), text + good)
    assert len(plan.problems) == 1 and plan.problems[0].startswith(expected), plan.problems
    if case not in ("unclosed at the end", "front matter unclosed"):  # those swallow what follows, as a reader would
        assert "GOOD-T9" in [t.key for t in plan.tasks]


def _seeded_workplan(folder: Path, tasks: list[tuple[str, str, str]] | None = None) -> Path:
    folder.mkdir(exist_ok=True)
    listed = tasks if tasks is not None else [(key, status, uid) for key, uid, status, _ in MIGRATION_TASKS]
    path = folder / "CUST-WP-0011.md"
    path.write_text(render_workplan("CUST-WP-0011", MIGRATION_WORKSTREAM, listed))
    return path


@pytest.fixture(scope="module")
def hub(pg16: Any) -> Iterator[tuple[Dsn, str]]:
    from tests.data.conftest import create_db

    database = create_db(pg16, scale=1)
    with serving(database.url()) as api:
        yield database, api


def test_a_consistent_workplan_passes(hub: tuple[Dsn, str], tmp_path: Path) -> None:
    _seeded_workplan(tmp_path / "plans")
    (tmp_path / "plans" / "README.md").write_text("# not a workplan\n")  # no front matter, no task: not read
    report = check_workplans(tmp_path / "plans", hub[1])
    assert report.result == "pass", report.details
    assert report.details["workplans"] == 1 and report.details["tasks"] == len(MIGRATION_TASKS)
    assert len(read_workplans(tmp_path / "plans")) == 1


def test_what_the_state_hub_lacks_or_holds_otherwise_is_found(hub: tuple[Dsn, str], tmp_path: Path) -> None:
    database, api = hub
    listed = [(key, status, uid) for key, uid, status, _ in MIGRATION_TASKS]
    stranger = str(uuid.uuid4())
    listed[1] = (listed[1][0], "blocked", listed[1][2])  # the file says blocked, the State Hub done
    dropped = listed.pop(4)  # the State Hub holds it, the file does not list it
    listed.append(("CUST-WP-0011-T10", "todo", stranger))  # the file names a task the State Hub lacks
    # a task of another workstream, claimed by this file
    moved = str(_value(database, "SELECT uid FROM tasks WHERE workstream_id = 2 ORDER BY id LIMIT 1"))
    status = str(_value(database, "SELECT status FROM tasks WHERE uid = %s", moved))
    listed.append(("CUST-WP-0011-T11", status, moved))
    _seeded_workplan(tmp_path / "plans", listed)
    report = check_workplans(tmp_path / "plans", api)
    found = {(item["kind"], item["detail"].split(":")[0]) for item in report.details["items"]}
    assert report.result == "fail"
    assert found == {
        ("status-differs", "task CUST-WP-0011-T02"),
        ("extra-task", f"task {dropped[2]} ({dropped[1]}) is in the workstream, not the file"),
        ("missing-task", f"task CUST-WP-0011-T10 ({stranger}) is not there"),
        (
            "moved-task",
            f"task CUST-WP-0011-T11 is in workstream {_workstream_of(database, moved)}, the file names "
            f"{MIGRATION_WORKSTREAM}",
        ),
    }, report.details["items"]


def _value(database: Dsn, query: str, *params: object) -> Any:
    with connect(database) as conn:
        row = conn.execute(query.encode(), params).fetchone()
    assert row is not None, query
    return row[0]


def _workstream_of(database: Dsn, task: str) -> str:
    query = "SELECT w.uid FROM tasks t JOIN workstreams w ON w.id = t.workstream_id WHERE t.uid = %s"
    return str(_value(database, query, task))


def test_an_unknown_workstream_is_missing(hub: tuple[Dsn, str], tmp_path: Path) -> None:
    folder = tmp_path / "plans"
    folder.mkdir()
    (folder / "other.md").write_text(render_workplan("other", str(uuid.uuid4()), []))
    report = check_workplans(folder, hub[1])
    assert [item["kind"] for item in report.details["items"]] == ["missing-workstream"]


def test_a_hostile_api_is_unanswered_not_consistent(tmp_path: Path) -> None:
    _seeded_workplan(tmp_path / "plans")
    with hostile_api("nan") as api:
        report = check_workplans(tmp_path / "plans", api.url)
    assert report.result == "fail"
    assert {item["kind"] for item in report.details["items"]} == {"unanswered"}


def test_the_script_reports_records_and_refuses(hub: tuple[Dsn, str], tmp_path: Path) -> None:
    database, api = hub
    _seeded_workplan(tmp_path / "plans")
    task = MIGRATION_TASKS[7][1]
    report = tmp_path / "workplans.json"
    done = run_script(
        "workplans.py",
        "--workplans",
        str(tmp_path / "plans"),
        "--api",
        api,
        "--report",
        str(report),
        "--record-progress",
        task,
        "--progress-api",
        api,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(report.read_text())["result"] == "pass"
    assert "recorded: progress of task" in done.stderr
    payload = _value(
        database,
        "SELECT e.payload FROM progress_events e JOIN tasks t ON t.id = e.task_id WHERE t.uid = %s "
        "AND e.kind = 'evidence' ORDER BY e.id DESC LIMIT 1",
        task,
    )
    assert payload["evidence_sha256"] == hashlib.sha256(report.read_bytes()).hexdigest()
    assert payload["script"] == "workplans" and payload["result"] == "pass"
    missing = run_script("workplans.py", "--workplans", str(tmp_path / "none"), "--api", api, "--report", str(report))
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1 and "no such folder" in missing.stderr
