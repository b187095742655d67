"""Stack config as the Pulumi engine would hand it to the program, built offline.

The CLI merges `Pulumi.yaml` defaults with `Pulumi.<stack>.yaml` and passes every value as a
string (JSON text for arrays and objects). Without the CLI this module does the same, so the
offline render and the tests see exactly what `pulumi preview` would.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

SECRET_PLACEHOLDER = "offline-placeholder-secret"  # noqa: S105 - a placeholder, not a secret
"""Stands in for a `secure:` value: its ciphertext can't be decrypted without the CLI."""


class StackConfigError(Exception):
    """The project or stack file is missing or malformed, or an override is not KEY=VALUE."""


@dataclass
class StackConfig:
    project: str
    stack: str
    values: dict[str, str] = field(default_factory=dict)
    """Fully qualified key (`state-hub-infra:stage`) -> raw string value."""
    secret_keys: set[str] = field(default_factory=set)

    def qualify(self, key: str) -> str:
        return key if ":" in key else f"{self.project}:{key}"

    def unset(self, key: str) -> None:
        self.values.pop(self.qualify(key), None)
        self.secret_keys.discard(self.qualify(key))

    def set(self, key: str, value: Any, *, secret: bool = False) -> None:
        qualified = self.qualify(key)
        if isinstance(value, dict) and "secure" in value:
            value, secret = SECRET_PLACEHOLDER, True
        self.values[qualified] = _engine_text(value)
        if secret:
            self.secret_keys.add(qualified)


def _engine_text(value: Any) -> str:
    """A config value the way the engine passes it to a program."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value, default=str)  # YAML timestamps (decision times) as ISO text


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise StackConfigError(f"{path} does not exist")
    try:
        loaded = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise StackConfigError(f"{path} is not valid YAML: {error}") from None
    if not isinstance(loaded, dict):
        raise StackConfigError(f"{path} must hold a mapping")
    return loaded


def load_stack_config(project_dir: Path, stack: str, overrides: Sequence[str] = ()) -> StackConfig:
    """Pulumi.yaml defaults, then Pulumi.<stack>.yaml, then `KEY=VALUE` overrides.

    VALUE is parsed as YAML; an empty VALUE (`KEY=`) unsets the key.
    """
    project = _read_yaml(project_dir / "Pulumi.yaml")
    name = str(project.get("name", ""))
    config = StackConfig(project=name, stack=stack)
    for key, declaration in (project.get("config") or {}).items():
        if isinstance(declaration, dict) and "default" in declaration:
            config.set(key, declaration["default"])
    stack_file = project_dir / f"Pulumi.{stack}.yaml"
    if not stack_file.is_file():
        known = sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in project_dir.glob("Pulumi.*.yaml"))
        raise StackConfigError(
            f"no stack {stack!r}: {stack_file.name} does not exist (stacks here: {', '.join(known)})"
        )
    for key, value in (_read_yaml(stack_file).get("config") or {}).items():
        config.set(key, value)
    for override in overrides:
        key, sep, text = override.partition("=")
        if not sep or not key.strip():
            raise StackConfigError(f"--set {override!r} is not KEY=VALUE (e.g. --set stage=empty)")
        if text:
            config.set(key.strip(), yaml.safe_load(text))
        else:
            config.unset(key.strip())
    return config
