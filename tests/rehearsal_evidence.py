"""The evidence a rehearsal leaves in its output folder, as stack config overrides for the stages after it
(stabilise), with an approval of exactly those files: the engine tier's stage walk and the pods tier use it."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path


def rehearsal_evidence(out: Path, *, by: str, reference: str) -> list[str]:
    files = {
        "drillReport": out / "drill" / "drill-report.json",
        "restoreCompareReport": out / "restore-compare.json",
        "freezeReport": out / "freeze.json",
        "finalCompareReport": out / "final-compare.json",
    }
    approval = {
        "by": by,
        "at": datetime.now(UTC).isoformat(),
        "reference": reference,
        "freezeReportSha256": hashlib.sha256(files["freezeReport"].read_bytes()).hexdigest(),
        "finalCompareReportSha256": hashlib.sha256(files["finalCompareReport"].read_bytes()).hexdigest(),
    }
    return [*(f"{key}={path}" for key, path in files.items()), f"approval={json.dumps(approval)}"]
