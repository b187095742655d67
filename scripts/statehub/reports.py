"""Evidence reports: JSON with kind, schema_version, created_at (UTC) and result; written atomically."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

SCHEMA_VERSION = 1
Result = Literal["pass", "fail"]


def utc_now() -> datetime:
    return datetime.now(UTC)


class Report(BaseModel):
    kind: str
    schema_version: int = SCHEMA_VERSION
    created_at: datetime = Field(default_factory=utc_now)
    result: Result
    details: dict[str, Any] = Field(default_factory=dict)
    """What was measured: the fingerprint, timings, differences, masked DSNs."""


def write_report(report: Report, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(report.model_dump_json(indent=2) + "\n")
    os.replace(temporary, path)
    return path
