"""Run a project script the way an operator does: its own process, passwords only in the environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def script_env(**extra: str) -> dict[str, str]:
    """This process's environment without any inherited password, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k not in ("PGPASSWORD", "REGISTRY_PASSWORD")}
    return {**env, **extra}


def run_script(
    name: str, *args: str, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPTS / name), *args],
        capture_output=True,
        text=True,
        env=env if env is not None else script_env(),
        timeout=timeout,
        check=False,
    )
