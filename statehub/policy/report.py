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


def parse_report(raw: str | bytes) -> Report:
    """A report read back and validated (types, a known result, a parseable created_at)."""
    from pydantic import TypeAdapter, ValidationError  # noqa: PLC0415 - only where reports are read, see above

    try:
        return TypeAdapter(Report).validate_json(raw)
    except ValidationError as error:
        problem = error.errors()[0]
        raise ReportError(".".join(str(p) for p in problem["loc"]) or "the file", problem["msg"]) from None


def _plain(value: Any) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON evidence")
