"""The config keys `Pulumi.yaml` declares, read without Pulumi.

Both the program (which refuses undeclared keys and plaintext secrets) and the offline runner
(which applies the CLI's own rules) read the declarations from here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from statehub.policy.refusal import Refusal
from statehub.policy.safe_yaml import load_yaml


class ProjectFileError(Refusal):
    """`Pulumi.yaml` is missing or malformed."""


@dataclass(frozen=True)
class Declaration:
    """One key of `Pulumi.yaml`'s `config:` block."""

    type: str | None
    """string | integer | boolean | array; None for an untyped key (the CLI checks no type)."""
    items_type: str | None
    secret: bool
    has_default: bool
    """A `default` (or `value`): the CLI then never reports the key as missing."""
    default: Any = None


@dataclass(frozen=True)
class ProjectFile:
    name: str
    declarations: dict[str, Declaration]
    """Unqualified key of the project's namespace -> its declaration."""


def read_yaml_mapping(path: Path) -> dict[str, Any]:
    """A Pulumi project or stack file: YAML holding a mapping."""
    try:
        loaded = load_yaml(path.read_text())
    except OSError as error:
        raise ProjectFileError(f"{path} cannot be read ({error.strerror})") from None
    except yaml.YAMLError as error:
        raise ProjectFileError(f"{path} is not valid YAML: {error}") from None
    if not isinstance(loaded, dict):
        raise ProjectFileError(f"{path} must hold a mapping")
    return loaded


def read_project_file(project_dir: Path) -> ProjectFile:
    loaded = read_yaml_mapping(project_dir / "Pulumi.yaml")
    declarations: dict[str, Declaration] = {}
    for key, declared in (loaded.get("config") or {}).items():
        spec = declared if isinstance(declared, dict) else {"default": declared}
        items = spec.get("items")
        declarations[str(key)] = Declaration(
            type=spec.get("type"),
            items_type=items.get("type") if isinstance(items, dict) else None,
            secret=bool(spec.get("secret", False)),
            has_default="default" in spec or "value" in spec,
            default=spec.get("default", spec.get("value")),
        )
    return ProjectFile(name=str(loaded.get("name", "")), declarations=declarations)


def check_declared(project: ProjectFile, values: Mapping[str, object], is_secret: Callable[[str], bool]) -> None:
    """Refuse a key of the project's namespace that `Pulumi.yaml` does not declare (a typo the
    program would silently ignore), and a `secret: true` key given in plain text."""
    prefix = f"{project.name}:"
    for qualified in sorted(values):
        if not qualified.startswith(prefix):
            continue
        key = qualified.removeprefix(prefix).split(".", 1)[0]
        declaration = project.declarations.get(key)
        if declaration is None:
            raise ProjectFileError(
                f"{qualified} is not a key this program reads (Pulumi.yaml declares no '{key}'): "
                f"a typo is silently ignored otherwise. Remove it: pulumi config rm {qualified}"
            )
        if declaration.secret and values[qualified] not in ("", None) and not is_secret(qualified):
            raise ProjectFileError(
                f"{qualified} is in plain text but is a secret: it would be stored unencrypted. "
                f"Set it with: pulumi config set --secret {qualified} <value>"
            )
