"""The rehearsal as the team that relies on the State Hub sees it: its evidence recorded as progress of the
workplan's tasks (through the front door, never on a frozen side), what the agents see through their MCP
server before cutover, after it and after the rollback, and the file-backed workplan checked against WSL2
before the freeze and against the cluster after cutover.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

from standins.state_hub.synthetic import MIGRATION_TASKS, MIGRATION_WORKSTREAM, migration_workplan_tasks
from statehub.data.client_check import McpServer, client_check
from statehub.data.dsn import Dsn, connect
from statehub.data.progress_records import PROGRESS_RECORDS_KIND, ProgressRecord, progress_payload, record_progress
from statehub.data.report_files import write_report
from statehub.data.workplan_check import check_workplans
from statehub.data.workplan_files import render_workplan
from statehub.policy.report import Report, parse_report, read_report_file

Step = Callable[..., Any]
WORKPLANS_DIR = "workplans"
PROGRESS_RECORDS = "progress-records.json"
TASKS = {key.rsplit("-", 1)[1]: uid for key, uid, _, _ in MIGRATION_TASKS}
"""The migration workplan's tasks by their short name (T01 ...), as the seed holds them."""
_PROJECT = Path(__file__).resolve().parents[2]


class RecordedEvidence(TypedDict):
    task: str
    """The workplan's short task name (T01 ...)."""
    evidence: str
    recorded: bool
    detail: str


def stand_in_mcp_server(api_base: str) -> McpServer:
    """The agents' MCP server as their configuration would start it, pointed at `api_base`."""
    command = (sys.executable, "-m", "standins.state_hub.mcp_server")
    return McpServer("state-hub", command[0], command[1:], {"API_BASE": api_base, "PYTHONPATH": str(_PROJECT)})


@dataclass
class AgentsView:
    """Where the rehearsal's evidence goes and where the agents look (the front door)."""

    out: Path
    front_door: str
    records: list[RecordedEvidence] = field(default_factory=list)

    def record(self, step: Step, task: str, script: str, evidence: Path) -> None:
        """The evidence file as a progress event of workplan task `task` (T01 ...), through the front door;
        every record so far is kept in the evidence folder as one report (the approval packet lists them)."""

        def post() -> ProgressRecord:
            report = parse_report(read_report_file(evidence))
            return record_progress(self.front_door, TASKS[task], progress_payload(script, report, evidence))

        done: ProgressRecord = step(f"record {evidence.name} as progress of {task}", post, _recorded)
        self.records.append(
            {"task": task, "evidence": evidence.name, "recorded": done["recorded"], "detail": done["detail"]}
        )
        every = all(r["recorded"] for r in self.records)
        details: dict[str, Any] = {"records": self.records}
        written = Report(kind=PROGRESS_RECORDS_KIND, result="pass" if every else "fail", details=details)
        write_report(written, self.out / PROGRESS_RECORDS)

    def check_clients(self, step: Step, moment: str, database: Dsn) -> Path:
        """What the agents see through the front door at `moment`, against the database it should reach."""
        server = stand_in_mcp_server(self.front_door)
        checked = step(
            f"the agents' MCP path, {moment}", lambda: client_check(server, self.front_door, database), _differences
        )
        return write_report(checked, self.out / f"client-check-{moment.replace(' ', '-')}.json")

    def sync_workplan_files(self, workstation: Dsn) -> None:
        """What the State Hub's file sync does: the migration workplan's file, as WSL2 holds it now."""
        with connect(workstation, autocommit=True) as conn:
            tasks = migration_workplan_tasks(conn)
        folder = self.out / WORKPLANS_DIR
        folder.mkdir(exist_ok=True)
        (folder / "CUST-WP-0011.md").write_text(render_workplan("CUST-WP-0011", MIGRATION_WORKSTREAM, tasks))

    def check_workplan_files(self, step: Step, api: str, side: str) -> Path:
        """The workplan files against the State Hub of `side` (wsl2 before the freeze, cluster after cutover)."""
        checked = step(
            f"workplan files against the {side} State Hub",
            lambda: check_workplans(self.out / WORKPLANS_DIR, api),
            _items,
        )
        return write_report(checked, self.out / f"workplan-check-{side}.json")


def _recorded(record: ProgressRecord) -> tuple[str, str]:
    return ("pass" if record["recorded"] else "fail"), record["detail"]


def _items(report: Report) -> tuple[str, str]:
    items = [f"{i['kind']} {i['detail']}" for i in report.details["items"]] + report.details["unreadable"]
    return report.result, "; ".join(items[:3]) or f"{report.details['tasks']} tasks as the files say"


def _differences(report: Report) -> tuple[str, str]:
    return report.result, "; ".join(report.details["differences"])
