"""File-backed workplans, as the State Hub keeps them in sync: Markdown with a YAML front matter that names the
workstream (`state_hub_workstream_id`) and fenced ```` ```task ```` blocks, one per task (`id`, `status`,
`state_hub_task_id`, more keys as the team likes).

Reading never stops at the first bad block: every problem is one line (`file:line: what`), so one malformed
file does not hide the others, and a check reports what it could not read beside what it found.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from pathlib import Path

import yaml

from statehub.policy.safe_yaml import load_yaml

FRONT_MATTER = "---"
TASK_FENCE = "```task"
FENCE = "```"
WORKSTREAM_KEY = "state_hub_workstream_id"
TASK_ID_KEY = "state_hub_task_id"
_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


@dataclass(frozen=True)
class WorkplanTask:
    key: str
    """The workplan's own id of the task (`CUST-WP-0011-T01`)."""
    status: str
    state_hub_task_id: str | None
    """The task's UUID in the State Hub; None for a task not (yet) synced."""
    line: int
    """Where its block starts (1-based), for the report."""


@dataclass(frozen=True)
class Workplan:
    path: Path
    workstream_id: str | None
    tasks: tuple[WorkplanTask, ...]
    problems: tuple[str, ...]
    """One line per thing that could not be read (`file:line: what`)."""


def read_workplans(folder: Path) -> list[Workplan]:
    """Every `*.md` under `folder` (sorted, recursively) that has a front matter or a task block."""
    found = []
    for path in sorted(folder.rglob("*.md")):
        text = path.read_text(encoding="utf-8", errors="replace")
        if text.startswith(FRONT_MATTER) or TASK_FENCE in text:
            found.append(parse_workplan(path, text))
    return found


def parse_workplan(path: Path, text: str) -> Workplan:
    lines = text.splitlines()
    problems: list[str] = []
    workstream, body_start = _front_matter(path, lines, problems)
    tasks: list[WorkplanTask] = []
    seen: dict[str, int] = {}
    at = body_start
    while at < len(lines):
        if lines[at].strip() != TASK_FENCE:
            at += 1
            continue
        end = next((i for i in range(at + 1, len(lines)) if lines[i].strip().startswith(FENCE)), None)
        if end is None:
            problems.append(f"{path}:{at + 1}: a task block is not closed with {FENCE}")
            break
        if lines[end].strip() != FENCE:  # another fence opens inside it: read on from there
            problems.append(f"{path}:{at + 1}: a task block is not closed with {FENCE} before line {end + 1}")
            at = end
            continue
        task = _task(path, at + 1, "\n".join(lines[at + 1 : end]), problems)
        if task is not None:
            if task.key in seen:
                problems.append(f"{path}:{at + 1}: task {task.key} is defined again (first at line {seen[task.key]})")
            else:
                seen[task.key] = task.line
                tasks.append(task)
        at = end + 1
    return Workplan(path, workstream, tuple(tasks), tuple(problems))


def _front_matter(path: Path, lines: list[str], problems: list[str]) -> tuple[str | None, int]:
    """The workstream id the front matter names, and where the body starts."""
    if not lines or lines[0].strip() != FRONT_MATTER:
        return None, 0
    end = next((i for i in range(1, len(lines)) if lines[i].strip() == FRONT_MATTER), None)
    if end is None:
        problems.append(f"{path}:1: the front matter is not closed with {FRONT_MATTER}")
        return None, len(lines)
    fields = _mapping(path, 2, "\n".join(lines[1:end]), "the front matter", problems)
    value = fields.get(WORKSTREAM_KEY) if fields is not None else None
    if value is None:
        return None, end + 1
    return _uuid(path, 2, WORKSTREAM_KEY, value, problems), end + 1


def _task(path: Path, line: int, text: str, problems: list[str]) -> WorkplanTask | None:
    fields = _mapping(path, line, text, "the task block", problems)
    if fields is None:
        return None
    key, status = fields.get("id"), fields.get("status")
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        problems.append(f"{path}:{line}: the task block has no usable id (give e.g. id: CUST-WP-0011-T01)")
        return None
    if not isinstance(status, str) or not status.strip():
        problems.append(f"{path}:{line}: task {key} has no status (give e.g. status: todo)")
        return None
    task_id = fields.get(TASK_ID_KEY)
    uid = None if task_id is None else _uuid(path, line, f"task {key}'s {TASK_ID_KEY}", task_id, problems)
    if task_id is not None and uid is None:
        return None
    return WorkplanTask(key, status.strip(), uid, line)


def _mapping(path: Path, line: int, text: str, what: str, problems: list[str]) -> dict[str, object] | None:
    try:
        fields = load_yaml(text)
    except yaml.YAMLError as error:
        problems.append(f"{path}:{line}: {what} is not YAML ({str(error).splitlines()[0]})")
        return None
    if not isinstance(fields, dict):
        problems.append(f"{path}:{line}: {what} is not a list of `key: value` lines")
        return None
    return {str(k): v for k, v in fields.items()}


def _uuid(path: Path, line: int, what: str, value: object, problems: list[str]) -> str | None:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        problems.append(f"{path}:{line}: {what} {str(value)[:60]!r} is not a UUID")
        return None


def render_workplan(title: str, workstream_id: str, tasks: list[tuple[str, str, str]]) -> str:
    """A workplan file of this format: `tasks` as (id, status, state_hub_task_id)."""
    parts = [FRONT_MATTER, f"title: {title!r}", f'{WORKSTREAM_KEY}: "{workstream_id}"', FRONT_MATTER, "", f"# {title}"]
    for key, status, task_id in tasks:
        parts += ["", TASK_FENCE, f"id: {key}", f"status: {status}", f'{TASK_ID_KEY}: "{task_id}"', FENCE]
    return "\n".join(parts) + "\n"
