"""The API side of a compare against a State Hub that answers as a broken or hostile one would.

Without a signal: the compare ends within its deadline, writes a report in strict JSON whose API part
fails naming the side and why, and follows no redirect. With Ctrl-C or SIGTERM while it waits: it ends
at once with `error: interrupted` and writes no report.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from statehub.policy.report import parse_report
from tests.data.conftest import no_password
from tests.hardening.conftest import World
from tests.hostile_api import BEHAVIOURS, HostileApi, hostile_api
from tests.script_runner import SCRIPTS, script_env

DEADLINE = 2.0
"""--api-deadline of every compare here, seconds."""

WHY = {
    "hang": f"no complete answer within {DEADLINE:g} s",
    "trickle": f"no complete answer within {DEADLINE:g} s",
    "huge": "larger than 16 MiB",
    "deep": "nested deeper than 64 levels",
    "redirect": "is not followed",
    "nan": "NaN is not JSON",
    "overflow": "beyond a float",
}


def start_compare(world: World, report: Path, source: HostileApi, target: HostileApi) -> subprocess.Popen[str]:
    database = no_password(world.source)
    return subprocess.Popen(
        [
            sys.executable,
            str(SCRIPTS / "compare.py"),
            *("--source", database, "--target", database, "--report", str(report)),
            *("--source-api", source.url, "--target-api", target.url, "--api-deadline", str(DEADLINE)),
        ],
        env=script_env(PGPASSWORD=world.source.get("password") or ""),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


@pytest.mark.parametrize("behaviour", BEHAVIOURS)
def test_a_hostile_api_fails_the_compare_in_time_naming_it(world: World, tmp_path: Path, behaviour: str) -> None:
    report = tmp_path / "c.json"
    with (
        hostile_api("hang") as elsewhere,
        hostile_api(behaviour, elsewhere.url) as source,
        hostile_api("nan") as target,
    ):
        started = time.monotonic()
        process = start_compare(world, report, source, target)
        _, stderr = process.communicate(timeout=60)
        took = time.monotonic() - started
    assert process.returncode == 1, stderr
    assert "Traceback" not in stderr
    assert took < DEADLINE + 15, f"{behaviour}: the compare took {took:.1f} s"
    assert not elsewhere.asked.is_set(), "a redirect was followed"
    api = parse_report(report.read_bytes()).details["api"]  # strict JSON: a NaN or Infinity would be refused
    assert api["result"] == "fail"
    assert WHY[behaviour] in api["source"]["health"]["body"], api["source"]["health"]
    assert any(problem["where"].startswith("source API") for problem in api["problems"]), api["problems"]


@pytest.mark.parametrize("fault", ["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("behaviour", BEHAVIOURS)
def test_a_signal_while_an_api_is_asked_ends_the_compare_at_once(
    world: World, tmp_path: Path, behaviour: str, fault: str
) -> None:
    """The target side hangs, so the compare is still waiting when the signal comes: for a hanging or
    trickling source inside that source's own request, for the others after its answer was judged."""
    report = tmp_path / "c.json"
    with hostile_api(behaviour) as source, hostile_api("hang") as target:
        process = start_compare(world, report, source, target)
        try:
            waited = source.asked if behaviour in ("hang", "trickle") else source.answered
            assert waited.wait(30) and target.asked.wait(30), process.stderr
            struck = time.monotonic()
            os.kill(process.pid, signal.Signals[fault])
            _, stderr = process.communicate(timeout=30)
            took = time.monotonic() - struck
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 2, stderr
    assert [line for line in stderr.splitlines() if line.startswith("error: ")] == ["error: interrupted"], stderr
    assert "Traceback" not in stderr
    assert took < DEADLINE, f"{took:.1f} s after {fault}: the signal waited for the deadline"
    assert not report.exists()
