"""The evidence report: JSON with kind, schema_version, created_at (UTC), result and what was measured.

The contract between the data tools that write reports and the gates that read them.
"""

from __future__ import annotations

from datetime import UTC, datetime
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
