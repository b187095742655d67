"""How a long data step tells whoever runs it that it started and ended: the caller's callback.

The library never prints; a script passes the CLI's spinner (`statehub.cli.entry.step`), the
rehearsal its own timeline, a test nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

Progress = Callable[[str], AbstractContextManager[object]]
"""Called with a step's description; the step runs inside the context it returns."""


def quietly(description: str) -> AbstractContextManager[object]:
    """No report at all."""
    return nullcontext()
