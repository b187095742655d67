"""Ask each side's State Hub API the same questions and record the answers: the API part of a compare.

Representative reads are chosen from the data, deterministically: the first and last key of each
table a read is about (so the same database always gives the same reads). Nothing is written.
"""

from __future__ import annotations

import json
import socket
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from psycopg import errors, sql

from statehub.data.dsn import Dsn, connect
from statehub.data.http_client import DEADLINE, HttpError, fetch, strict_json
from statehub.data.processes import interrupts_to_the_main_thread
from statehub.policy.api_contract import (
    HEALTH_PATH,
    SIDES,
    SUMMARY_PATH,
    WORKSTREAM_PATH,
    body_sha256,
    first_difference,
    is_healthy,
    without_volatile,
)
from statehub.policy.refusal import Refusal

KEYED_READS = (("workstreams", WORKSTREAM_PATH), ("repos", "/state/repos/{key}"))
"""(table, path): one workstream with its tasks, decisions and progress events; a repo."""
FIXED_READS = ("/state/tokens",)
_AT_ONCE = 8
"""Questions in flight at once: both sides of a few reads."""
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


def get_json(url: str, deadline: float = DEADLINE) -> Answer:
    """GET `url` through the guarded client: a redirect, a timeout, a huge or deep or non-standard answer is
    no answer (status 0, the body says why); an error status keeps its JSON body when it has one."""
    try:
        response = fetch(url, deadline=deadline)
    except HttpError as error:
        return Answer(0, str(error))
    if 300 <= response.status < 400:
        target = urlsplit(response.location or "").netloc or "elsewhere"
        return Answer(0, f"HTTP {response.status}: a redirect to {target} is not followed (each side answers itself)")
    try:
        return Answer(response.status, strict_json(response.body))
    except ValueError as error:
        return Answer(response.status if response.status >= 400 else 0, f"HTTP {response.status}: {error}")


def require_distinct_servers(source_api: str, target_api: str) -> None:
    """The API part compares two State Hubs: refuse two URLs that reach the same server (the same address and
    port after name resolution), which would pass by comparing a server with itself."""

    def endpoints(base: str) -> set[tuple[str, int]]:
        parts = urlsplit(base)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            found = socket.getaddrinfo(parts.hostname or "", port, proto=socket.IPPROTO_TCP)
        except OSError as error:
            raise Refusal(f"API {parts.scheme}://{parts.netloc}: its host cannot be resolved ({error})") from None
        return {(str(info[4][0]), port) for info in found}

    shared = endpoints(source_api) & endpoints(target_api)
    if shared:
        address, port = sorted(shared)[0]
        raise Refusal(
            f"--source-api {source_api} and --target-api {target_api} reach the same server ({address}:{port}): "
            "the API part would compare a State Hub with itself. Give the State Hub serving each side"
        )


def probe_health(base: str, deadline: float = DEADLINE) -> tuple[bool, Answer]:
    """GET /state/health: healthy means HTTP 200 with status ok."""
    answer = get_json(base.rstrip("/") + HEALTH_PATH, deadline)
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


def check_apis(
    source_api: str, target_api: str, data: Dsn, volatile: tuple[str, ...], deadline: float = DEADLINE
) -> dict[str, Any]:
    """The API part of a compare report: health of each side, both summaries, the representative reads
    chosen from `data` (the target database); `problems` names the side and the field of each failure.

    Every question goes out at once (both sides, every read): each side is its own server, and the
    answers are judged afterwards in a fixed order, so the part does not depend on who answered first.
    """
    require_distinct_servers(source_api, target_api)
    bases = dict(zip(SIDES, (source_api.rstrip("/"), target_api.rstrip("/")), strict=True))
    with ThreadPoolExecutor(_AT_ONCE, initializer=interrupts_to_the_main_thread) as pool:
        chosen = pool.submit(representative_reads, data)
        health = {side: pool.submit(probe_health, base, deadline) for side, base in bases.items()}
        summaries = _asked(pool, SUMMARY_PATH, bases, deadline)
        paths, warnings = chosen.result()
        reads = {path: _asked(pool, path, bases, deadline) for path in paths}
        problems: list[dict[str, str]] = []
        part: dict[str, Any] = {"volatile_fields": list(volatile)}
        for side, base in bases.items():
            healthy, answer = health[side].result()
            part[side] = {"url": base, "health": answer.as_dict()}
            if not healthy:
                problems.append(
                    _problem("api-health", side, HEALTH_PATH, "status", f"HTTP {answer.status}: {answer.body}")
                )
        answers = _answers(summaries)
        equal, _ = _judged("api-summary", SUMMARY_PATH, answers, volatile, problems)
        part["summary"] = {side: answer.body if answer.status == 200 else None for side, answer in answers.items()}
        if equal is not None:
            part["summary"]["equal"] = equal
        part["warnings"] = warnings
        part["reads"] = [_read(path, _answers(asked), volatile, problems) for path, asked in reads.items()]
    part["problems"] = problems
    part["result"] = "fail" if problems else "pass"
    return part


def _asked(pool: ThreadPoolExecutor, path: str, bases: dict[str, str], deadline: float) -> dict[str, Future[Answer]]:
    """GET `path` of each side, sent now."""
    return {side: pool.submit(get_json, base + path, deadline) for side, base in bases.items()}


def _answers(asked: dict[str, Future[Answer]]) -> dict[str, Answer]:
    return {side: future.result() for side, future in asked.items()}


def _judged(
    kind: str, path: str, answers: dict[str, Answer], volatile: tuple[str, ...], problems: list[dict[str, str]]
) -> tuple[bool | None, str | None]:
    """Each side that failed `path`, and a first differing field, is a problem of `kind`. Returns whether
    the answers are equal (None: not both HTTP 200) and the first differing field."""
    for side, answer in answers.items():
        if answer.status != 200:
            problems.append(_problem(kind, side, path, "status", f"HTTP {answer.status}"))
    if any(answer.status != 200 for answer in answers.values()):
        return None, None
    differs = first_difference(*(without_volatile(answers[side].body, volatile) for side in SIDES))
    if differs is None:
        return True, None
    problems.append(_problem(kind, "both", path, differs[0], _values(differs)))
    return False, differs[0]


def _read(
    path: str, answers: dict[str, Answer], volatile: tuple[str, ...], problems: list[dict[str, str]]
) -> dict[str, Any]:
    equal, field = _judged("api-read", path, answers, volatile, problems)
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
