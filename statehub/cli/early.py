"""Ctrl-C or SIGTERM while a script is still importing (nothing started, nothing to undo) ends it with the
scripts' one line, not a traceback from inside some import; `run_cli` puts the real handler in place."""

from __future__ import annotations

import os
import signal
import sys
from types import FrameType

INTERRUPTED = "error: interrupted\n"


def _before_anything(signum: int, frame: FrameType | None) -> None:
    sys.stderr.write(INTERRUPTED)
    os._exit(2)


def quiet_interrupts() -> None:
    """Call first in a script, before its other imports."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _before_anything)
