"""Run the real program offline, the way scripts/render.py does."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from statehub.engine.go_modules import GoModuleError, crd_files
from statehub.offline.manifests import kubernetes_manifests
from statehub.offline.offline_program import ProgramRun, run_program
from statehub.offline.stack_config import StackConfig, load_stack_config
from statehub.policy.evidence_settings import REGISTRY_CHECK_EXCEPTION_KEY
from statehub.rehearsal.gate_runs import STAND_IN_DECISIONS
from tests.program.evidence_set import EvidenceSet

PROJECT_DIR = Path(__file__).resolve().parents[2]

Render = Callable[..., ProgramRun]

BACKUP_DECIDED = (
    "backupDestinationPath=s3://state-hub-backups/railiance01",
    "backupEndpointUrl=https://minio.railiance.internal",
    "backupCredentialsSecret=state-hub-backup-credentials",
)
"""Overrides that take the open backup decision (stage stabilise needs it)."""

PRIVATE_INGRESS = (
    "exposure=private-ingress",
    "hostname=state-hub.railiance.internal",
    "ingressClassName=traefik-private",
    "ingressAllowCidrs=['100.64.0.0/10']",
)
"""Overrides that choose the private-ingress exposure with all its decisions."""


RAILIANCE01_DECIDED = ("dbLocale=en_US.utf8", *(f"{key}={value}" for key, value in STAND_IN_DECISIONS.items()))
"""railiance01's open decisions, taken as an operator would before stage empty (tests that check a refusal
unset one: `dbLocale=`)."""


DEV_DECIDED = (f"{REGISTRY_CHECK_EXCEPTION_KEY}={STAND_IN_DECISIONS[REGISTRY_CHECK_EXCEPTION_KEY]}",)
"""dev's image is a placeholder digest no registry holds: its renders carry the stand-ins' recorded exception."""


def stack_config(stack: str, *overrides: str) -> StackConfig:
    decided = RAILIANCE01_DECIDED if stack == "railiance01" else DEV_DECIDED if stack == "dev" else ()
    return load_stack_config(PROJECT_DIR, stack, [*decided, *overrides])


@pytest.fixture
def render() -> Render:
    """`render("dev", "stage=image", ...)` runs __main__.py with those overrides; `previous_outputs`
    stand for the outputs of the stack's last update (a new stack without them)."""

    def run(stack: str, *overrides: str, previous_outputs: dict[str, object] | None = None) -> ProgramRun:
        return run_program(PROJECT_DIR, stack_config(stack, *overrides), previous_outputs=previous_outputs)

    return run


def by_kind(run: ProgramRun, kind: str) -> list[dict]:  # type: ignore[type-arg]
    return [m for m in kubernetes_manifests(run) if m["kind"] == kind]


def manifest(run: ProgramRun, kind: str, name: str) -> dict:  # type: ignore[type-arg]
    return next(m for m in by_kind(run, kind) if m["metadata"]["name"] == name)


def one(run: ProgramRun, kind: str) -> dict:  # type: ignore[type-arg]
    found = by_kind(run, kind)
    assert len(found) == 1, f"{len(found)} {kind}"
    return found[0]


@pytest.fixture
def evidence(tmp_path: Path) -> EvidenceSet:
    return EvidenceSet(tmp_path)


def checkout_repo(tmp_path: Path) -> tuple[Path, str]:
    """A State Hub checkout stand-in: a git repository with a Dockerfile, one commit."""
    repo = tmp_path / "state-hub"
    repo.mkdir()
    (repo / "Dockerfile").write_text('FROM python:3.12-slim\nCMD ["uvicorn"]\n')
    env = {**os.environ, "GIT_AUTHOR_DATE": "2026-11-20T08:00:00Z", "GIT_COMMITTER_DATE": "2026-11-20T08:00:00Z"}
    for argv in (
        ["init", "-q"],
        ["remote", "add", "origin", "https://git.example/state-hub.git"],
        ["add", "Dockerfile"],
        ["-c", "user.name=t", "-c", "user.email=t@example", "commit", "-qm", "state hub"],
    ):
        subprocess.run(["git", "-C", str(repo), *argv], check=True, env=env)
    head = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "HEAD"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return repo, head


def crd_validator(name: str) -> jsonschema.Draft7Validator:
    """A validator of one CRD's v1 schema (file `name`, from the pinned cnpg or Barman Cloud module; skips
    visibly when Go or the module cannot be had), with unknown fields refused: the API server would prune
    them silently."""
    try:
        found = [path for path in crd_files() if path.name == name]
    except GoModuleError as error:
        pytest.skip(f"CRD {name} not available ({error}): not checked against its schema")
    assert found, f"no CRD file {name} in the pinned modules"
    crd = yaml.safe_load(found[0].read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    schema = _closed(version["schema"]["openAPIV3Schema"])
    schema["properties"]["metadata"] = {"type": "object"}
    return jsonschema.Draft7Validator(schema)


def _closed(schema: Any) -> Any:
    if isinstance(schema, dict):
        closed = {k: _closed(v) for k, v in schema.items()}
        if (
            "properties" in schema
            and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
        ):
            closed["additionalProperties"] = False
        return closed
    if isinstance(schema, list):
        return [_closed(v) for v in schema]
    return schema
