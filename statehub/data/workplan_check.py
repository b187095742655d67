"""Are the file-backed workplans and the State Hub the same? Every workstream a workplan names must exist,
every task with a `state_hub_task_id` must exist there with the same status, and a workstream must hold no
task its file does not list. After cutover the sync writes to the cluster: a task the cluster lacks (or holds
with another status) is the loss nobody would notice until too late. Nothing is written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, TypedDict

from statehub.data.api_checks import Answer, get_json
from statehub.data.http_client import DEADLINE
from statehub.data.workplan_files import Workplan, WorkplanTask, read_workplans
from statehub.policy.api_contract import TASK_PATH, WORKSTREAM_PATH
from statehub.policy.report import Report

WORKPLAN_CHECK = "workplan-check"

ItemKind = Literal["missing-workstream", "missing-task", "extra-task", "status-differs", "moved-task", "unanswered"]


class WorkplanItem(TypedDict):
    """One way a workplan and the State Hub disagree."""

    kind: ItemKind
    where: str
    """The file and line the item is about (the front matter for a workstream, the block for a task)."""
    detail: str


class WorkplanCheckDetails(TypedDict):
    api: str
    """The State Hub asked (a base URL: no credentials)."""
    folder: str
    workplans: int
    tasks: int
    """Tasks with a `state_hub_task_id` that were checked."""
    items: list[WorkplanItem]
    unreadable: list[str]
    """One line per block or front matter that could not be read."""


def check_workplans(folder: Path, api: str, deadline: float = DEADLINE) -> Report:
    base = api.rstrip("/")
    plans = read_workplans(folder)
    items: list[WorkplanItem] = []
    for plan in plans:
        items += _check_plan(plan, base, deadline)
    details: WorkplanCheckDetails = {
        "api": base,
        "folder": str(folder),
        "workplans": len(plans),
        "tasks": sum(1 for plan in plans for task in plan.tasks if task.state_hub_task_id),
        "items": items,
        "unreadable": [line for plan in plans for line in plan.problems],
    }
    failed = items or details["unreadable"] or not plans
    return Report(kind=WORKPLAN_CHECK, result="fail" if failed else "pass", details=dict(details))


def _check_plan(plan: Workplan, base: str, deadline: float) -> list[WorkplanItem]:
    items: list[WorkplanItem] = []
    held: dict[str, str] = {}
    """The workstream's tasks in the State Hub: UUID -> status."""
    if plan.workstream_id:
        answer = get_json(base + WORKSTREAM_PATH.format(key=plan.workstream_id), deadline)
        if answer.status == 404:
            items.append(_item("missing-workstream", plan.path, 2, f"workstream {plan.workstream_id} is not there"))
        elif not _usable(answer, "tasks") or not isinstance(answer.body["tasks"], list):
            items.append(_item("unanswered", plan.path, 2, _unusable(WORKSTREAM_PATH, plan.workstream_id, answer)))
        else:
            held = {str(t.get("uid")): str(t.get("status")) for t in answer.body["tasks"] if isinstance(t, dict)}
    listed = set()
    for task in plan.tasks:
        if task.state_hub_task_id is None:
            continue
        listed.add(task.state_hub_task_id)
        if task.state_hub_task_id in held:
            items += _status(plan, task, held[task.state_hub_task_id])
        else:
            items += _elsewhere(plan, task, base, deadline)
    for uid in sorted(set(held) - listed):
        items.append(_item("extra-task", plan.path, 2, f"task {uid} ({held[uid]}) is in the workstream, not the file"))
    return items


def _elsewhere(plan: Workplan, task: WorkplanTask, base: str, deadline: float) -> list[WorkplanItem]:
    """A task its workstream does not hold: missing, or held by another workstream."""
    answer = get_json(base + TASK_PATH.format(task_id=task.state_hub_task_id), deadline)
    if answer.status == 404:
        return [_item("missing-task", plan.path, task.line, f"task {task.key} ({task.state_hub_task_id}) is not there")]
    if not _usable(answer, "status"):
        return [_item("unanswered", plan.path, task.line, _unusable(TASK_PATH, task.state_hub_task_id, answer))]
    items = _status(plan, task, str(answer.body["status"]))
    if plan.workstream_id:
        where = answer.body.get("workstream")
        detail = f"task {task.key} is in workstream {where}, the file names {plan.workstream_id}"
        items.append(_item("moved-task", plan.path, task.line, detail))
    return items


def _status(plan: Workplan, task: WorkplanTask, held: str) -> list[WorkplanItem]:
    if held == task.status:
        return []
    detail = f"task {task.key}: the file says {task.status}, the State Hub {held}"
    return [_item("status-differs", plan.path, task.line, detail)]


def _usable(answer: Answer, key: str) -> bool:
    return answer.status == 200 and isinstance(answer.body, dict) and key in answer.body


def _unusable(template: str, key: str | None, answer: Answer) -> str:
    path = template.format(key=key, task_id=key)
    return f"{path} answered HTTP {answer.status}: {str(answer.body)[:120]}"


def _item(kind: ItemKind, path: Path, line: int, detail: str) -> WorkplanItem:
    return {"kind": kind, "where": f"{path}:{line}", "detail": detail}
