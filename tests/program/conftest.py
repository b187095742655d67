"""Run the real program offline, the way scripts/render.py does."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from statehub.offline_program import ProgramRun, run_program
from statehub.stack_config import StackConfig, load_stack_config

PROJECT_DIR = Path(__file__).resolve().parents[2]

Render = Callable[..., ProgramRun]


def stack_config(stack: str, *overrides: str) -> StackConfig:
    return load_stack_config(PROJECT_DIR, stack, list(overrides))


@pytest.fixture
def render() -> Render:
    """`render("dev", "stage=image", ...)` runs __main__.py with those overrides."""

    def run(stack: str, *overrides: str) -> ProgramRun:
        return run_program(PROJECT_DIR, stack_config(stack, *overrides))

    return run
