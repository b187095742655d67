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

from statehub.reports import Report, write_report

FROZEN_FINGERPRINT = "f" * 64


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class EvidenceSet:
    directory: Path
    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def write(self, name: str, kind: str, *, age: timedelta, result: str = "pass", **details: Any) -> Path:
        report = Report(kind=kind, created_at=self.now - age, result=result, details=details)  # type: ignore[arg-type]
        return write_report(report, self.directory / f"{name}.json")

    def standard(self) -> dict[str, Path]:
        """drill 3 h old, restore compare 2 h, freeze 1 h, final compare 50 min: all passing."""
        compare: dict[str, Any] = {"differences": [], "source_fingerprint_sha256": FROZEN_FINGERPRINT}
        return {
            "drillReport": self.write("drill", "drill", age=timedelta(hours=3), dump_sha256="d" * 64),
            "restoreCompareReport": self.write("restore-compare", "compare", age=timedelta(hours=2), **compare),
            "freezeReport": self.write(
                "freeze",
                "freeze",
                age=timedelta(hours=1),
                fingerprint_sha256=FROZEN_FINGERPRINT,
                proof={"write_attempt": "refused: cannot execute INSERT in a read-only transaction"},
            ),
            "finalCompareReport": self.write("final-compare", "compare", age=timedelta(minutes=50), **compare),
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
