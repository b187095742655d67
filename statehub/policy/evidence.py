"""Evidence files the gates consume: read one, check it, or say exactly why it does not count.

Pure: no Pulumi import. A report is accepted only when it parses as an evidence report of the
expected kind and schema version, says `pass`, and (when its stage asks for fresh evidence) is
younger than the freshness limit and not dated in the future.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from statehub.policy.api_contract import api_part_problem
from statehub.policy.fingerprints import fingerprint_digest, read_digest
from statehub.policy.refusal import GateRefusal
from statehub.policy.report import SCHEMA_VERSION, Report, ReportError, parse_report, read_report_file


@dataclass(frozen=True)
class EvidenceKind:
    """One kind of evidence a gate needs: its config key, report kind, the command making it, and where that
    command (the runbook's layout, the rehearsal's, the approval packet's) puts it in the evidence folder."""

    key: str
    kind: str
    what: str
    command: str
    file: str


DRILL = EvidenceKind(
    "drillReport",
    "drill",
    "a passing drill report (dump, throwaway restore, compare)",
    'uv run scripts/drill.py --source "$WSL2_DSN" --out evidence/drill',
    "drill/drill-report.json",
)
RESTORE_COMPARE = EvidenceKind(
    "restoreCompareReport",
    "compare",
    "a passing compare report of the restore into state-hub-db",
    'uv run scripts/restore.py --dump evidence/drill/dump --target "$CLUSTER_DSN" '
    "--report evidence/restore-compare.json",
    "restore-compare.json",
)

FREEZE = EvidenceKind(
    "freezeReport",
    "freeze",
    "a passing freeze report of the WSL2 database, with the write proof",
    'uv run scripts/freeze.py --target "$WSL2_DSN" --app-role state_hub --probe "$WSL2_APP_DSN" '
    "--report evidence/freeze.json",
    "freeze.json",
)
FINAL_COMPARE = EvidenceKind(
    "finalCompareReport",
    "compare",
    "a passing final compare of the frozen WSL2 database with state-hub-db, taken after the freeze",
    'uv run scripts/dump.py --source "$WSL2_DSN" --out evidence/final --target "$CLUSTER_DSN" '
    "--unchanged-since evidence/freeze.json && "
    'uv run scripts/compare.py --manifest evidence/final/manifest.json --target "$CLUSTER_DSN" '
    '--source-api "$WSL2_READER_API" --target-api "$CLUSTER_API" --report evidence/final-compare.json',
    "final-compare.json",
)
RESTORE_API_COMPARE_COMMAND = (
    'uv run scripts/compare.py --manifest evidence/drill/dump/manifest.json --target "$CLUSTER_DSN" '
    '--source-api "$WSL2_API" --target-api "$CLUSTER_API" --report evidence/restore-compare.json'
)
"""The restore compare again, with the API part (docs/compare.md: which State Hub serves each side)."""


IMAGE_REGISTRY = EvidenceKind(
    "imageRegistryReport",
    "registry-check",
    "a passing registry check of the app image (its pinned digest is in its registry)",
    "uv run scripts/registry_check.py --image <the image config value> --report evidence/registry-image.json",
    "registry-image.json",
)
DB_IMAGE_REGISTRY = EvidenceKind(
    "dbImageRegistryReport",
    "registry-check",
    "a passing registry check of the database image (its pinned digest is in its registry)",
    "uv run scripts/registry_check.py --image <the dbImageName value> --report evidence/registry-db-image.json",
    "registry-db-image.json",
)
STATUS = EvidenceKind(
    "statusReport",
    "status",
    "a passing status report of the cluster (healthy, with a completed backup and a recovery window)",
    "uv run scripts/status.py --context railiance01 --report evidence/status.json",
    "status.json",
)


@dataclass(frozen=True)
class Evidence:
    """A report that passed the checks, with the sha256 of its file as the approver sees it."""

    path: Path
    sha256: str
    report: Report

    @property
    def details(self) -> dict[str, Any]:
        return self.report.details


MAX_AGE_KEY = "evidenceMaxAgeHours"


@dataclass(frozen=True)
class Freshness:
    now: datetime
    max_age: timedelta


def load_evidence(kind: EvidenceKind, path: Path | None, stage: str, freshness: Freshness | None) -> Evidence:
    """The report at `path`, checked; `freshness` None for evidence of an earlier, held stage."""
    run = f"Run: {kind.command}, then: pulumi config set state-hub-infra:{kind.key} <the report file>"
    if path is None:
        raise GateRefusal(f"stage {stage} needs {kind.what}: state-hub-infra:{kind.key} is unset. {run}")
    named = f"state-hub-infra:{kind.key} {str(path)!r}"
    try:
        raw = read_report_file(path)
    except OSError as error:
        raise GateRefusal(f"{named} cannot be read ({error.strerror or error}). {run}") from None
    except ReportError as error:
        raise GateRefusal(f"{named} cannot be read ({error.problem}). {run}") from None
    try:
        report = parse_report(raw)
    except ReportError as error:
        raise GateRefusal(f"{named} is not an evidence report ({error}). {run}") from None
    if report.kind != kind.kind:
        raise GateRefusal(f"{named} is a {report.kind!r} report; {kind.key} must be a {kind.kind!r} report. {run}")
    if report.schema_version != SCHEMA_VERSION:
        raise GateRefusal(
            f"{named} has schema_version {report.schema_version}; this program reads {SCHEMA_VERSION}. {run}"
        )
    if report.created_at.tzinfo is None:
        raise GateRefusal(f"{named} has created_at {report.created_at.isoformat()} without a time zone. {run}")
    if report.result != "pass":
        raise GateRefusal(f"{named} says {report.result}: {_failure_summary(report)}. Fix the cause, then {run}")
    contradiction = contradicts_itself(report)
    if contradiction:
        raise GateRefusal(f"{named} says pass but {contradiction}: a broken or edited report. {run}")
    if freshness is not None:
        _check_age(named, report.created_at, freshness, run)
    return Evidence(path, hashlib.sha256(raw).hexdigest(), report)


def contradicts_itself(report: Report) -> str | None:
    """What a passing report says against itself, where it can be recomputed (a gate refuses it; so does a
    script that would build on it)."""
    check = {
        "compare": _compare_contradiction,
        "drill": _drill_contradiction,
        "freeze": _freeze_contradiction,
        "status": _status_contradiction,
    }.get(report.kind)
    return check(report.details) if check else None


def _compare_contradiction(details: dict[str, Any]) -> str | None:
    if details.get("differences"):
        return f"it lists {len(details['differences'])} differences"
    if details.get("source_fingerprint_sha256") != details.get("target_fingerprint_sha256"):
        return "its source and target fingerprints differ"
    if details.get("api") is not None:
        return api_part_problem(details["api"])
    return None


def _drill_contradiction(details: dict[str, Any]) -> str | None:
    if details.get("differences"):
        return f"it lists {len(details['differences'])} differences"
    if (details.get("compare") or {}).get("result") != "pass":
        return "its restore compare did not pass"
    return None


def _freeze_contradiction(details: dict[str, Any]) -> str | None:
    try:
        recomputed, read = fingerprint_digest(details["fingerprint"]), read_digest(details["fingerprint"])
    except (KeyError, TypeError, AttributeError):
        return "it carries no fingerprint"
    if recomputed != details.get("fingerprint_sha256"):
        return "its fingerprint_sha256 is not the digest of its fingerprint"
    if read != details.get("fingerprint_read_sha256"):
        return "its fingerprint_read_sha256 is not the digest of its fingerprint with where and when it was read"
    return None


def _status_contradiction(details: dict[str, Any]) -> str | None:
    failing = [c for c in details.get("checks") or [] if not c.get("ok")]
    if details.get("problems") or failing:
        return "it lists problems"
    return None


def _check_age(named: str, created_at: datetime, freshness: Freshness, run: str) -> None:
    age = freshness.now - created_at
    if age < timedelta(0):
        raise GateRefusal(
            f"{named} is dated {created_at.isoformat()}, in the future (now {freshness.now.isoformat()}): "
            f"a wrong clock or an edited file. {run}"
        )
    if age > freshness.max_age:
        hours = age.total_seconds() / 3600
        limit = freshness.max_age.total_seconds() / 3600
        raise GateRefusal(
            f"{named} is {hours:.1f} h old, older than state-hub-infra:{MAX_AGE_KEY} ({limit:g} h): "
            f"take it again. {run}"
        )


def _failure_summary(report: Report) -> str:
    differences = report.details.get("differences") or []
    if differences:
        first = differences[0]
        more = f" (and {len(differences) - 1} more)" if len(differences) > 1 else ""
        return f"{first.get('kind')} difference in {first.get('where')}{more}"
    warnings = report.details.get("warnings") or []
    if warnings:
        return str(warnings[0])
    return str(report.details.get("error") or "see the report's details")
