"""The one refusal type, written for the operator: bad input, an unsafe request, a stage not permitted.

No Pulumi import, so settings and gates stay pure. `__main__.py` turns a refusal into a
`pulumi.RunError` (the Pulumi CLI prints it as one `error:` line); the scripts' `run_cli` prints it
as one `error:` line and exits 2. Either way nothing was touched.
"""

from __future__ import annotations


class Refusal(Exception):
    """Refusal, nothing touched; the message names the bad value and what to do."""


class SettingsError(Refusal):
    """A config value is missing or invalid."""

    def __init__(self, key: str, value: str | None, problem: str, example: str, *, array: bool = False) -> None:
        """`array`: the key holds a list; the hint sets its first item (`--path 'key[0]'`), which is how
        `pulumi config set` writes an array the CLI's type check accepts (a JSON text would be a string)."""
        self.key = key
        self.value = value
        shown = "unset" if value is None else f"{value!r}"
        if array:
            how = f"pulumi config set --path 'state-hub-infra:{key}[0]' {example}"
        elif "." in key:
            how = f"pulumi config set --path state-hub-infra:{key} {example}"
        else:
            how = f"pulumi config set state-hub-infra:{key} {example}"
        super().__init__(f"state-hub-infra:{key} is {shown}: {problem}. Set it like: {how}")


class GateRefusal(Refusal):
    """A stage or endpoint is not permitted by the evidence at hand."""
