"""The rehearsal is the project's end-to-end test: every step for real, the real program as gate,
evidence from the real scripts' code against real PostgreSQL; and a failure injected at a step
stops it at the right gate with that gate's message."""

from __future__ import annotations

import hashlib
import html
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from standins.state_hub.synthetic import seed
from statehub.data.dsn import Dsn, connect
from statehub.data.ephemeral import EphemeralServer, ephemeral_server
from statehub.data.fingerprint import fingerprint
from statehub.policy.fingerprints import fingerprint_digest
from statehub.rehearsal.rehearsal import rehearse
from statehub.rehearsal.workplan import Rehearsal
from tests.data.conftest import no_password
from tests.script_runner import SCRIPTS, run_script, script_env


@pytest.fixture(scope="module")
def rehearsed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """One whole rehearsal through its command, shared by the tests that read what it wrote."""
    out = tmp_path_factory.mktemp("rehearsal") / "out"
    return out, run_script("rehearse.py", "--out", str(out), "--engine", "mocks", timeout=180)


def test_the_rehearsal_passes_end_to_end(rehearsed: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    out, result = rehearsed
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["result"] == "pass"
    assert summary["engine"] == "mocks"  # the real engine's walk is tests/engine/test_stage_walk.py
    assert all(step["result"] == "pass" for step in summary["steps"]), summary["steps"]
    names = [step["name"] for step in summary["steps"]]
    for gate in (
        "gate restore",
        "gate verify",
        "gate cutover, endpoint cluster",
        "gate cutover, endpoint wsl2, superuser access on (rollback)",
        "rollback: freeze the cluster",
        "gate cutover, endpoint wsl2 (rollback)",
    ):
        assert gate in names
    assert summary["write_freeze_window_s"] > 0 and summary["window_ratio"] > 0
    for evidence in (
        "drill/drill-report.json",
        "restore-compare.json",
        "freeze.json",
        "final-compare.json",
        "sync-back.json",
        "unfreeze.json",
        "summary.md",
        "approval.html",
    ):
        assert (out / evidence).exists(), evidence
    assert "write-freeze window" in result.stderr
    for name in ("restore-compare.json", "final-compare.json"):  # the API side of both, for both sides
        api = json.loads((out / name).read_text())["details"]["api"]
        assert api["result"] == "pass" and api["summary"]["equal"] and len(api["reads"]) == 5, name
        assert all(api[side]["health"]["status"] == 200 for side in ("source", "target"))
    final_target = json.loads((out / "final-compare.json").read_text())["details"]["api"]["summary"]["target"]
    seen = summary["front_door"]
    assert list(seen) == ["before cutover", "after cutover", "after rollback"]
    assert seen["after cutover"]["counts"] == final_target["counts"]  # clients see the cluster's data
    assert seen["before cutover"]["counts"]["progress_events"] < seen["after cutover"]["counts"]["progress_events"]
    assert "/state/summary through the front door" in (out / "summary.md").read_text()


def test_the_team_sees_the_rehearsal(rehearsed: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    """Progress recorded on the seed's workplan tasks, the agents' MCP path before cutover (WSL2), after it
    (the cluster) and after the rollback (WSL2 again), the workplan files against both sides."""
    out, _ = rehearsed
    summary = json.loads((out / "summary.json").read_text())
    assert [(r["task"], r["evidence"], r["recorded"]) for r in summary["progress_records"]] == [
        ("T01", "drill-report.json", True),
        ("T06", "restore-compare.json", True),
        ("T07", "freeze.json", True),
        ("T07", "client-check-after-cutover.json", True),
    ]
    assert "## Progress recorded in the State Hub" in (out / "summary.md").read_text()
    checks = {
        m: json.loads((out / f"client-check-{m}.json").read_text())
        for m in ("before-cutover", "after-cutover", "after-rollback")
    }
    assert all(c["result"] == "pass" for c in checks.values()), {
        m: c["details"]["differences"] for m, c in checks.items()
    }
    before, after = (checks[m]["details"]["database"]["counts"] for m in ("before-cutover", "after-cutover"))
    assert after["progress_events"] > before["progress_events"]  # the cluster answered, with what WSL2 took since
    for side in ("wsl2", "cluster"):
        report = json.loads((out / f"workplan-check-{side}.json").read_text())
        assert report["result"] == "pass" and report["details"]["tasks"] == 9, report["details"]
    packet = (out / "approval.html").read_text()
    assert "What the agents see, and progress recorded" in packet and "client-check-before-cutover.json" in packet


def test_the_approval_packet_renders_in_chromium(
    rehearsed: tuple[Path, subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    """The page the approver reads, loaded by headless Chromium: its DOM carries the verdict, every required
    report with its sha256, the tables of both sides and the exact lines to record; the screenshot is a page."""
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium; .ci/run installs it)")
    out, _ = rehearsed
    page = out / "approval.html"
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]
    dom = subprocess.run(
        [chromium, *flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    assert "Every report the cutover gate reads passes its checks." in dom
    for name in ("freeze.json", "final-compare.json", "restore-compare.json", "drill/drill-report.json"):
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() in dom, name
    freeze_sha = hashlib.sha256((out / "freeze.json").read_bytes()).hexdigest()
    assert f"pulumi config set --path 'state-hub-infra:approval.freezeReportSha256' '{freeze_sha}'" in html.unescape(
        dom
    )
    assert "public.progress_events" in dom and "/state/workstreams/117" in dom
    shot = tmp_path / "packet.png"
    subprocess.run(
        [chromium, *flags, "--window-size=1400,2400", f"--screenshot={shot}", page.as_uri()],
        capture_output=True,
        timeout=120,
        check=True,
    )
    png = shot.read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 50_000  # a rendered page of tables, not a blank one


def at(step_name: str, action):  # type: ignore[no-untyped-def]
    def inject(name: str, context: Rehearsal) -> None:
        if name == step_name:
            action(context)

    return inject


def sql_on(which: str, statement: str):  # type: ignore[no-untyped-def]
    def action(context: Rehearsal) -> None:
        dsn = context.cluster.owner if which == "cluster" else getattr(context, which)
        with connect(dsn, autocommit=True) as conn:
            conn.execute("SET default_transaction_read_only = off")
            conn.execute(statement.encode())

    return action


def age_drill(context: Rehearsal) -> None:
    path = context.evidence["drillReport"]
    report = json.loads(path.read_text())
    report["created_at"] = (datetime.now(UTC) - timedelta(hours=30)).isoformat()
    path.write_text(json.dumps(report))


def tamper_final_compare(context: Rehearsal) -> None:
    path = context.evidence["finalCompareReport"]
    path.write_text(path.read_text().replace('"result": "pass"', '"result":  "pass"'))


INJECTIONS = {
    "stale drill": ("gate restore", age_drill, "gate restore", "older than state-hub-infra:evidenceMaxAgeHours"),
    "cluster row changed before the restore compare": (
        "compare the restore",
        sql_on("cluster", "UPDATE tasks SET title = 'tampered' WHERE id = 5"),
        "gate verify",
        "says fail: content difference in public.tasks",
    ),
    "WSL2 written after the freeze": (
        "final copy (pg_dump | pg_restore, archive kept)",
        sql_on("workstation", "INSERT INTO repos (name) VALUES ('sneaked in after the freeze')"),
        "gate cutover",
        "inconsistent evidence",
    ),
    "cluster row changed before the final compare": (
        "final compare (cluster vs the frozen WSL2's snapshot)",
        sql_on("cluster", "DELETE FROM progress_events WHERE id = 7"),
        "gate cutover",
        "says fail: row-count difference in public.progress_events",
    ),
    "the cluster's State Hub down at the final compare": (
        "final compare (cluster vs the frozen WSL2's snapshot)",
        lambda context: setattr(context, "apis", replace(context.apis, cluster="http://127.0.0.1:9")),
        "gate cutover",
        "says fail: api-health difference in target API /state/health field status",
    ),
    "evidence edited after approval": (
        "gate cutover, endpoint cluster",
        tamper_final_compare,
        "gate cutover",
        "the evidence is not what the approver reviewed",
    ),
}


@pytest.mark.parametrize("case", list(INJECTIONS))
def test_an_injected_failure_stops_at_the_right_gate(tmp_path: Path, case: str) -> None:
    step_name, action, gate, message = INJECTIONS[case]
    summary = rehearse(tmp_path / "r", inject=at(step_name, action))
    assert summary.result == "fail"
    assert summary.stopped_at == gate
    last = summary.steps[-1]
    assert last.result == "stopped"
    assert message in last.detail, last.detail
    written = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert written["stopped_at"] == gate


def test_servers_are_stopped_on_interrupt(tmp_path: Path) -> None:
    seen: list[Path] = []

    def interrupt(name: str, context: Rehearsal) -> None:
        if name == "gate verify":
            seen.extend(Path(dsn.get("host") or "") for dsn in (context.workstation, context.cluster.owner))
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        rehearse(tmp_path / "r", inject=interrupt)
    assert len(seen) == 2
    assert (
        json.loads((tmp_path / "r" / "summary.json").read_text())["stopped_at"]
        == "error at record restore-compare.json as progress of T06"
    )
    for socket_dir in seen:
        assert not socket_dir.parent.exists(), f"{socket_dir.parent} left behind"


@pytest.fixture
def real_source() -> Iterator[tuple[EphemeralServer, Dsn]]:
    with ephemeral_server() as server:
        source = server.create_database("state_hub")
        with connect(source) as conn:
            seed(conn, 1)
        yield server, source


def test_rehearsing_against_a_given_source_only_reads_it(tmp_path: Path, real_source) -> None:  # type: ignore[no-untyped-def]
    server, source = real_source
    before = fingerprint_digest(fingerprint(source))
    passwords = {server.password}

    def remember_passwords(name: str, context: Rehearsal) -> None:
        for dsn in (context.workstation, context.workstation_app, context.cluster.owner, context.cluster.superuser()):
            passwords.add(dsn.get("password") or "")

    summary = rehearse(tmp_path / "r", source=source, inject=remember_passwords)
    assert summary.result == "pass", [s for s in summary.steps if s.result != "pass"]
    assert summary.source_unchanged is True
    assert fingerprint_digest(fingerprint(source)) == before
    with connect(source) as conn:
        settings = conn.execute(
            "SELECT count(*) FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase WHERE d.datname = %s",
            (source.dbname,),
        ).fetchone()
        assert settings == (0,)  # never frozen: the freeze applied to the copy
    assert len(passwords) == 5 and "" not in passwords
    for path in (tmp_path / "r").rglob("*"):
        if path.is_file() and path.suffix in (".json", ".md"):
            text = path.read_text()
            assert not any(p in text for p in passwords), f"a password in {path}"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c to the group", "sigterm"])
def test_a_signal_to_the_rehearsal_leaves_no_server_and_no_copy(tmp_path: Path, real_source, signum: int) -> None:  # type: ignore[no-untyped-def]
    """As a terminal sends Ctrl-C (to the whole process group) or a supervisor sends SIGTERM."""
    server, source = real_source
    # its own TMPDIR (short: socket paths are limited), so other tests' servers running at the same time
    # under xdist are not mistaken for its leftovers
    private_tmp = Path(tempfile.mkdtemp(prefix="rh-"))
    private_tmp.chmod(0o755)  # the servers run as an unprivileged user, as under /tmp
    command = [
        sys.executable,
        str(SCRIPTS / "rehearse.py"),
        "--source",
        no_password(source),
        "--out",
        str(tmp_path / "r"),
    ]
    command += ["--engine", "mocks"]
    running = subprocess.Popen(
        command,
        env=script_env(PGPASSWORD=server.password, TMPDIR=str(private_tmp)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (tmp_path / "r" / "drill").exists():
        time.sleep(0.05)  # stop it in the middle: the source is copied, the drill is under way
    if signum == signal.SIGINT:
        os.killpg(running.pid, signal.SIGINT)
    else:
        running.send_signal(signal.SIGTERM)
    _, stderr = running.communicate(timeout=120)
    assert running.returncode == 2, stderr
    time.sleep(0.5)
    left = sorted(p.name for p in private_tmp.iterdir())
    private_tmp.rmdir()
    assert left == [], f"a server folder or a copy of the source was left behind: {left}"
    lingering = subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True, text=True, check=False).stdout
    assert lingering.strip() == "", lingering


def test_the_cluster_stand_in_holds_only_what_cnpg_gives(tmp_path: Path) -> None:
    """Restore, compare and the app work as the non-superuser owner; only the rollback's freeze uses the
    superuser that dbSuperuserAccess makes cnpg create (issue 10, item 3)."""
    seen: dict[str, object] = {}

    def privileges(context: Rehearsal) -> None:
        with connect(context.cluster.owner) as conn:
            seen["owner"] = conn.execute(
                "SELECT rolsuper, rolcreaterole, pg_has_role(current_user, 'pg_checkpoint', 'MEMBER') "
                "FROM pg_roles WHERE rolname = current_user"
            ).fetchone()
        seen["freeze admin"] = context.cluster.superuser().get("user")

    summary = rehearse(tmp_path / "r", inject=at("restore into the cluster", privileges))
    assert summary.result == "pass", [s for s in summary.steps if s.result != "pass"]
    assert seen == {"owner": (False, False, False), "freeze admin": "postgres"}
    frozen = json.loads((tmp_path / "r" / "cluster-freeze.json").read_text())
    assert frozen["result"] == "pass"
    assert "state_hub" in json.dumps(frozen["details"])
