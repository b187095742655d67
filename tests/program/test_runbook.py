"""Every command of docs/runbook.md, and every command a refusing gate prints, that names this project
is one the project has."""

from __future__ import annotations

import re
import shlex

import pytest
import yaml

from statehub.policy import evidence
from statehub.policy.evidence import RESTORE_API_COMPARE_COMMAND, EvidenceKind
from tests.program.conftest import PROJECT_DIR
from tests.script_runner import run_script

RUNBOOK = PROJECT_DIR / "docs" / "runbook.md"
SCRIPT = re.compile(r"uv run (scripts/\w+\.py)(.*)$")
CONFIG_KEY = re.compile(r"pulumi config set (?:--secret |--path )*state-hub-infra:([A-Za-z0-9]+)")


def runbook_lines() -> list[str]:
    return [line.strip() for line in RUNBOOK.read_text().splitlines() if line.startswith("    ")]


def script_commands(lines: list[str]) -> list[tuple[str, list[str]]]:
    found = []
    for line in lines:
        match = SCRIPT.search(line)
        if match:
            flags = [word for word in shlex.split(match[2].replace("$(", "(")) if word.startswith("--")]
            found.append((match[1], flags))
    return found


def gate_commands() -> list[str]:
    """What the gates print as the command that makes each missing report (`a && b` is two commands): every
    kind of evidence the contract declares, so a new one is checked too."""
    printed = [kind.command for kind in vars(evidence).values() if isinstance(kind, EvidenceKind)]
    return [part.strip() for command in [*printed, RESTORE_API_COMPARE_COMMAND] for part in command.split("&&")]


def test_the_runbook_names_commands() -> None:
    assert len(script_commands(runbook_lines())) >= 6
    assert len(script_commands(gate_commands())) == 9
    assert len([line for line in runbook_lines() if CONFIG_KEY.search(line)]) >= 8


@pytest.mark.parametrize(("script", "flags"), script_commands(runbook_lines()) + script_commands(gate_commands()))
def test_each_script_and_flag_exists(script: str, flags: list[str]) -> None:
    """As the script itself says in `--help` (flags come from the shared vocabulary, not literals)."""
    path = PROJECT_DIR / script
    assert path.is_file(), script
    shown = run_script(path.name, "--help")
    assert shown.returncode == 0, shown.stderr
    offered = set(re.findall(r"(--[a-z0-9-]+)", shown.stdout))
    for flag in flags:
        assert flag in offered, f"{script} has no {flag}"


def test_each_config_key_is_declared() -> None:
    declared = set(yaml.safe_load((PROJECT_DIR / "Pulumi.yaml").read_text())["config"])
    used = {m[1] for line in runbook_lines() for m in [CONFIG_KEY.search(line)] if m}
    assert used and used <= declared, used - declared
