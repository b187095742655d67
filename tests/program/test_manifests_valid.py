"""Rendered manifests pass real validators: kubernetes-validate strict, the cnpg CRD, checkov."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from statehub.offline.manifests import MASK, kubernetes_manifests, write_manifests
from tests.program.conftest import DEV_DECIDED, PRIVATE_INGRESS, PROJECT_DIR, Render, crd_validator

KUBERNETES_VERSION = "1.31"
CHECKOV = "checkov==3.3.30"
STACK_VARIANTS = {
    "dev": ("dev",),
    "railiance01": ("railiance01",),
    "railiance01-private-ingress": ("railiance01", *PRIVATE_INGRESS, "accessNamespaces=['tailscale']"),
}
CUSTOM_KINDS = {"Cluster", "Middleware"}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    from statehub.offline.offline_program import run_program
    from tests.program.conftest import stack_config

    return {
        name: kubernetes_manifests(run_program(PROJECT_DIR, stack_config(*args)))
        for name, args in STACK_VARIANTS.items()
    }


@pytest.mark.parametrize("variant", STACK_VARIANTS)
def test_kubernetes_validate_strict(rendered: dict[str, list[dict[str, Any]]], variant: str) -> None:
    checked = 0
    for manifest in rendered[variant]:
        if manifest["kind"] in CUSTOM_KINDS:
            continue
        kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
        checked += 1
    assert checked >= 8


def test_strict_validation_catches_a_misspelt_field(rendered: dict[str, list[dict[str, Any]]]) -> None:
    deployment = copy.deepcopy(next(m for m in rendered["dev"] if m["kind"] == "Deployment"))
    deployment["spec"]["replicaz"] = 1
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_cluster_matches_the_cnpg_crd(rendered: dict[str, list[dict[str, Any]]]) -> None:
    validator = crd_validator("postgresql.cnpg.io_clusters.yaml")
    for variant in rendered.values():
        (cluster,) = [m for m in variant if m["kind"] == "Cluster"]
        errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(cluster)]
        assert errors == []
    broken = copy.deepcopy(cluster)
    broken["spec"]["enableSuperUserAccess"] = True
    assert list(validator.iter_errors(broken)), "a misspelt Cluster field must fail the CRD check"


def test_checkov_finds_no_failed_check(rendered: dict[str, list[dict[str, Any]]], tmp_path: Path) -> None:
    for variant, manifests in rendered.items():
        write_manifests(manifests, tmp_path / variant)
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CKV_SKIP_PACKAGE_UPDATE_CHECK": "TRUE", "PYTHONWARNINGS": "ignore"}
    result = subprocess.run(
        [
            "uvx",
            "--from",
            CHECKOV,
            "checkov",
            "-d",
            str(tmp_path),
            "--framework",
            "kubernetes",
            "--skip-download",
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    report = json.loads(result.stdout)
    summary = report["summary"]
    failed = [(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]]
    assert failed == []
    assert summary["failed"] == 0
    assert summary["passed"] > 100
    skipped_checks = report["results"]["skipped_checks"]
    assert skipped_checks, "the CKV_K8S_35 skips with their reason are expected"
    for skipped in skipped_checks:
        assert skipped["check_id"] == "CKV_K8S_35"
        assert "DATABASE_URL" in skipped["check_result"]["suppress_comment"]


def test_no_secret_in_clear_text(render: Render, tmp_path: Path) -> None:
    run = render("dev")
    password = run.named("state-hub-db-owner-password")
    assert password.inputs  # the generated value is only in the mock's output state
    from statehub.offline.manifests import plain

    secret_values = {"mock-"}  # every mock password starts with this
    written = write_manifests(kubernetes_manifests(run), tmp_path)
    texts = [p.read_text() for p in written] + [json.dumps(plain(run.outputs))]
    for text in texts:
        for marker in secret_values:
            assert marker not in text
    assert any(MASK in t for t in texts)
    printed = subprocess.run(
        [sys.executable, str(PROJECT_DIR / "scripts" / "render.py"), "--stack", "dev", "--out", str(tmp_path / "cli")]
        + [arg for decided in DEV_DECIDED for arg in ("--set", decided)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "mock-" not in printed.stdout + printed.stderr
    for path in (tmp_path / "cli").iterdir():
        assert "mock-" not in path.read_text()
