"""The evidence report: JSON with kind, schema_version, created_at (UTC), result and what was measured.

The contract between the data tools that write reports and the gates that read them. Writing needs
no validation and happens in every script, so it is plain `json`; reading (the gates, a manifest)
validates with pydantic, imported there only: the data tools start without it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

SCHEMA_VERSION = 1
Result = Literal["pass", "fail"]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Report:
    kind: str
    result: Result
    details: dict[str, Any] = field(default_factory=dict)
    """What was measured: the fingerprint, timings, differences, masked DSNs."""
    created_at: datetime = field(default_factory=utc_now)
    schema_version: int = SCHEMA_VERSION

    def to_json(self) -> str:
        fields = {
            "kind": self.kind,
            "schema_version": self.schema_version,
            "created_at": self.created_at,
            "result": self.result,
            "details": self.details,
        }
        return json.dumps(fields, indent=2, default=_plain)


class ReportError(ValueError):
    """Not an evidence report: `where` names the field (or "the file"), the message says what is wrong."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")
        self.where = where
        self.problem = problem


MAX_REPORT_BYTES = 64 * 2**20


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object whose keys are each given once: `{"result": "fail", ..., "result": "pass"}` is no report."""
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise ReportError(key, "given twice in one object (a JSON reader would keep only one of them)")
        found[key] = value
    return found


def _no_constant(name: str) -> Any:
    raise ReportError("the file", f"{name} is not JSON")


def parse_report(raw: str | bytes) -> Report:
    """A report read back and validated (strict JSON, every key once, types, a known result, a parseable
    created_at)."""
    from pydantic import TypeAdapter, ValidationError  # noqa: PLC0415 - only where reports are read, see above

    try:
        document = json.loads(raw, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except RecursionError:
        raise ReportError("the file", "JSON nested too deeply to be a report") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ReportError("the file", f"not JSON ({str(error).splitlines()[0]})") from None
    if not isinstance(document, dict):
        raise ReportError("the file", f"a JSON {type(document).__name__}, not an object")
    if not isinstance(document.get("details", {}), dict):
        raise ReportError("details", "not an object")
    try:
        return TypeAdapter(Report).validate_python(document)
    except ValidationError as error:
        problem = error.errors()[0]
        raise ReportError(".".join(str(p) for p in problem["loc"]) or "the file", problem["msg"]) from None
    except RecursionError:
        raise ReportError("the file", "JSON nested too deeply to be a report") from None


def read_report_file(path: Path) -> bytes:
    """The bytes of a report file, refused (ReportError) unless it is a regular file of a report's size: a FIFO
    or a device would block the reader, a folder or a dangling link is no report."""
    if not path.is_file():
        what = "a folder" if path.is_dir() else "not a regular file" if path.exists() else "missing"
        raise ReportError("the file", f"{path} is {what}")
    if path.stat().st_size > MAX_REPORT_BYTES:
        raise ReportError("the file", f"{path} is larger than {MAX_REPORT_BYTES // 2**20} MiB")
    return path.read_bytes()


def _plain(value: Any) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON evidence")
