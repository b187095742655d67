"""Round 3's breaks that are about moments, not values: a drill ended at any moment leaves no temporary
server folder; a piped final copy that cannot write its archive is one line and commits nothing; a DSN
whose application_name holds a newline cannot forge an `error:` line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from statehub.data.fingerprint import fingerprint
from statehub.policy.fingerprints import fingerprint_digest
from statehub.policy.report import parse_report
from tests.data.conftest import create_db, no_password
from tests.hardening.conftest import World
from tests.script_runner import SCRIPTS, run_script, script_env

MOMENTS = (0.1, 0.3, 0.5, 0.7, 0.9)
"""Where in a drill's run the signal lands, as fractions of an uninterrupted run's length."""


def drill(world: World, out: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(SCRIPTS / "drill.py"), "--source", no_password(world.source), "--out", str(out)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


@pytest.fixture
def temporary() -> Path:
    """A TMPDIR of the test's own (pytest's folders admit no server user), empty after each drill."""
    folder = Path(tempfile.mkdtemp(prefix="statehub-moments-"))
    folder.chmod(0o755)
    return folder


@pytest.mark.parametrize("fault", ["SIGINT", "SIGTERM"])
def test_a_drill_ended_at_any_moment_leaves_no_temporary_server(
    world: World, tmp_path: Path, temporary: Path, fault: str
) -> None:
    env = {**script_env(PGPASSWORD=world.source.get("password") or ""), "TMPDIR": str(temporary)}
    started = time.monotonic()
    whole = drill(world, tmp_path / "whole", env)
    assert whole.wait(300) == 0, whole.communicate()[1]
    length = time.monotonic() - started
    ended = []
    for n, moment in enumerate(MOMENTS):
        process = drill(world, tmp_path / f"d{n}", env)
        time.sleep(length * moment)
        os.kill(process.pid, signal.Signals[fault])
        _, stderr = process.communicate(timeout=60)
        assert "Traceback" not in stderr, stderr
        if process.returncode == 2:
            ended.append(moment)
            assert stderr.strip().splitlines()[-1] == "error: interrupted", stderr
            out = tmp_path / f"d{n}"  # none, or whole: the signal may land after the last report was written
            assert not out.exists() or parse_report((out / "drill-report.json").read_bytes()).kind == "drill"
        left = list(temporary.iterdir())
        assert left == [], f"after {fault} at {moment:.0%} of the drill: {left}"
    assert len(ended) >= 3, f"only {ended} of the moments landed inside the drill ({length:.1f} s)"
    temporary.rmdir()


def test_a_piped_copy_that_cannot_write_its_archive_is_one_line_and_commits_nothing(
    world: World, tmp_path: Path
) -> None:
    """`prlimit --fsize` makes the archive's write fail (EFBIG) as a full disk does (ENOSPC): the same
    path in the script."""
    target = create_db(world.server)
    before = fingerprint_digest(fingerprint(target))
    env = script_env(PGPASSWORD=world.source.get("password") or "")
    done = subprocess.run(
        [
            *("prlimit", "--fsize=20000", sys.executable, str(SCRIPTS / "dump.py")),
            *("--source", no_password(world.source), "--out", str(tmp_path / "final")),
            *("--target", no_password(target)),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ") and "File too large" in lines[0], lines[0]
    assert not (tmp_path / "final").exists()
    assert fingerprint_digest(fingerprint(target)) == before  # pg_restore committed nothing


def test_a_newline_in_application_name_forges_no_error_line(world: World, tmp_path: Path) -> None:
    source = f"{no_password(world.source)} application_name='dump\nerror: forged'"
    done = run_script(
        "dump.py",
        "--source",
        source,
        "--out",
        str(tmp_path / "d"),
        env=script_env(PGPASSWORD=world.source.get("password") or ""),
    )
    assert done.returncode == 0, done.stderr
    assert not [line for line in (done.stdout + done.stderr).splitlines() if line.startswith("error:")]
