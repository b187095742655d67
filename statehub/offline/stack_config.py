"""Stack config as the Pulumi engine would hand it to the program, built offline.

The CLI merges `Pulumi.yaml` defaults with `Pulumi.<stack>.yaml` and passes every value as a
string (JSON text for arrays and objects). Before the program starts it also refuses a stack
(pulumi `pkg/workspace/config.go`, `mergeConfig`): a declared key with neither default nor
value that the stack leaves unset, a value that does not match its declared `type`, a typed
`secret: true` key that is not `secure:`. This module applies the same rules with the CLI's
words, so the offline render and the tests refuse exactly what `pulumi preview` refuses.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from statehub.policy.project_file import Declaration, ProjectFileError, read_project_file, read_yaml_mapping
from statehub.policy.safe_yaml import load_yaml

SECRET_PLACEHOLDER = "offline-placeholder-secret"  # noqa: S105 - a placeholder, not a secret
"""Stands in for a `secure:` value: its ciphertext can't be decrypted without the CLI."""

_INTEGER_TEXT = re.compile(r"^[+-]?[0-9]+$")  # what Go's strconv.Atoi accepts


class StackConfigError(Exception):
    """The project or stack file is missing or malformed, an override is not KEY=VALUE, or the
    CLI's own config rules refuse the stack (the message is the CLI's)."""


@dataclass
class StackConfig:
    project: str
    stack: str
    values: dict[str, str] = field(default_factory=dict)
    """Fully qualified key (`state-hub-infra:stage`) -> raw string value."""
    secret_keys: set[str] = field(default_factory=set)
    raw: dict[str, Any] = field(default_factory=dict)
    """Fully qualified key -> the value as the stack file (or an override) wrote it, for type checks."""

    def qualify(self, key: str) -> str:
        return key if ":" in key else f"{self.project}:{key}"

    def unset(self, key: str) -> None:
        qualified = self.qualify(key)
        self.values.pop(qualified, None)
        self.raw.pop(qualified, None)
        self.secret_keys.discard(qualified)

    def set(self, key: str, value: Any, *, secret: bool = False) -> None:
        qualified = self.qualify(key)
        self.raw[qualified] = value
        if isinstance(value, dict) and "secure" in value:
            value, secret = SECRET_PLACEHOLDER, True
        self.values[qualified] = _engine_text(value)
        if secret:
            self.secret_keys.add(qualified)
        else:
            self.secret_keys.discard(qualified)


def _engine_text(value: Any) -> str:
    """A config value the way the engine passes it to a program."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value, default=str)  # YAML timestamps (decision times) as ISO text


def load_stack_config(project_dir: Path, stack: str, overrides: Sequence[str] = ()) -> StackConfig:
    """Pulumi.yaml defaults, then Pulumi.<stack>.yaml, then `KEY=VALUE` overrides, checked like the CLI.

    VALUE is parsed as YAML; an empty VALUE (`KEY=`) unsets the key.
    """
    try:
        project = read_project_file(project_dir)
        stack_values = _stack_values(project_dir, stack)
    except ProjectFileError as error:
        raise StackConfigError(str(error)) from None
    declarations = project.declarations
    config = StackConfig(project=project.name, stack=stack)
    for key, value in stack_values.items():
        config.set(str(key), value)
    for override in overrides:
        apply_override(config, override)
    check_like_cli(config, declarations)
    for key, declaration in declarations.items():
        if declaration.has_default and config.qualify(key) not in config.values:
            config.set(key, declaration.default)
    return config


def _stack_values(project_dir: Path, stack: str) -> dict[str, Any]:
    stack_file = project_dir / f"Pulumi.{stack}.yaml"
    if not stack_file.is_file():
        known = sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in project_dir.glob("Pulumi.*.yaml"))
        raise StackConfigError(
            f"no stack {stack!r}: {stack_file.name} does not exist (stacks here: {', '.join(known)})"
        )
    return dict(read_yaml_mapping(stack_file).get("config") or {})


def apply_override(config: StackConfig, override: str) -> None:
    """`KEY=VALUE` (VALUE parsed as plain YAML, no tags) or `KEY=` to unset."""
    key, sep, text = override.partition("=")
    if not sep or not key.strip():
        raise StackConfigError(f"--set {override!r} is not KEY=VALUE (e.g. --set stage=empty)")
    if not text:
        config.unset(key.strip())
        return
    if text.lstrip().startswith("!"):
        raise StackConfigError(f"--set {override!r}: YAML tags are not config values; quote the value")
    try:
        value = load_yaml(text)
    except yaml.YAMLError as error:
        problem = str(error).splitlines()[0]
        raise StackConfigError(f"--set {override!r}: the value is not YAML ({problem}); quote it") from None
    if not isinstance(value, (str, int, float, bool, list, dict)) or value is None:
        raise StackConfigError(f"--set {override!r}: a {type(value).__name__} is not a config value; quote it")
    config.set(key.strip(), value)


def check_like_cli(config: StackConfig, declarations: dict[str, Declaration]) -> None:
    """The CLI's refusals, in its order and words: missing keys first, then each key's type and secrecy."""
    missing = sorted(
        key for key, d in declarations.items() if not d.has_default and config.qualify(key) not in config.raw
    )
    if missing:
        noun = "value" if len(missing) == 1 else "values"
        raise StackConfigError(f"Stack '{config.stack}' is missing configuration {noun} {_cli_key_list(missing)}")
    for key in sorted(declarations):
        declaration = declarations[key]
        if declaration.type is None:
            continue
        qualified = config.qualify(key)
        present = qualified in config.raw
        value = config.raw[qualified] if present else declaration.default
        if declaration.secret and not (present and qualified in config.secret_keys):
            raise StackConfigError(
                f"Stack '{config.stack}' with configuration key '{key}' must be encrypted as it's secret"
            )
        if present and qualified in config.secret_keys:
            continue  # a secure value is checked by the CLI after decryption; its text is not known here
        if not _matches_type(declaration.type, declaration.items_type, value, from_stack=present):
            type_name = f"array<{declaration.items_type}>" if declaration.type == "array" else declaration.type
            raise StackConfigError(
                f"Stack '{config.stack}' with configuration key '{key}' must be of type '{type_name}'"
            )


def _cli_key_list(keys: list[str]) -> str:
    if len(keys) == 1:
        return f"'{keys[0]}'"
    return (
        ", ".join(f"'{key}'" for key in keys[:-2])
        + (", " if len(keys) > 2 else "")
        + (f"'{keys[-2]}' and '{keys[-1]}'")
    )


def _matches_type(type_name: str, items_type: str | None, value: Any, *, from_stack: bool) -> bool:
    """Go's `ValidateConfigValue` as the CLI applies it.

    A scalar written in a stack file reaches the check as its text (`createNamespaces: false`
    is the string "false"); a list or mapping is an object value, checked by its structure.
    """
    if from_stack and not isinstance(value, (list, dict)):
        value = _engine_text(value)
    if type_name == "string":
        return isinstance(value, str)
    if type_name == "integer":
        return _is_integer(value)
    if type_name == "boolean":
        return isinstance(value, bool) or value in ("true", "false")
    if type_name == "array":
        return (
            isinstance(value, list)
            and items_type is not None
            and all(_matches_type(items_type, None, item, from_stack=False) for item in value)
        )
    return False


def _is_integer(value: Any) -> bool:
    """An int, a whole float, or text that `strconv.Atoi` parses (a YAML `true` is none of these)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, float):
        return value.is_integer()
    return isinstance(value, int) or (isinstance(value, str) and bool(_INTEGER_TEXT.match(value)))
