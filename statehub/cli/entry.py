"""What every data script shares: exit codes, one-line errors, a console, progress on terminals."""

from __future__ import annotations

import argparse
import math
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING, NoReturn
from urllib.parse import urlsplit

import psycopg

from statehub.cli.early import INTERRUPTED
from statehub.data.dsn import ConnectError, DsnError, end_all_queries
from statehub.data.errors import ToolError
from statehub.data.http_client import end_all_requests
from statehub.data.processes import end_all_tools, interrupts_to_the_main_thread
from statehub.policy.refusal import Refusal

if TYPE_CHECKING:
    from rich.console import Console

PASS, FAIL, REFUSED = 0, 1, 2


_made: list[Console] = []
_making = threading.Lock()


def console() -> Console:
    """rich's console on stderr, made once, on first use: importing rich costs a script's start a few tenths
    of a second, so `run_cli` loads it in the background while the script's first queries wait on PostgreSQL."""
    with _making:
        if not _made:
            from rich.console import Console  # noqa: PLC0415 - see above

            _made.append(Console(stderr=True, highlight=False, soft_wrap=True))
        return _made[0]


def _load_rich_meanwhile() -> None:
    def load() -> None:
        interrupts_to_the_main_thread()
        console()

    threading.Thread(target=load, name="load-rich", daemon=True).start()


class ScriptParser(argparse.ArgumentParser):
    """argparse with the scripts' convention: `--help` shows the module's docstring as written, and a
    bad argument is one `error:` line naming it (with the hint to --help), exit 2, nothing touched."""

    def __init__(self, doc: str | None) -> None:
        super().__init__(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)

    def error(self, message: str) -> NoReturn:
        self.exit(REFUSED, f"error: {message} (see {self.prog} --help)\n")


def http_url(text: str) -> str:
    """argparse type of a State Hub API base URL: http(s), a host, no credentials, no query (a base URL needs
    none, and what is in a URL ends up in reports)."""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in text):
        raise argparse.ArgumentTypeError(f"{text!r} is not an http(s) URL: give e.g. http://127.0.0.1:8000")
    if parts.username or parts.password:
        shown = f"{parts.scheme}://********@{parts.hostname}"
        raise argparse.ArgumentTypeError(f"{shown}... carries credentials in the URL: a State Hub base URL needs none")
    if parts.query or parts.fragment:
        shown = f"{parts.scheme}://{parts.netloc}{parts.path}?********"
        raise argparse.ArgumentTypeError(f"{shown}: a base URL has no query (a token there would land in reports)")
    try:
        parts.port  # noqa: B018 - validates the port
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: the port is not a number from 1 to 65535") from None
    return text


def amount(unit: str, most: float, example: str) -> Callable[[str], float]:
    """argparse type of an amount of `unit`: a finite number above 0 and at most `most` (nan, inf, 1e400, 0
    and negatives are no amount)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number of {unit}: give e.g. {example}") from None
        if not math.isfinite(value) or not 0 < value <= most:
            raise argparse.ArgumentTypeError(f"{text!r}: give a number of {unit} above 0 and at most {most:g}")
        return value

    return parse


def _interrupt(signum: int, frame: FrameType | None) -> None:
    """Ctrl-C and SIGTERM: end the running tools and queries first (a thread waiting for one would hold the
    unwinding up), then unwind every `with` block: servers stop, temporary data goes."""
    end_all_tools()
    end_all_queries()
    end_all_requests()
    raise KeyboardInterrupt


def run_cli(main: Callable[[], int]) -> None:
    """Exit 0 on pass, 1 on a mismatch or failed check, 2 with one `error:` line when refused.

    SIGTERM is handled like Ctrl-C: running tools are ended, every `with` block unwinds, servers stop,
    temporary data goes."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _interrupt)
    _load_rich_meanwhile()
    try:
        code = main()
    except (Refusal, ConnectError, DsnError, ToolError) as error:
        print(f"error: {error}", file=sys.stderr)
        code = REFUSED
    except psycopg.Error as error:  # the database refused mid-way; what it says is the one line
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        print(f"error: the database refused: {first}", file=sys.stderr)
        code = REFUSED
    except KeyboardInterrupt:
        sys.stderr.write(INTERRUPTED)
        code = REFUSED
    sys.exit(code)


@contextmanager
def step(description: str) -> Iterator[None]:
    """A spinner with elapsed time on a terminal; a plain line otherwise."""
    if console().is_terminal:
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn  # noqa: PLC0415 - terminals only

        with Progress(
            SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console(), transient=True
        ) as progress:
            progress.add_task(description)
            yield
    else:
        yield
    console().print(f"done: {description}")
