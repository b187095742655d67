"""Run the real `__main__.py` through the real Pulumi CLI and providers (the engine tier).

The Python language host is not served by the Go module proxy, so the program is handed to the
CLI the way the Automation API does it: an inline program served over gRPC from this process
(`pulumi preview/up --client`). Everything after that is the real engine: the CLI's config rules
(`Pulumi.yaml` declarations against the stack file), plan and diff, the Kubernetes provider's
checks and server-side dry runs, `protect`, secrets encryption and the state file (a local file
backend). The committed stack files are never edited: `Pulumi.yaml` and `Pulumi.<stack>.yaml` are
copied into a work folder and the temporary stack's own config adds what the test or operator sets.
"""

from __future__ import annotations

import contextlib
import os
import runpy
import secrets
import shutil
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pulumi import automation as auto

from statehub.engine.engine_build import pulumi_home
from statehub.policy.settings import PROJECT

PASSPHRASE_ENV = "PULUMI_CONFIG_PASSPHRASE"  # noqa: S105 - the name of the variable, not a secret


@dataclass(frozen=True)
class EngineStack:
    stack: auto.Stack
    work_dir: Path
    """Where the copied project and stack files live (the temporary stack's config is written here)."""
    state_dir: Path
    """The file backend: every checkpoint of the stack, as the CLI writes it."""


def engine_env(bin_dir: Path, state_dir: Path, passphrase: str) -> dict[str, str]:
    """The CLI's environment: local file backend, no downloads, no update checks, the built provider
    installed as a plugin, and a temporary folder of the stack's own: the Kubernetes provider writes the
    kubeconfig it uses (its bearer token included) to a temporary file per run and never removes it."""
    return {
        "TMPDIR": str(state_dir / "tmp"),
        "PULUMI_HOME": str(pulumi_home(bin_dir)),
        "PULUMI_BACKEND_URL": f"file://{state_dir / 'backend'}",
        PASSPHRASE_ENV: passphrase,
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "PULUMI_IGNORE_AMBIENT_PLUGINS": "true",  # the provider beside the CLI would win over the installed one
        "PULUMI_SKIP_CONFIRMATIONS": "true",
    }


def create_engine_stack(
    project_dir: Path,
    stack_name: str,
    work_dir: Path,
    bin_dir: Path,
    *,
    config: dict[str, str],
    secret_config: dict[str, str],
) -> EngineStack:
    """A new stack named `stack_name` with the committed stack file's config plus `config`/`secret_config`."""
    work_dir.mkdir(parents=True, exist_ok=True)
    for name in ("Pulumi.yaml", f"Pulumi.{stack_name}.yaml"):
        shutil.copyfile(project_dir / name, work_dir / name)
    state_dir = work_dir / ".pulumi-state"
    for folder in ("backend", "tmp"):
        (state_dir / folder).mkdir(parents=True, exist_ok=True)
    env = engine_env(bin_dir, state_dir, secrets.token_urlsafe(24))
    workspace = auto.LocalWorkspace(
        work_dir=str(work_dir),
        program=_program(project_dir),
        env_vars=env,
        pulumi_command=auto.PulumiCommand(root=str(bin_dir.parent), skip_version_check=True),
    )
    stack = auto.Stack.create(stack_name, workspace)
    values = {key: auto.ConfigValue(value) for key, value in config.items()}
    values.update({key: auto.ConfigValue(value, secret=True) for key, value in secret_config.items()})
    stack.set_all_config({_qualify(key): value for key, value in values.items()}, path=False)
    return EngineStack(stack, work_dir, state_dir)


def _qualify(key: str) -> str:
    return key if ":" in key else f"{PROJECT}:{key}"


def _program(project_dir: Path) -> Callable[[], None]:
    """The inline program: the project's own `__main__.py`, run as the language host runs it."""

    def run() -> None:
        with _in_directory(project_dir):
            runpy.run_path(str(project_dir), run_name="__main__")

    return run


@contextlib.contextmanager
def _in_directory(directory: Path) -> Iterator[None]:
    """The CLI runs a program in its project directory (relative evidence paths resolve there)."""
    previous = Path.cwd()
    os.chdir(directory)
    try:
        yield
    finally:
        os.chdir(previous)


def output_values(outputs: Mapping[str, auto.OutputValue]) -> dict[str, Any]:
    return {key: output.value for key, output in outputs.items()}
