"""Which evidence a stack points at, and the human decisions recorded in its config.

Report paths are relative to the project directory (where `pulumi` runs the program).
A decision is an object in the stack file:

    state-hub-infra:approval:
      by: alice
      at: "2026-11-27T10:00:00Z"
      reference: https://tracker.example/state-hub/cutover
      freezeReportSha256: <sha256sum of the freeze report>
      finalCompareReportSha256: <sha256sum of the final compare report>

The API check exception (apiCheckException) is such a decision with a `reason` too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from statehub.policy.config_reader import ConfigReader
from statehub.policy.evidence import MAX_AGE_KEY
from statehub.policy.refusal import SettingsError

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
API_CHECK_EXCEPTION_KEY = "apiCheckException"
REGISTRY_CHECK_EXCEPTION_KEY = "registryCheckException"


@dataclass(frozen=True)
class Decision:
    """A recorded human decision: who took it, when, and where it is written down."""

    by: str
    at: datetime
    reference: str


@dataclass(frozen=True)
class Approval(Decision):
    """The cutover approval: also pins the exact evidence files the approver reviewed."""

    freeze_report_sha256: str
    final_compare_report_sha256: str


@dataclass(frozen=True)
class RecordedException(Decision):
    """A recorded, named exception to a piece of evidence: `apiCheckException` lets verify and cutover pass
    without the API part of their compare evidence (the State Hub cannot be reached from where the compare runs);
    `registryCheckException` lets stage empty pass without registry checks of the two images."""

    reason: str


@dataclass(frozen=True)
class EvidenceSettings:
    max_age: timedelta
    drill_report: Path | None
    restore_compare_report: Path | None
    freeze_report: Path | None
    final_compare_report: Path | None
    status_report: Path | None
    """scripts/status.py's report: retiring the WSL2 fallback needs a healthy, backed-up cluster."""
    approval: Approval | None
    fallback_retirement: Decision | None
    """The separate decision that allows retiring the WSL2 fallback (stage stabilise)."""
    api_check_exception: RecordedException | None
    """Unset (the default): verify and cutover need the API part of their compare evidence."""
    image_registry_report: Path | None = None
    db_image_registry_report: Path | None = None
    """registry_check.py's reports: the app's and the database's pinned digests are in their registries."""
    registry_check_exception: RecordedException | None = None
    """Unset (the default): stage empty needs both registry reports."""


def load_evidence_settings(read: ConfigReader) -> EvidenceSettings:
    return EvidenceSettings(
        max_age=timedelta(hours=read.integer(MAX_AGE_KEY, example="24", minimum=1, maximum=24 * 14)),
        drill_report=_path(read, "drillReport"),
        restore_compare_report=_path(read, "restoreCompareReport"),
        freeze_report=_path(read, "freezeReport"),
        final_compare_report=_path(read, "finalCompareReport"),
        status_report=_path(read, "statusReport"),
        approval=_approval(read),
        fallback_retirement=_decision(read, "fallbackRetirement"),
        api_check_exception=_recorded_exception(read, API_CHECK_EXCEPTION_KEY),
        image_registry_report=_path(read, "imageRegistryReport"),
        db_image_registry_report=_path(read, "dbImageRegistryReport"),
        registry_check_exception=_recorded_exception(read, REGISTRY_CHECK_EXCEPTION_KEY),
    )


def _path(read: ConfigReader, key: str) -> Path | None:
    raw = read.optional_string(key)
    return Path(raw) if raw is not None else None


_DECISION_FIELDS = ("by", "at", "reference")


def _decision_fields(read: ConfigReader, key: str, extra: tuple[str, ...]) -> dict[str, str] | None:
    example = f"by: alice, at: '2026-11-27T10:00:00Z', reference: <link> (object {key} in the stack file)"
    fields = read.string_map(key, example=example)
    if not fields:
        return None
    for name in (*_DECISION_FIELDS, *extra):
        if not fields.get(name, "").strip():
            raise SettingsError(f"{key}.{name}", None, f"the {key} decision records {name}", "<value>")
    return fields


def _timestamp(key: str, raw: str) -> datetime:
    example = "2026-11-27T10:00:00Z"
    try:
        at = datetime.fromisoformat(raw)
    except ValueError:
        raise SettingsError(key, raw, "it is not an ISO 8601 time", example) from None
    if at.tzinfo is None:
        raise SettingsError(key, raw, "give the time zone (UTC: a trailing Z)", example)
    return at


def _decision(read: ConfigReader, key: str) -> Decision | None:
    fields = _decision_fields(read, key, ())
    if fields is None:
        return None
    return Decision(fields["by"], _timestamp(f"{key}.at", fields["at"]), fields["reference"])


def _recorded_exception(read: ConfigReader, key: str) -> RecordedException | None:
    fields = _decision_fields(read, key, ("reason",))
    if fields is None:
        return None
    return RecordedException(fields["by"], _timestamp(f"{key}.at", fields["at"]), fields["reference"], fields["reason"])


def _approval(read: ConfigReader) -> Approval | None:
    hashes = ("freezeReportSha256", "finalCompareReportSha256")
    fields = _decision_fields(read, "approval", hashes)
    if fields is None:
        return None
    for name in hashes:
        if not _SHA256.match(fields[name]):
            raise SettingsError(
                f"approval.{name}", fields[name], "it is not a sha256 (64 lowercase hex digits)", "$(sha256sum FILE)"
            )
    return Approval(
        by=fields["by"],
        at=_timestamp("approval.at", fields["at"]),
        reference=fields["reference"],
        freeze_report_sha256=fields["freezeReportSha256"],
        final_compare_report_sha256=fields["finalCompareReportSha256"],
    )
