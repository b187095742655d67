"""A consistent set of evidence reports for the gate tests, written by the real report writer.

Each report can be spoiled in one way (failing, stale, future-dated, wrong kind, inconsistent)
to prove the gates refuse it with its own message. The end-to-end rehearsal test produces the
same files with the real scripts against real PostgreSQL.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from statehub.data.report_files import write_report
from statehub.policy.fingerprints import HASH_ALGORITHM, Fingerprint, fingerprint_digest, read_digest
from statehub.policy.report import Report

WORKSTATION = {"system_identifier": "7300000000000000001", "database": "state_hub"}
CLUSTER = {"system_identifier": "7400000000000000002", "database": "state_hub"}
THROWAWAY = {"system_identifier": "7500000000000000003", "database": "state_hub"}
FROZEN_STATE: Fingerprint = {
    "algorithm": HASH_ALGORITHM,
    "server_version": "16.2",
    "read_at": {"snapshot": "740:740:", "server_started": "2026-12-01", "checkpoint": "0/1/1", "database_oid": "5"},
    "database_settings": [],
    "tables": {},
    "sequences": {},
    "schema": {},
    "alembic_revision": "0042",
    "system_identifier": WORKSTATION["system_identifier"],
    "database": WORKSTATION["database"],
}
"""A fingerprint (empty, but of the real shape): the freeze report's digest must be its digest."""
FROZEN_FINGERPRINT = fingerprint_digest(FROZEN_STATE)
DRILLED_FINGERPRINT = "d" * 64


SUMMARY: dict[str, Any] = {"counts": {"workstreams": 117, "tasks": 989}, "latest": {"tasks": [{"id": 989}]}}


def api_part(**changes: Any) -> dict[str, Any]:
    """A passing API part as compare.py writes it (both sides healthy, equal summaries, equal reads)."""
    read_digest = "e" * 64
    healthy = {"status": 200, "body": {"status": "ok", "db": "connected"}}
    part: dict[str, Any] = {
        "volatile_fields": ["generated_at"],
        "source": {"url": "http://127.0.0.1:8000", "health": healthy},
        "target": {"url": "http://127.0.0.1:8001", "health": healthy},
        "summary": {
            "source": {**SUMMARY, "generated_at": "2026-11-28T10:00:00Z"},
            "target": {**SUMMARY, "generated_at": "2026-11-28T10:00:01Z"},
            "equal": True,
        },
        "reads": [
            {
                "path": path,
                "source": {"status": 200, "sha256": read_digest},
                "target": {"status": 200, "sha256": read_digest},
                "equal": True,
            }
            for path in ("/state/workstreams/1", "/state/workstreams/117", "/state/repos/1", "/state/tokens")
        ],
        "warnings": [],
        "problems": [],
        "result": "pass",
    }
    return {**part, **changes}


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class EvidenceSet:
    directory: Path
    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def write(self, name: str, kind: str, *, age: timedelta, result: str = "pass", **details: Any) -> Path:
        report = Report(kind=kind, created_at=self.now - age, result=result, details=details)  # type: ignore[arg-type]
        return write_report(report, self.directory / f"{name}.json")

    def drill(self, name: str, *, age: timedelta, **details: Any) -> Path:
        """A drill report as drill.py writes it (its restore compare passed), `details` on top."""
        shaped: dict[str, Any] = {
            "source_database": WORKSTATION,
            "dump": {"sha256": "a" * 64, "fingerprint_sha256": DRILLED_FINGERPRINT},
            "compare": {"result": "pass", "target_database": THROWAWAY},
            "differences": [],
        }
        return self.write(name, "drill", age=age, **{**shaped, **details})

    def compare(self, name: str, *, age: timedelta, source: str, target: str | None = None, **details: Any) -> Path:
        """A compare report of `source` and `target` fingerprints (equal unless told), target_role cluster, with
        a passing API part."""
        shaped: dict[str, Any] = {
            "differences": [],
            "source_fingerprint_sha256": source,
            "target_fingerprint_sha256": source if target is None else target,
            "target_role": "cluster",
            "source_database": WORKSTATION,
            "target_database": CLUSTER,
            "api": api_part(),
        }
        return self.write(name, "compare", age=age, **{**shaped, **details})

    def freeze(self, name: str, *, age: timedelta, **details: Any) -> Path:
        """A freeze report as freeze.py writes it: its read digest is that of the fingerprint it carries."""
        fingerprint = details.get("fingerprint", FROZEN_STATE)
        shaped: dict[str, Any] = {
            "fingerprint": FROZEN_STATE,
            "fingerprint_sha256": FROZEN_FINGERPRINT,
            "fingerprint_read_sha256": read_digest(fingerprint),
            "proof": {"write_attempt": "refused: cannot execute INSERT in a read-only transaction"},
        }
        return self.write(name, "freeze", age=age, **{**shaped, **details})

    def status(self, name: str, *, age: timedelta, **details: Any) -> Path:
        """A healthy status report as status.py writes it: a completed backup, a recovery window."""
        shaped: dict[str, Any] = {
            "checks": [{"name": "phase", "ok": True, "detail": "Cluster in healthy state"}],
            "problems": [],
            "last_backup": {"name": "state-hub-db-daily-1", "age_hours": 5.0},
            "recovery_window": {"firstRecoverabilityPoint": "2026-11-20T03:00:00Z"},
            "node_disks": {"railiance01": {"available_bytes": 200 * 2**30, "capacity_bytes": 500 * 2**30}},
        }
        return self.write(name, "status", age=age, **{**shaped, **details})

    def standard(self) -> dict[str, Path]:
        """drill 3 h old, restore compare 2 h, freeze 1 h, final compare 50 min: all passing, one chain."""
        return {
            "drillReport": self.drill("drill", age=timedelta(hours=3)),
            "restoreCompareReport": self.compare("restore-compare", age=timedelta(hours=2), source=DRILLED_FINGERPRINT),
            "freezeReport": self.freeze("freeze", age=timedelta(hours=1)),
            "finalCompareReport": self.compare("final-compare", age=timedelta(minutes=50), source=FROZEN_FINGERPRINT),
        }

    def overrides(self, files: dict[str, Path], *, approve: bool = True) -> list[str]:
        """Stack config overrides naming the files, with the approval of exactly these files."""
        values = [f"{key}={path}" for key, path in files.items()]
        if approve:
            values.append(self.approval(files))
        return values

    def approval(self, files: dict[str, Path], **changes: str) -> str:
        record = {
            "by": "alice",
            "at": (self.now - timedelta(minutes=10)).isoformat(),
            "reference": "https://tracker.example/state-hub/cutover",
            "freezeReportSha256": sha256_of(files["freezeReport"]),
            "finalCompareReportSha256": sha256_of(files["finalCompareReport"]),
            **changes,
        }
        return f"approval={json.dumps(record)}"
