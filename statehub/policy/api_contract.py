"""The API part of a compare report, and what makes it pass: pure, shared by the compare that writes it
and the gates that read it (which recompute it instead of trusting its `result`).

Both sides' State Hubs must be healthy, serve equal summaries (apart from the declared volatile
fields, which legitimately differ between two servers: the time of the request) and answer the same
representative reads with the same bodies.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

HEALTH_PATH = "/state/health"
SUMMARY_PATH = "/state/summary"
WORKSTREAM_PATH = "/state/workstreams/{key}"
"""A workstream by its number or UUID: its fields and `tasks` (each with `uid` and `status`)."""
TASK_PATH = "/state/tasks/{task_id}"
"""A task by its UUID: `status` and `workstream` (the workstream's UUID)."""
PROGRESS_PATH = "/state/tasks/{task_id}/progress"
"""Where a progress event of a task is POSTed (`{"kind": ..., "payload": {...}}`): the stand-in's route. The real
State Hub's is not known here, so the scripts take another with `--progress-path` (docs/runbook.md)."""
VOLATILE_FIELDS = ("generated_at", "timestamp", "now", "uptime_seconds", "server_time")
"""Field names (at any depth) whose values differ between two servers holding the same data."""
SIDES = ("source", "target")


def without_volatile(value: Any, volatile: tuple[str, ...] | list[str]) -> Any:
    if isinstance(value, dict):
        return {k: without_volatile(v, volatile) for k, v in value.items() if k not in volatile}
    if isinstance(value, list):
        return [without_volatile(v, volatile) for v in value]
    return value


def body_sha256(body: Any, volatile: tuple[str, ...] | list[str]) -> str:
    """Digest of an answer's body, volatile fields left out and keys sorted."""
    canonical = json.dumps(without_volatile(body, volatile), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def is_healthy(status: int, body: Any) -> bool:
    return status == 200 and isinstance(body, dict) and body.get("status") == "ok"


def first_difference(source: Any, target: Any, where: str = "") -> tuple[str, Any, Any] | None:
    """The first field (dotted path, `[i]` for list items) whose values differ, with both values."""
    if isinstance(source, dict) and isinstance(target, dict):
        return _dict_difference(source, target, where)
    if isinstance(source, list) and isinstance(target, list):
        return _list_difference(source, target, where)
    return None if source == target else (where or "(the body)", source, target)


def _dict_difference(source: dict[Any, Any], target: dict[Any, Any], where: str) -> tuple[str, Any, Any] | None:
    for key in sorted(set(source) | set(target), key=str):
        inner = f"{where}.{key}" if where else str(key)
        if key not in source or key not in target:
            return inner, source.get(key, "(missing)"), target.get(key, "(missing)")
        found = first_difference(source[key], target[key], inner)
        if found:
            return found
    return None


def _list_difference(source: list[Any], target: list[Any], where: str) -> tuple[str, Any, Any] | None:
    for i, (a, b) in enumerate(zip(source, target, strict=False)):
        found = first_difference(a, b, f"{where}[{i}]")
        if found:
            return found
    return None if len(source) == len(target) else (f"{where} (length)", len(source), len(target))


def api_part_problem(api: Any) -> str | None:
    """Why an API part does not prove both sides serve the same data (None when it does), recomputed
    from what it recorded: health of each side, the two summaries, each read's two digests."""
    if not isinstance(api, dict):
        return "it has no API part (health, summary and representative reads of both sides)"
    return next(_api_part_problems(api), None)


def _api_part_problems(api: dict[str, Any]) -> Iterator[str]:
    volatile = api.get("volatile_fields") or []
    for side in SIDES:
        health = (api.get(side) or {}).get("health") or {}
        if not is_healthy(health.get("status", 0), health.get("body")):
            yield f"the {side} API is not healthy ({HEALTH_PATH}: HTTP {health.get('status', 0)})"
    summary = api.get("summary") or {}
    if not isinstance(summary.get("source"), dict) or not isinstance(summary.get("target"), dict):
        yield f"it lacks a side's {SUMMARY_PATH}"
    else:
        differs = first_difference(*(without_volatile(summary[side], volatile) for side in SIDES))
        if differs:
            yield f"{SUMMARY_PATH} differs in field {differs[0]} (source {differs[1]!r}, target {differs[2]!r})"
    reads = api.get("reads") or []
    if not reads:
        yield "it made no representative read"
    for read in reads:
        answers = {side: read.get(side) or {} for side in SIDES}
        for side, answer in answers.items():
            if answer.get("status") != 200:
                yield f"the {side} API answered {read.get('path')} with HTTP {answer.get('status')}"
        digests = {answer.get("sha256") for answer in answers.values()}
        if len(digests) != 1 or None in digests:
            yield f"{read.get('path')} differs between the sides (field {read.get('field') or 'unknown'})"
    if api.get("problems"):
        yield f"it lists {len(api['problems'])} API problems"
