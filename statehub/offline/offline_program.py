"""Run the real `__main__.py` in-process under Pulumi's mocks, the way the language host runs it.

Every registration is recorded with its inputs (wire form: camelCase, secrets wrapped) and its
resource options (protect, parent, provider, dependencies), which `MockResourceArgs` does not
carry. Stack exports are captured too. This powers the offline render and the program tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import runpy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pulumi.runtime import mocks, rpc, settings
from pulumi.runtime.config import set_all_config
from pulumi.runtime.stack import run_in_stack

from statehub.offline.stack_config import StackConfig
from statehub.stack_history import READ_STACK_OUTPUTS

STACK_TYPE = "pulumi:pulumi:Stack"


@dataclass
class RecordedResource:
    urn: str
    type: str
    name: str
    custom: bool
    parent: str
    provider: str
    """Provider reference `urn::id`; empty for the default provider (or a component)."""
    protect: bool
    retain_on_delete: bool
    dependencies: list[str]
    """URNs this resource waits for: explicit depends_on and implied by its inputs."""
    inputs: dict[str, Any] = field(default_factory=dict)


@dataclass
class ProgramRun:
    resources: list[RecordedResource]
    outputs: dict[str, Any]
    """Stack exports, secrets still wrapped."""
    warnings: list[str] = field(default_factory=list)
    """What the program logged as warnings (`pulumi.log.warn`), as the CLI would show them."""

    def of_type(self, prefix: str) -> list[RecordedResource]:
        return [r for r in self.resources if r.type.startswith(prefix)]

    def named(self, name: str) -> RecordedResource:
        matches = [r for r in self.resources if r.name == name]
        if len(matches) != 1:
            raise KeyError(f"{len(matches)} resources named {name!r}")
        return matches[0]


def _fake_digest(seed: str) -> str:
    return "sha256:" + hashlib.sha256(seed.encode()).hexdigest()


class _Mocks(mocks.Mocks):
    """Computed outputs that providers would fill in; everything else echoes the inputs.

    `previous_outputs` stand for the outputs of the stack's last update (the engine's
    `readStackOutputs`); a render starts from a new stack.
    """

    def __init__(self, previous_outputs: dict[str, Any]) -> None:
        self.previous_outputs = previous_outputs

    def new_resource(self, args: mocks.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        state = dict(args.inputs)
        if args.typ == "random:index/randomPassword:RandomPassword":
            state["result"] = "mock-" + hashlib.sha256(args.name.encode()).hexdigest()[:27]
        elif args.typ == "docker:index/image:Image":
            repository = str(args.inputs.get("imageName", "image")).rsplit(":", 1)[0]
            state["repoDigest"] = f"{repository}@{_fake_digest(args.name)}"
        return f"{args.name}-id", state

    def call(self, args: mocks.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        if args.token == READ_STACK_OUTPUTS:
            return {"name": args.args.get("name"), "outputs": self.previous_outputs}, []
        return {}, []


class _RecordingMonitor(mocks.MockMonitor):
    def __init__(self, program_mocks: mocks.Mocks) -> None:
        super().__init__(program_mocks)
        self.recorded: list[RecordedResource] = []
        self.outputs: dict[str, Any] = {}

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        if request.type != STACK_TYPE:
            self.recorded.append(
                RecordedResource(
                    urn=response.urn,
                    type=request.type,
                    name=request.name,
                    custom=bool(request.custom),
                    parent=request.parent,
                    provider=request.provider,
                    protect=bool(request.protect),
                    retain_on_delete=bool(request.retainOnDelete),
                    dependencies=list(request.dependencies),
                    inputs=rpc.deserialize_properties(request.object, keep_unknowns=True),
                )
            )
        return response

    def RegisterResourceOutputs(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        if request.urn.split("::")[2] == STACK_TYPE:
            self.outputs = rpc.deserialize_properties(request.outputs, keep_unknowns=True)
        return super().RegisterResourceOutputs(request)  # type: ignore[no-untyped-call]


def run_program(
    project_dir: Path, config: StackConfig, *, preview: bool = True, previous_outputs: dict[str, Any] | None = None
) -> ProgramRun:
    """Run `project_dir/__main__.py` with `config`; a refusal propagates as `pulumi.RunError`."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)  # the SDK creates its futures on the current loop
    monitor = _RecordingMonitor(_Mocks(previous_outputs or {}))
    warnings = _WarningLog()
    settings.ROOT.set(None)
    mocks.set_mocks(
        monitor.mocks,
        project=config.project,
        stack=config.stack,
        preview=preview,
        monitor=monitor,
        logger=warnings.logger,
    )
    settings.ROOT.set(None)  # the program's own Stack becomes the root, as under the CLI
    set_all_config(dict(config.values), sorted(config.secret_keys))
    try:
        with contextlib.chdir(project_dir):  # the CLI runs a program in its project directory
            loop.run_until_complete(run_in_stack(lambda: _run_main(project_dir)))
    finally:
        for task in asyncio.all_tasks(loop):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                loop.run_until_complete(task)
        loop.close()
        asyncio.set_event_loop(None)
        settings.ROOT.set(None)
        with settings.SETTINGS.lock:  # a refused run's outputs would be awaited by the next run, on a closed loop
            settings.SETTINGS.outputs.clear()
    return ProgramRun(resources=monitor.recorded, outputs=monitor.outputs, warnings=warnings.messages)


class _WarningLog(logging.Handler):
    """Collects the program's engine warnings of one run."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []
        self.logger = logging.Logger("statehub.offline")  # unregistered: gone with the run, no shared state
        self.logger.addHandler(self)

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _run_main(project_dir: Path) -> None:
    runpy.run_path(str(project_dir), run_name="__main__")
