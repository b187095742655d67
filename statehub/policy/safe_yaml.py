"""YAML as the project reads what operators give it (stack files, kubeconfigs, --set values): safe, and
without anchors or aliases, which no such file needs and which let a small file expand without bound
(a billion laughs) or refer to itself (`&a [*a]`)."""

from __future__ import annotations

from typing import Any

import yaml


class _NoAliases(yaml.SafeLoader):
    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise yaml.YAMLError("anchors and aliases are not allowed here")
        return super().compose_node(parent, index)


def load_yaml(text: str) -> Any:
    """Plain YAML (no tags, no aliases), or `yaml.YAMLError`."""
    return yaml.load(text, Loader=_NoAliases)  # noqa: S506 - a SafeLoader that also refuses aliases
