"""The exceptions the data tools raise to say "refused" (bad input or an unsafe request, nothing touched) and
"a tool failed"; `run_cli` turns each into one `error:` line."""

from __future__ import annotations

import signal
from pathlib import Path


class Refused(Exception):
    """Bad input or an unsafe request: nothing was touched. The message names the value and the fix."""


class ToolError(Exception):
    """A pg tool is missing, too old, or failed; the message says which and why."""


def tool_failure(argv: list[str], code: int, stderr: str) -> str:
    """One line: which tool, how it ended (a signal by name: SIGXFSZ is a full disk's cousin) and its last word."""
    how = f"killed by {signal.Signals(-code).name}: {signal.strsignal(-code)}" if code < 0 else f"exit {code}"
    last = (stderr.strip().splitlines() or ["(no message)"])[-1]
    return f"{Path(argv[0]).name} failed ({how}): {last}"
