"""A tool failed: the data tools' one exception besides the refusal (`statehub.policy.refusal.Refusal`, bad
input or an unsafe request, nothing touched); `run_cli` turns each into one `error:` line."""

from __future__ import annotations

import signal
from pathlib import Path


class ToolError(Exception):
    """A pg tool is missing, too old, or failed; the message says which and why."""


def tool_failure(argv: list[str], code: int, stderr: str) -> str:
    """One line: which tool, how it ended (a signal by name: SIGXFSZ is a full disk's cousin) and its last word."""
    how = f"killed by {signal.Signals(-code).name}: {signal.strsignal(-code)}" if code < 0 else f"exit {code}"
    last = (stderr.strip().splitlines() or ["(no message)"])[-1]
    return f"{Path(argv[0]).name} failed ({how}): {last}"
