"""Refusals written for the operator.

These carry no Pulumi import so settings and gates stay pure; `__main__.py` turns them
into a `pulumi.RunError`, which the CLI prints as one `error:` line without a traceback.
"""

from __future__ import annotations


class Refusal(Exception):
    """The program refuses to go on; the message says what is wrong and what to do."""


class SettingsError(Refusal):
    """A config value is missing or invalid."""

    def __init__(self, key: str, value: str | None, problem: str, example: str) -> None:
        self.key = key
        self.value = value
        shown = "unset" if value is None else f"{value!r}"
        path_flag = "--path " if "." in key else ""
        super().__init__(
            f"state-hub-infra:{key} is {shown}: {problem}. "
            f"Set it like: pulumi config set {path_flag}state-hub-infra:{key} {example}"
        )


class GateRefusal(Refusal):
    """A stage or endpoint is not permitted by the evidence at hand."""
