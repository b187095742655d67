"""Run the real program offline, the way scripts/render.py does."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from statehub.manifests import kubernetes_manifests
from statehub.offline_program import ProgramRun, run_program
from statehub.stack_config import StackConfig, load_stack_config

PROJECT_DIR = Path(__file__).resolve().parents[2]

Render = Callable[..., ProgramRun]

PRIVATE_INGRESS = (
    "exposure=private-ingress",
    "hostname=state-hub.railiance.internal",
    "ingressClassName=traefik-private",
    "ingressAllowCidrs=['100.64.0.0/10']",
)
"""Overrides that choose the private-ingress exposure with all its decisions."""


def stack_config(stack: str, *overrides: str) -> StackConfig:
    return load_stack_config(PROJECT_DIR, stack, list(overrides))


@pytest.fixture
def render() -> Render:
    """`render("dev", "stage=image", ...)` runs __main__.py with those overrides."""

    def run(stack: str, *overrides: str) -> ProgramRun:
        return run_program(PROJECT_DIR, stack_config(stack, *overrides))

    return run


def by_kind(run: ProgramRun, kind: str) -> list[dict]:  # type: ignore[type-arg]
    return [m for m in kubernetes_manifests(run) if m["kind"] == kind]


def manifest(run: ProgramRun, kind: str, name: str) -> dict:  # type: ignore[type-arg]
    return next(m for m in by_kind(run, kind) if m["metadata"]["name"] == name)


def one(run: ProgramRun, kind: str) -> dict:  # type: ignore[type-arg]
    found = by_kind(run, kind)
    assert len(found) == 1, f"{len(found)} {kind}"
    return found[0]
