"""The rehearsal's timeline: each step's seconds and result, and the summary written at the end."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from statehub.policy.report import Report

T = TypeVar("T")


@dataclass
class StepResult:
    name: str
    seconds: float
    result: str
    """pass, fail (evidence that does not pass), stopped (a gate refused) or error."""
    detail: str = ""


class GateStopped(Exception):
    def __init__(self, stage: str, endpoint: str, message: str) -> None:
        super().__init__(f"gate {stage} (endpoint {endpoint}) refused: {message}")
        self.stage = stage
        self.message = message


@dataclass
class Timeline:
    steps: list[StepResult] = field(default_factory=list)
    echo: Callable[[StepResult], None] = lambda _: None

    def run(self, name: str, action: Callable[[], T], *, verdict: Callable[[T], tuple[str, str]] | None = None) -> T:
        started = time.monotonic()
        try:
            value = action()
        except GateStopped as stopped:
            self._record(StepResult(name, time.monotonic() - started, "stopped", stopped.message))
            raise
        except BaseException as error:
            self._record(StepResult(name, time.monotonic() - started, "error", str(error) or type(error).__name__))
            raise
        result, detail = verdict(value) if verdict else ("pass", "")
        self._record(StepResult(name, time.monotonic() - started, result, detail))
        return value

    def _record(self, step: StepResult) -> None:
        step.seconds = round(step.seconds, 3)
        self.steps.append(step)
        self.echo(step)

    def seconds(self, first: str, last: str) -> float:
        names = [s.name for s in self.steps]
        window = self.steps[names.index(first) : names.index(last) + 1]
        return round(sum(s.seconds for s in window), 3)


def report_verdict(report: Report) -> tuple[str, str]:
    differences = report.details.get("differences") or []
    detail = "; ".join(f"{d['kind']} {d['where']}" for d in differences[:3])
    return report.result, detail


@dataclass
class Summary:
    result: str
    stopped_at: str | None
    steps: list[StepResult]
    window_seconds: float | None
    bare_copy_seconds: float | None
    source_unchanged: bool | None
    scale: int | None
    rows: int
    engine: str
    """What ran the gates: `mocks` (the program in-process) or `pulumi` (the real CLI and providers)."""
    cluster: str
    """What stood for railiance01: `local` (a second PostgreSQL made as cnpg's initdb makes it, the stand-in
    State Hub beside it) or `pods` (the stack applied to a node that runs pods: cnpg's own state-hub-db)."""
    front_door: dict[str, Any]
    """/state/summary as clients saw it through the front door: before cutover, after it, after the rollback."""
    progress_records: list[Any]
    """The evidence recorded as progress of the workplan's tasks (statehub/rehearsal/agents_view.py)."""

    @property
    def window_ratio(self) -> float | None:
        if self.window_seconds is None or not self.bare_copy_seconds:
            return None
        return round(self.window_seconds / self.bare_copy_seconds, 2)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": "rehearsal",
            "created_at": datetime.now(UTC).isoformat(),
            "result": self.result,
            "stopped_at": self.stopped_at,
            "scale": self.scale,
            "rows": self.rows,
            "engine": self.engine,
            "cluster": self.cluster,
            "write_freeze_window_s": self.window_seconds,
            "bare_copy_s": self.bare_copy_seconds,
            "window_ratio": self.window_ratio,
            "source_unchanged": self.source_unchanged,
            "front_door": self.front_door,
            "progress_records": self.progress_records,
            "steps": [vars(s) for s in self.steps],
        }

    def markdown(self) -> str:
        lines = [
            f"# Rehearsal: {self.result}" + (f" (stopped at {self.stopped_at})" if self.stopped_at else ""),
            "",
            f"Scale: {self.scale or 'real source copy'}, {self.rows} rows. "
            f"Write-freeze window: {self.window_seconds} s; bare `pg_dump -Fc -Z0 | pg_restore`: "
            f"{self.bare_copy_seconds} s; ratio {self.window_ratio}. Gates run by: {self.engine}; "
            f"cluster: {self.cluster}.",
            "",
            "| step | seconds | result | detail |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {s.name.replace('|', '/')} | {s.seconds:.3f} | {s.result} | {s.detail.replace('|', '/')} |"
            for s in self.steps
        ]
        return "\n".join(lines + self._front_door_lines() + self._record_lines()) + "\n"

    def _record_lines(self) -> list[str]:
        if not self.progress_records:
            return []
        lines = ["", "## Progress recorded in the State Hub (through the front door)", ""]
        lines += ["| task | evidence | recorded | detail |", "|---|---|---|---|"]
        lines += [
            f"| {r['task']} | {r['evidence']} | {'yes' if r['recorded'] else 'NO'} | {r['detail'].replace('|', '/')} |"
            for r in self.progress_records
        ]
        return lines

    def _front_door_lines(self) -> list[str]:
        if not self.front_door:
            return []
        moments = list(self.front_door)
        kinds = sorted({k for seen in self.front_door.values() for k in (seen.get("counts") or {})})
        lines = ["", "## /state/summary through the front door", "", "| count | " + " | ".join(moments) + " |"]
        lines.append("|---|" + "---|" * len(moments))
        lines += [
            f"| {kind} | "
            + " | ".join(str((self.front_door[m].get("counts") or {}).get(kind, "")) for m in moments)
            + " |"
            for kind in kinds
        ]
        return lines
