"""Ask the real program whether a stage may go ahead: under Pulumi's mocks, or with the real engine.

`MockGates` runs `__main__.py` in-process (seconds, no tools needed). `EngineGates` applies each
stage with the real Pulumi CLI and Kubernetes provider to a local API server (`api_server`), so a
gate there is `pulumi preview --diff` followed by `pulumi up`, exactly the operator's commands.
Both take the same `KEY=VALUE` overrides and report a refusal the same way.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pulumi
from pulumi import automation as auto

from statehub.engine.control_plane import running
from statehub.engine.engine_program import EngineStack, create_engine_stack, output_values
from statehub.engine.pki import CONTEXT
from statehub.offline.offline_program import run_program
from statehub.offline.stack_config import StackConfig, apply_override, load_stack_config
from statehub.policy.evidence_settings import REGISTRY_CHECK_EXCEPTION_KEY
from statehub.policy.refusal import GateRefusal
from statehub.policy.settings import PROJECT

PROJECT_DIR = Path(__file__).resolve().parents[2]
STACK = "railiance01"
STAND_IN_DECISIONS = {
    "image": "registry.railiance.internal:5000/state-hub@sha256:" + hashlib.sha256(b"state-hub stand-in").hexdigest(),
    "wsl2Address": "100.100.7.20",
    REGISTRY_CHECK_EXCEPTION_KEY: json.dumps(
        {
            "by": "rehearsal",
            "at": "2026-01-01T00:00:00Z",
            "reference": "statehub/rehearsal/gate_runs.py",
            "reason": "the stand-in image is in no registry: gates without a node pull nothing",
        }
    ),
}
"""railiance01's open decisions as gates without a node take them (stage empty refuses the stack without
them): an image nobody pulls, a tailnet-like address nothing routes to, and the recorded exception for the
registry checks such an image cannot pass. The pods side sets real ones and checks its node's registry."""


@dataclass(frozen=True)
class Change:
    """One step of a preview that is not `same`."""

    op: str
    """create | update | replace | delete | create-replacement | delete-replaced | ..."""
    type: str
    name: str
    diffs: tuple[str, ...] = ()
    """Top-level properties that differ (engine only)."""


@dataclass
class GateRun:
    outputs: dict[str, Any]
    warnings: list[str]
    changes: list[Change] = field(default_factory=list)
    """What the preview planned (engine only: mocks see no prior state)."""


class Gates(Protocol):
    name: str

    def __call__(self, overrides: Sequence[str]) -> GateRun: ...


class MockGates:
    """The real program under mocks, with the overrides on top of the committed stack file."""

    name = "mocks"

    def __call__(self, overrides: Sequence[str]) -> GateRun:
        try:
            decided = [f"{key}={value}" for key, value in STAND_IN_DECISIONS.items()]
            run = run_program(PROJECT_DIR, load_stack_config(PROJECT_DIR, STACK, [*decided, *overrides]))
        except pulumi.RunError as refusal:
            raise GateRefusal(str(refusal)) from None
        return GateRun(run.outputs, run.warnings)


class EngineGates:
    """Each gate is `pulumi preview --diff` then `pulumi up` of the temporary stack, for real."""

    name = "pulumi"

    def __init__(self, engine: EngineStack) -> None:
        self.engine = engine
        self.history: list[tuple[list[str], GateRun]] = []

    def __call__(self, overrides: Sequence[str]) -> GateRun:
        self.configure(overrides)
        stack = self.engine.stack
        changes: list[Change] = []
        warnings: list[str] = []
        try:
            stack.preview(diff=True, on_event=lambda event: _collect(event, changes, warnings))
            up = stack.up(on_event=lambda event: _collect(event, [], []))
        except auto.CommandError as error:
            refusal = GateRefusal(refusal_line(str(error)))
            refusal.add_note(_diagnostics(str(error)))  # shown with a traceback (a test's), never in the line
            raise refusal from None
        run = GateRun(output_values(up.outputs), warnings, changes)
        self.history.append((list(overrides), run))
        return run

    def configure(self, overrides: Sequence[str]) -> None:
        """`pulumi config set` (objects and arrays with `--path`, one part at a time) or `rm` for each override."""
        parsed = StackConfig(project=PROJECT, stack=STACK)
        for override in overrides:
            apply_override(parsed, override)
        stack = self.engine.stack
        for override in overrides:
            key = parsed.qualify(override.partition("=")[0].strip())
            value = parsed.raw.get(key)
            if key not in parsed.raw or isinstance(value, dict | list):  # unset, or one whose old parts must go
                with contextlib.suppress(auto.CommandError):
                    stack.remove_config(key)
            if key not in parsed.raw:
                continue
            if isinstance(value, dict):
                stack.set_all_config(
                    {f"{key}.{name}": auto.ConfigValue(str(item)) for name, item in value.items()}, path=True
                )
            elif isinstance(value, list):  # an array: one element at a time, as `pulumi config set --path` does
                stack.set_all_config(
                    {f"{key}[{i}]": auto.ConfigValue(str(item)) for i, item in enumerate(value)}, path=True
                )
            else:
                stack.set_config(key, auto.ConfigValue(parsed.values[key]))


def _collect(event: auto.EngineEvent, changes: list[Change], warnings: list[str]) -> None:
    if event.diagnostic_event and event.diagnostic_event.severity == "warning":
        warnings.append(event.diagnostic_event.message.strip())
    pre = event.resource_pre_event
    if pre is None or pre.metadata.op.value == "same":
        return
    urn = pre.metadata.urn
    changes.append(
        Change(pre.metadata.op.value, pre.metadata.type, urn.rsplit("::", 1)[-1], tuple(pre.metadata.diffs or ()))
    )


def _diagnostics(cli_output: str) -> str:
    """The CLI's own account of a failed run: from its Diagnostics heading on (secrets are masked there)."""
    start = cli_output.find("Diagnostics:")
    return cli_output[start:][:6000] if start >= 0 else cli_output[-6000:]


def refusal_line(cli_output: str) -> str:
    """The program's refusal as the CLI printed it: the first `error:` line that is not the CLI's summary."""
    for line in cli_output.splitlines():
        text = line.strip()
        if text.startswith("error: ") and "preview failed" not in text and "update failed" not in text:
            return text.removeprefix("error: ")
    return cli_output.strip().splitlines()[-1] if cli_output.strip() else "the CLI failed without a message"


@contextlib.contextmanager
def engine_gates(work_dir: Path, bin_dir: Path, progress: Any, *, locale: str = "en_US.utf8") -> Iterator[EngineGates]:
    """A local API server and a temporary railiance01 stack applied at stage empty (state-hub-db made with
    `locale`, the workstation's); all gone afterwards."""
    with running(work_dir / "kube", bin_dir, progress) as cluster:
        engine = create_engine_stack(
            PROJECT_DIR,
            STACK,
            work_dir / "project",
            bin_dir,
            config={
                "kubeconfig": str(cluster.kubeconfig),
                "kubeContext": CONTEXT,
                "apiOnlyCluster": "true",
                **STAND_IN_DECISIONS,
            },
            secret_config={"dbOwnerPassword": secrets.token_urlsafe(24)},
        )
        gates = EngineGates(engine)
        gates(["stage=empty", "endpoint=wsl2", f"dbLocale={locale}"])
        progress("stage empty applied to the local API server")
        yield gates
