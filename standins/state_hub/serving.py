"""Run the stand-in State Hub as its own process, as a deployment would: migrate, then serve."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO

from statehub.data.api_checks import get_json
from statehub.data.ephemeral import free_port
from statehub.data.processes import child
from statehub.policy.api_contract import HEALTH_PATH

ALEMBIC_INI = Path(__file__).resolve().parent / "alembic.ini"
_PROJECT = Path(__file__).resolve().parents[2]
_START_TIMEOUT = 30.0


class StandInError(Exception):
    """The stand-in could not be migrated or started."""


def _env(database_url: str) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": database_url, "PYTHONPATH": str(_PROJECT)}


def migrate(database_url: str) -> None:
    """`alembic upgrade head`, what the migration Job runs."""
    command = [sys.executable, "-m", "alembic", "-c", str(ALEMBIC_INI), "upgrade", "head"]
    done = subprocess.run(command, env=_env(database_url), capture_output=True, text=True, check=False, timeout=120)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise StandInError(f"alembic upgrade head failed: {last}")


def _answers(base: str) -> bool:
    """Any HTTP answer counts (a 503 too: the database may be down on purpose)."""
    return get_json(base + HEALTH_PATH).status != 0


@contextmanager
def serving(database_url: str) -> Iterator[str]:
    """The stand-in on 127.0.0.1 until the block ends; yields its base URL (http://127.0.0.1:PORT)."""
    with serving_each([database_url]) as (base,):
        yield base


@contextmanager
def serving_each(database_urls: list[str]) -> Iterator[list[str]]:
    """One stand-in per database, started together (each spends seconds on imports); their base URLs.

    Started from the calling thread: a stand-in ends with the thread that started it."""
    with ExitStack() as stack:
        started = []
        for database_url in database_urls:
            port = free_port()
            log = stack.enter_context(tempfile.TemporaryFile())
            command = [
                *(sys.executable, "-m", "uvicorn", "--factory", "standins.state_hub.app:from_environment"),
                *("--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log"),
            ]
            popen = {"env": _env(database_url), "stdin": subprocess.DEVNULL, "stdout": log, "stderr": log}
            started.append((f"http://127.0.0.1:{port}", stack.enter_context(child(command, **popen)), log))
        deadline = time.monotonic() + _START_TIMEOUT
        for base, process, log in started:
            _wait_until_it_answers(base, process, log, deadline)
        yield [base for base, _, _ in started]


def _wait_until_it_answers(base: str, process: subprocess.Popen[bytes], log: IO[bytes], deadline: float) -> None:
    while not _answers(base):
        if process.poll() is not None:
            log.seek(0)
            last = (log.read().decode(errors="replace").strip().splitlines() or ["(no output)"])[-1]
            raise StandInError(f"the stand-in State Hub ended at start: {last}")
        if time.monotonic() > deadline:
            raise StandInError(f"the stand-in State Hub did not answer on {base} within {_START_TIMEOUT:g} s")
        time.sleep(0.1)
