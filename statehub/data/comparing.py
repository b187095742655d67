"""Compare two databases (or a dump manifest and a database) and the State Hub API on both sides."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from statehub.data.api_checks import check_apis
from statehub.data.dsn import Dsn
from statehub.data.fingerprint import Difference, diff_fingerprints, differing_keys, fingerprint
from statehub.data.http_client import DEADLINE
from statehub.data.processes import interrupts_to_the_main_thread
from statehub.data.row_hash import TableRef
from statehub.policy.api_contract import VOLATILE_FIELDS
from statehub.policy.fingerprints import Fingerprint, database_identity, fingerprint_digest
from statehub.policy.report import Report
from statehub.policy.settings import TargetRole

TARGET_ROLES = ("cluster", "workstation", "throwaway")
"""What the target of a compare is in the migration; the gates check it (a drill's throwaway restore
is no proof about state-hub-db)."""


@dataclass(frozen=True)
class ApiCheck:
    """The State Hubs serving each side, for the report's API part."""

    source: str
    target: str
    volatile: tuple[str, ...] = VOLATILE_FIELDS
    deadline: float = DEADLINE
    """Seconds for each whole question to an API."""


def compare_databases(
    source: Dsn | Fingerprint,
    target: Dsn,
    *,
    source_label: str,
    target_role: TargetRole = TargetRole.CLUSTER,
    api: ApiCheck | None = None,
) -> Report:
    """Fingerprint both sides at once (and ask both APIs meanwhile); name every difference, with differing
    keys where both are live."""
    started = time.monotonic()
    with ThreadPoolExecutor(3, initializer=interrupts_to_the_main_thread) as pool:
        src_future = pool.submit(fingerprint, source) if isinstance(source, Dsn) else None
        api_future = (
            pool.submit(check_apis, api.source, api.target, target, api.volatile, api.deadline) if api else None
        )
        target_fp = pool.submit(fingerprint, target).result()
        source_fp = src_future.result() if src_future else source
        api_part = api_future.result() if api_future else None
    assert isinstance(source_fp, dict)
    differences = diff_fingerprints(source_fp, target_fp)
    if isinstance(source, Dsn):
        differences = [_with_keys(d, source, target, source_fp) for d in differences]
    report = Report(
        kind="compare",
        result="fail" if differences else "pass",
        details={
            "source": source_label,
            "target": target.masked(),
            "target_role": target_role,
            "source_database": database_identity(source_fp),
            "target_database": database_identity(target_fp),
            "source_fingerprint_sha256": fingerprint_digest(source_fp),
            "target_fingerprint_sha256": fingerprint_digest(target_fp),
            "source_server_version": source_fp["server_version"],
            "target_server_version": target_fp["server_version"],
            "tables": {
                name: {
                    "source_rows": info["rows"],
                    "target_rows": other["rows"] if (other := target_fp["tables"].get(name)) else None,
                    "source_hash": info["hash"],
                    "target_hash": other["hash"] if other else None,
                }
                for name, info in source_fp["tables"].items()
            },
            "differences": [d.as_dict() for d in differences],
            "warnings": warnings(source_fp, target_fp),
            "seconds": round(time.monotonic() - started, 3),
        },
    )
    return _with_api_part(report, api_part) if api_part is not None else report


OWNERS_AND_PRIVILEGES = (
    "owners and privileges are not compared: restore runs --no-owner --no-privileges and state-hub-db's "
    "objects belong to its owner state_hub, which the app connects as (docs/compare.md)"
)


def warnings(source_fp: Fingerprint, target_fp: Fingerprint) -> list[str]:
    """What the fingerprints cannot settle but the operator must know."""
    found = [OWNERS_AND_PRIVILEGES]
    for side, fp in (("source", source_fp), ("target", target_fp)):
        found += [f"{side}: {warning}" for warning in fp.get("warnings", [])]
    source_settings, target_settings = source_fp.get("database_settings", []), target_fp.get("database_settings", [])
    if source_settings or target_settings:
        state = "differ" if source_settings != target_settings else "are the same on both sides"
        found.append(
            f"database and role settings {state} (pg_dump does not carry ALTER DATABASE/ROLE ... SET; a role's "
            "search_path can change what the app reads: apply them on the target by hand): "
            f"source {source_settings or 'none'}, target {target_settings or 'none'}"
        )
    return found


def _with_keys(difference: Difference, source: Dsn, target: Dsn, source_fp: Fingerprint) -> Difference:
    info = source_fp["tables"].get(difference.where)
    if difference.kind not in ("content", "row-count") or info is None or "schema" not in info or "name" not in info:
        return difference  # the large objects are no table to list keys of
    table = TableRef(info["schema"], info["name"], difference.where, tuple(info["primary_key"]))
    keys = differing_keys(source, target, table)
    return Difference(difference.kind, difference.where, difference.detail, keys)


def _with_api_part(report: Report, part: dict[str, Any]) -> Report:
    """`report` with the API part of both sides (`details.api`); its problems are differences and fail it."""
    report.details["api"] = part
    report.details["differences"] += part["problems"]
    report.details["warnings"] += part["warnings"]
    if part["problems"]:
        report.result = "fail"
    return report
