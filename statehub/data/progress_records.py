"""Evidence recorded where the team looks: a progress event on a workplan task, through the live State Hub's API.

The real State Hub's progress route is not known here; the route and body are this one adapter (the route a
template with `{task_id}`, the stand-in's by default). What is sent says what ran, its result and the
evidence file's name and sha256, never a DSN, a password or a path outside the evidence's name. A refused
record is the caller's warning, never a lost report: the evidence file is written before it is recorded.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TypedDict

from statehub.data.http_client import DEADLINE, HttpError, fetch
from statehub.policy.api_contract import PROGRESS_PATH
from statehub.policy.report import Report

EVENT_KIND = "evidence"
PROGRESS_RECORDS_KIND = "progress-records"
"""The report that lists what a run recorded (the rehearsal keeps one in its evidence folder)."""


class ProgressPayload(TypedDict):
    script: str
    """What ran (`drill`, `compare`, `freeze`, ...)."""
    report_kind: str
    result: str
    created_at: str
    evidence_file: str
    """The evidence file's name (not its folder: a path can say more than the team needs)."""
    evidence_sha256: str


class ProgressRecord(TypedDict):
    task_id: str
    path: str
    status: int
    """The API's HTTP status; 0 when it gave no answer."""
    recorded: bool
    detail: str


def progress_payload(script: str, report: Report, evidence: Path) -> ProgressPayload:
    return {
        "script": script,
        "report_kind": report.kind,
        "result": report.result,
        "created_at": report.created_at.isoformat(),
        "evidence_file": evidence.name,
        "evidence_sha256": hashlib.sha256(evidence.read_bytes()).hexdigest(),
    }


def record_progress(
    api: str,
    task_id: str,
    payload: ProgressPayload,
    *,
    path_template: str = PROGRESS_PATH,
    deadline: float = DEADLINE,
) -> ProgressRecord:
    """POST one progress event; the record says whether the State Hub took it, and if not, why."""
    path = path_template.format(task_id=task_id)
    body = json.dumps({"kind": EVENT_KIND, "payload": payload}).encode()
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    try:
        answer = fetch(api.rstrip("/") + path, method="POST", body=body, headers=headers, deadline=deadline)
    except HttpError as error:
        return {"task_id": task_id, "path": path, "status": 0, "recorded": False, "detail": str(error)}
    recorded = answer.status in (200, 201)
    said = answer.body[:200].decode(errors="replace").strip()
    detail = "recorded" if recorded else f"HTTP {answer.status}: {said or '(no body)'}"
    return {"task_id": task_id, "path": path, "status": answer.status, "recorded": recorded, "detail": detail}
