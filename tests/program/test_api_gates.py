"""The API side of the evidence at the gates, through the real __main__.py under mocks: verify and cutover
refuse a compare whose API part is missing, unhealthy, different or forged, naming the side and the
field; only a recorded apiCheckException waives it, and then every run says so."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pulumi
import pytest

from tests.program.conftest import Render
from tests.program.evidence_set import DRILLED_FINGERPRINT, FROZEN_FINGERPRINT, SUMMARY, EvidenceSet, api_part

EXCEPTION = {
    "by": "alice",
    "at": "2026-11-20T10:00:00Z",
    "reference": "https://tracker.example/state-hub/api-waiver",
    "reason": "the State Hub of the workstation cannot be reached from the operator's shell",
}


def _unhealthy_target() -> dict[str, Any]:
    return api_part(target={"url": "http://c", "health": {"status": 503, "body": {"status": "error"}}})


def _summary_differs_but_says_equal() -> dict[str, Any]:
    target = {**SUMMARY, "counts": {"workstreams": 117, "tasks": 988}}
    return api_part(summary={"source": SUMMARY, "target": target, "equal": True})


def _read_missing_on_target() -> dict[str, Any]:
    part = api_part()
    part["reads"][1] = {**part["reads"][1], "target": {"status": 404, "sha256": None}}
    return part


def _read_differs() -> dict[str, Any]:
    part = api_part()
    part["reads"][0] = {**part["reads"][0], "target": {"status": 200, "sha256": "f" * 64}, "field": "tasks[3].status"}
    return part


CASES: dict[str, tuple[dict[str, Any] | None, str]] = {
    "no API part": (None, r"it has no API part"),
    "target unhealthy": (_unhealthy_target(), r"the target API is not healthy \(/state/health: HTTP 503\)"),
    "summary differs (forged equal)": (
        _summary_differs_but_says_equal(),
        r"/state/summary differs in field counts\.tasks \(source 989, target 988\)",
    ),
    "read missing on the target": (
        _read_missing_on_target(),
        r"the target API answered /state/workstreams/117 with HTTP 404",
    ),
    "read differs": (_read_differs(), r"/state/workstreams/1 differs between the sides \(field tasks\[3\]\.status\)"),
    "no reads": (api_part(reads=[]), r"it made no representative read"),
}


def _refused(render: Render, *overrides: str) -> str:
    with pytest.raises(pulumi.RunError) as error:
        render("railiance01", *overrides)
    return str(error.value)


def _with_api(evidence: EvidenceSet, name: str, source: str, api: dict[str, Any] | None, age: timedelta) -> Path:
    return evidence.compare(name, age=age, source=source, api=api)


@pytest.mark.parametrize("case", list(CASES))
def test_verify_refuses_a_restore_compare_without_a_passing_api_part(
    render: Render, evidence: EvidenceSet, case: str
) -> None:
    api, expected = CASES[case]
    files = evidence.standard()
    files["restoreCompareReport"] = _with_api(evidence, "restore-compare", DRILLED_FINGERPRINT, api, timedelta(hours=2))
    message = _refused(render, "stage=verify", "endpoint=wsl2", *evidence.overrides(files, approve=False))
    assert "state-hub-infra:restoreCompareReport" in message
    assert re.search(expected, message), message
    if api is None:
        assert "--source-api" in message and "apiCheckException" in message


@pytest.mark.parametrize("case", list(CASES))
def test_cutover_refuses_a_final_compare_without_a_passing_api_part(
    render: Render, evidence: EvidenceSet, case: str
) -> None:
    api, expected = CASES[case]
    files = evidence.standard()
    files["finalCompareReport"] = _with_api(evidence, "final-compare", FROZEN_FINGERPRINT, api, timedelta(minutes=50))
    message = _refused(render, "stage=cutover", "endpoint=cluster", *evidence.overrides(files))
    assert "state-hub-infra:finalCompareReport" in message
    assert re.search(expected, message), message


def test_a_recorded_exception_waives_the_api_part_and_every_run_says_so(render: Render, evidence: EvidenceSet) -> None:
    files = evidence.standard()
    files["restoreCompareReport"] = _with_api(
        evidence, "restore-compare", DRILLED_FINGERPRINT, None, timedelta(hours=2)
    )
    files["finalCompareReport"] = _with_api(evidence, "final-compare", FROZEN_FINGERPRINT, None, timedelta(minutes=50))
    waiver = f"apiCheckException={json.dumps(EXCEPTION)}"
    for stage, endpoint in (("verify", "wsl2"), ("cutover", "cluster")):
        run = render("railiance01", f"stage={stage}", f"endpoint={endpoint}", *evidence.overrides(files), waiver)
        assert run.outputs["stage"] == stage
        shown = [w for w in run.warnings if "apiCheckException" in w]
        assert shown and EXCEPTION["reason"] in shown[0] and "by alice" in shown[0]


def test_an_exception_without_a_reason_is_refused(render: Render, evidence: EvidenceSet) -> None:
    files = evidence.standard()
    waiver = {k: v for k, v in EXCEPTION.items() if k != "reason"}
    message = _refused(
        render, "stage=verify", "endpoint=wsl2", *evidence.overrides(files), f"apiCheckException={json.dumps(waiver)}"
    )
    assert "apiCheckException.reason" in message


def test_a_failing_api_part_in_a_report_that_says_pass_is_a_contradiction(
    render: Render, evidence: EvidenceSet
) -> None:
    """Even held evidence (the rollback does not re-check the API part) may not say pass against itself."""
    files = evidence.standard()
    files["finalCompareReport"] = _with_api(
        evidence, "final-compare", FROZEN_FINGERPRINT, _unhealthy_target(), timedelta(minutes=50)
    )
    message = _refused(render, "stage=cutover", "endpoint=wsl2", *evidence.overrides(files))
    assert "says pass but the target API is not healthy" in message
