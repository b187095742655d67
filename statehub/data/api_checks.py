"""Ask each side's State Hub API the same questions and record the answers: the API part of a compare.

Representative reads are chosen from the data, deterministically: the first and last key of each
table a read is about (so the same database always gives the same reads). Nothing is written.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from psycopg import errors, sql

from statehub.data.dsn import Dsn, connect
from statehub.policy.api_contract import (
    HEALTH_PATH,
    SIDES,
    SUMMARY_PATH,
    body_sha256,
    first_difference,
    is_healthy,
    without_volatile,
)

KEYED_READS = (("workstreams", "/state/workstreams/{key}"), ("repos", "/state/repos/{key}"))
"""(table, path): one workstream with its tasks, decisions and progress events; a repo."""
FIXED_READS = ("/state/tokens",)
_TIMEOUT = 10
_FIRST_AND_LAST = sql.SQL(
    "(SELECT id FROM public.{t} ORDER BY id LIMIT 1) UNION (SELECT id FROM public.{t} ORDER BY id DESC LIMIT 1)"
)


@dataclass(frozen=True)
class Answer:
    """An HTTP answer: status 0 when none came (then `body` says why)."""

    status: int
    body: Any

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "body": self.body}


def get_json(url: str) -> Answer:
    try:
        with urllib.request.urlopen(url, timeout=_TIMEOUT) as response:  # noqa: S310 - operator-given http(s) URL
            return Answer(response.status, json.loads(response.read() or b"null"))
    except urllib.error.HTTPError as error:
        try:
            return Answer(error.code, json.loads(error.read() or b"null"))
        except (json.JSONDecodeError, OSError):
            return Answer(error.code, None)
    except (urllib.error.URLError, OSError, json.JSONDecodeError) as error:
        return Answer(0, str(getattr(error, "reason", error)))


def probe_health(base: str) -> tuple[bool, Answer]:
    """GET /state/health: healthy means HTTP 200 with status ok."""
    answer = get_json(base.rstrip("/") + HEALTH_PATH)
    return is_healthy(answer.status, answer.body), answer


def representative_reads(dsn: Dsn) -> tuple[list[str], list[str]]:
    """The read paths for the data at `dsn`, and a warning for each read that has no table to choose from."""
    paths: list[str] = []
    warnings: list[str] = []
    with connect(dsn, autocommit=True) as conn:
        for table, template in KEYED_READS:
            try:
                keys = conn.execute(_FIRST_AND_LAST.format(t=sql.Identifier(table))).fetchall()
            except (errors.UndefinedTable, errors.UndefinedColumn):
                warnings.append(f"no representative read of {template}: the database has no public.{table}(id)")
                continue
            paths += [template.format(key=key) for (key,) in sorted(keys)]
    return paths + list(FIXED_READS), warnings


def check_apis(source_api: str, target_api: str, data: Dsn, volatile: tuple[str, ...]) -> dict[str, Any]:
    """The API part of a compare report: health of each side, both summaries, the representative reads
    chosen from `data` (the target database); `problems` names the side and the field of each failure."""
    bases = dict(zip(SIDES, (source_api.rstrip("/"), target_api.rstrip("/")), strict=True))
    problems: list[dict[str, str]] = []
    part: dict[str, Any] = {"volatile_fields": list(volatile)}
    for side, base in bases.items():
        healthy, answer = probe_health(base)
        part[side] = {"url": base, "health": answer.as_dict()}
        if not healthy:
            problems.append(_problem("api-health", side, HEALTH_PATH, "status", f"HTTP {answer.status}: {answer.body}"))
    summaries, equal, _ = _ask_both("api-summary", SUMMARY_PATH, bases, volatile, problems)
    part["summary"] = {side: answer.body if answer.status == 200 else None for side, answer in summaries.items()}
    if equal is not None:
        part["summary"]["equal"] = equal
    paths, warnings = representative_reads(data)
    part["warnings"] = warnings
    part["reads"] = [_read(path, bases, volatile, problems) for path in paths]
    part["problems"] = problems
    part["result"] = "fail" if problems else "pass"
    return part


def _ask_both(
    kind: str, path: str, bases: dict[str, str], volatile: tuple[str, ...], problems: list[dict[str, str]]
) -> tuple[dict[str, Answer], bool | None, str | None]:
    """GET `path` on both sides; each side that fails, and a first differing field, is a problem of `kind`.
    Returns the answers, whether they are equal (None: not both HTTP 200) and the first differing field."""
    answers = {side: get_json(bases[side] + path) for side in SIDES}
    for side, answer in answers.items():
        if answer.status != 200:
            problems.append(_problem(kind, side, path, "status", f"HTTP {answer.status}"))
    if any(answer.status != 200 for answer in answers.values()):
        return answers, None, None
    differs = first_difference(*(without_volatile(answers[side].body, volatile) for side in SIDES))
    if differs is None:
        return answers, True, None
    problems.append(_problem(kind, "both", path, differs[0], _values(differs)))
    return answers, False, differs[0]


def _read(
    path: str, bases: dict[str, str], volatile: tuple[str, ...], problems: list[dict[str, str]]
) -> dict[str, Any]:
    answers, equal, field = _ask_both("api-read", path, bases, volatile, problems)
    read: dict[str, Any] = {"path": path}
    for side, answer in answers.items():
        read[side] = {
            "status": answer.status,
            "sha256": body_sha256(answer.body, volatile) if answer.status == 200 else None,
        }
    if equal is not None:
        read["equal"] = equal
    if field is not None:
        read["field"] = field
    return read


def _values(differs: tuple[str, Any, Any]) -> str:
    def short(value: Any) -> str:
        text = json.dumps(value, default=str)
        return text if len(text) <= 80 else text[:77] + "..."

    return f"source {short(differs[1])}, target {short(differs[2])}"


def _problem(kind: str, side: str, path: str, field: str, detail: str) -> dict[str, str]:
    """One failure, as a compare difference: `where` names the side, the path and the field."""
    shown_side = "both sides" if side == "both" else f"{side} API"
    return {"kind": kind, "side": side, "field": field, "where": f"{shown_side} {path} field {field}", "detail": detail}
