"""`local_cluster.py up --nodes 1` and `down` leave nothing behind: no process, mount, interface, network namespace,
iptables rule or cgroup, also when `up` is interrupted by Ctrl-C or SIGTERM half-way. What a dead node left
(a killed run, a restarted machine) does not stop the next one; a live one does. (These run before the
session's shared node starts: one node at a time per machine.)"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from statehub.engine.node import CGROUP_ROOT, NETNS_NAME, OWNER_FILE, STATE_FILE
from tests.pods.conftest import PODS_TIER, PodsTools
from tests.script_runner import SCRIPTS, run_script, script_env

pytestmark = PODS_TIER


def machine_state(folder: Path) -> dict[str, object]:
    """What a node could leave behind, as seen from this machine."""

    def lines(*argv: str) -> list[str]:
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        return sorted(line for line in done.stdout.splitlines() if not line.startswith("#"))

    processes = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and int(proc.name) != os.getpid():
            try:
                command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if str(folder) in command:
                processes.append(command[:120])
    return {
        "iptables": lines("iptables-save"),
        "links": lines("ip", "-o", "link", "show"),
        "netns": lines("ip", "netns", "list"),
        "routes": lines("ip", "route", "show"),
        "mounts": [m for m in Path("/proc/mounts").read_text().splitlines() if str(folder) in m],
        "cgroups": [c for c in os.listdir("/sys/fs/cgroup/cpu") if c == CGROUP_ROOT],
        "processes": processes,
    }


@pytest.fixture
def short_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder short enough for the kubelet's sockets (a test's own tmp_path, named after it, is not)."""
    return tmp_path_factory.mktemp("life")


def test_a_folder_too_long_for_the_kubelets_sockets_is_refused_first(pods_tools: PodsTools, tmp_path: Path) -> None:
    folder = tmp_path / ("n" * 60)
    up = run_script("local_cluster.py", "up", "--dir", str(folder), "--nodes", "1", timeout=60)
    assert up.returncode == 2
    assert up.stderr.strip().splitlines()[-1].startswith(f"error: {folder} is ")
    assert "Give a folder of at most 64 bytes" in up.stderr
    assert not folder.exists()


def test_up_and_down_leave_nothing_behind(pods_tools: PodsTools, short_path: Path) -> None:
    folder = short_path / "node"
    before = machine_state(folder)
    subprocess.run(["ip", "netns", "add", NETNS_NAME], check=True)  # as a machine restart leaves it: nobody in it
    OWNER_FILE.parent.mkdir(parents=True, exist_ok=True)
    OWNER_FILE.write_text(str(short_path / "dead-node"))
    up = run_script("local_cluster.py", "up", "--dir", str(folder), "--nodes", "1", timeout=600)
    try:
        assert up.returncode == 0, up.stderr[-2000:]
        assert f"no longer runs left behind (namespace {NETNS_NAME}, in {short_path / 'dead-node'})" in up.stderr
        assert up.stdout.strip().splitlines()[-1] == str(folder / "pki" / "admin.kubeconfig")
        assert "cnpg operator ready" in up.stderr and "Barman Cloud plugin ready" in up.stderr
        during = machine_state(folder)
        assert during["netns"] != before["netns"] and during["processes"]
        second = run_script("local_cluster.py", "up", "--dir", str(short_path / "second"), "--nodes", "1")
        assert second.returncode == 2
        assert second.stderr.strip().splitlines()[-1] == (
            f"error: a pods cluster (network namespace {NETNS_NAME}) runs on this machine: "
            f"stop it first with uv run scripts/local_cluster.py down --dir {folder}"
        )
        assert machine_state(folder)["netns"] == during["netns"]
    finally:
        down = run_script("local_cluster.py", "down", "--dir", str(folder), timeout=300)
    assert down.returncode == 0, down.stderr
    assert machine_state(folder) == before
    assert list(folder.iterdir()) == []
    assert not OWNER_FILE.exists()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_an_interrupted_up_leaves_nothing_behind(pods_tools: PodsTools, short_path: Path, signum: int) -> None:
    folder = short_path / "node"
    before = machine_state(folder)
    command = [sys.executable, str(SCRIPTS / "local_cluster.py"), "up", "--dir", str(folder), "--nodes", "1"]
    running = subprocess.Popen(
        command, env=script_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and '"kubelet"' not in _state(folder):
        time.sleep(0.2)  # half-way: the node's processes run, the platform is not installed yet
    time.sleep(2)
    for _ in range(2):  # the second comes during the clean-up the first started, and must not cut it short
        with contextlib.suppress(ProcessLookupError):
            if signum == signal.SIGINT:
                os.killpg(running.pid, signal.SIGINT)  # as a terminal sends Ctrl-C, to the whole group
            else:
                running.send_signal(signal.SIGTERM)
        time.sleep(1)
    _, stderr = running.communicate(timeout=300)
    assert running.returncode == 2, stderr[-2000:]
    assert stderr.strip().splitlines()[-1] == "error: interrupted"
    assert machine_state(folder) == before
    assert not any(folder.iterdir())
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
    assert NETNS_NAME not in listed


def _state(folder: Path) -> str:
    try:
        return (folder / STATE_FILE).read_text()
    except OSError:
        return ""
