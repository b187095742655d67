"""`--record-progress TASK_ID`: a script's evidence recorded as a progress event of a workplan task, through the
live State Hub (the front door, 127.0.0.1:8000, unless `--progress-api` says otherwise). The evidence file is
written first; a State Hub that refuses the record is a warning, and the script's exit code stays its own."""

from __future__ import annotations

import argparse
import uuid
from pathlib import Path

from statehub.cli.entry import console, http_url
from statehub.data.progress_records import progress_payload, record_progress
from statehub.policy.api_contract import PROGRESS_PATH
from statehub.policy.report import Report

FRONT_DOOR = "http://127.0.0.1:8000"
"""Where the agents reach the live State Hub (the tunnel or the local front door)."""


def task_uuid(text: str) -> str:
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text[:60]!r} is not a task's UUID: give its state_hub_task_id from the workplan"
        ) from None


def progress_path(text: str) -> str:
    if not text.startswith("/") or text.count("{task_id}") != 1 or any(c in "?#" or c.isspace() for c in text):
        raise argparse.ArgumentTypeError(
            f"{text[:80]!r} is not a route template: give a path with one {{task_id}}, e.g. {PROGRESS_PATH}"
        )
    try:
        text.format(task_id="x")
    except (KeyError, IndexError, ValueError):
        raise argparse.ArgumentTypeError(f"{text[:80]!r}: only {{task_id}} may be in braces") from None
    return text


def add_progress_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("progress record (workplan task)")
    group.add_argument(
        "--record-progress",
        type=task_uuid,
        metavar="TASK_ID",
        help="record the evidence as a progress event of this workplan task (its state_hub_task_id)",
    )
    group.add_argument(
        "--progress-api",
        type=http_url,
        default=FRONT_DOOR,
        metavar="URL",
        help=f"the live State Hub that takes the record (default {FRONT_DOOR}, the front door)",
    )
    group.add_argument(
        "--progress-path",
        type=progress_path,
        default=PROGRESS_PATH,
        metavar="TEMPLATE",
        help=f"the State Hub's progress route (default {PROGRESS_PATH}; docs/runbook.md)",
    )


def record_if_asked(args: argparse.Namespace, script: str, report: Report, evidence: Path) -> None:
    """After the evidence is written: record it when `--record-progress` asks, and say how that went."""
    if not args.record_progress:
        return
    payload = progress_payload(script, report, evidence)
    record = record_progress(args.progress_api, args.record_progress, payload, path_template=args.progress_path)
    if record["recorded"]:
        console().print(f"recorded: progress of task {record['task_id']} ({evidence.name}, {report.result})")
    else:
        console().print(
            f"warning: the State Hub did not take the progress record of task {record['task_id']} "
            f"({record['detail']}); {evidence} is written: record it later with "
            f"uv run scripts/record_progress.py --evidence {evidence} --record-progress {record['task_id']}"
        )
