"""The tunnel that keeps 127.0.0.1:PORT on the live side: the exact commands it runs, and its health-check
and reconnect loop against a real local server, with a real relay process as the port-forward it keeps."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

from statehub.cluster.tunnel import Patience, keep_open, kubectl_command, ssh_command
from statehub.data.ephemeral import free_port
from tests.http_stub import serve_json
from tests.script_runner import run_script

STANDIN = Path(__file__).resolve().parents[1] / "tunnel_standin.py"
HEALTHY: dict[str, object] = {"/state/health": {"status": "ok", "db": "connected"}}
QUICK = Patience(interval=0.2, start_timeout=10, failures_before_restart=2, first_pause=0.1, longest_pause=0.4)


def test_the_kubectl_command_forwards_the_front_door_on_loopback() -> None:
    assert kubectl_command("railiance01", "railiance-apps", 8000) == [
        *("kubectl", "--context", "railiance01", "--namespace", "railiance-apps", "port-forward"),
        *("--address", "127.0.0.1", "service/state-hub-api", "8000:8000"),
    ]


def test_the_ssh_command_fails_fast_and_notices_a_dead_link() -> None:
    command = ssh_command("railiance01", "10.43.0.20:8000", 8000)
    assert command[:2] == ["ssh", "-N"] and command[-1] == "railiance01"
    assert "ExitOnForwardFailure=yes" in command and "BatchMode=yes" in command
    assert command[command.index("-L") + 1] == "127.0.0.1:8000:10.43.0.20:8000"


def test_print_shows_the_command_and_bad_input_is_one_line() -> None:
    shown = run_script("tunnel.py", "--via", "kubectl", "--context", "railiance01", "--print")
    assert shown.returncode == 0 and shown.stdout.strip().startswith("kubectl --context railiance01")
    refused = run_script("tunnel.py", "--via", "ssh", "--ssh-host", "railiance01")
    assert refused.returncode == 2
    assert refused.stderr.count("error:") == 1 and "--remote ADDRESS:PORT" in refused.stderr


def test_a_taken_port_is_refused_before_anything_runs() -> None:
    with serve_json(HEALTHY) as address:
        port = address.split(":")[1]
        done = run_script("tunnel.py", "--via", "kubectl", "--context", "x", "--local-port", port)
    assert done.returncode == 2
    assert f"127.0.0.1:{port} is already taken" in done.stderr and done.stderr.count("error:") == 1


def _tunnel_to(address: str, local: int, events: list[str], stop: threading.Event) -> threading.Thread:
    """`keep_open` on a thread, keeping 127.0.0.1:`local` on `address` through a relay process."""
    command = [sys.executable, str(STANDIN), str(local), address.split(":")[1]]
    thread = threading.Thread(
        target=lambda: keep_open(command, local, stop=stop, event=events.append, patience=QUICK), daemon=True
    )
    thread.start()
    return thread


def _wait_for(events: list[str], text: str, count: int = 1, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while sum(text in e for e in events) < count:
        assert time.monotonic() < deadline, f"no {count}x {text!r} in {events}"
        time.sleep(0.05)


def _relay_pid(port: int) -> int:
    """The pid of the relay process listening for the tunnel (found by its command line)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if str(STANDIN).encode() in argv and str(port).encode() in argv and b"setpriv" not in argv[0]:
                return int(entry.name)
    raise AssertionError("the relay is not running")


def test_a_tunnel_that_ends_is_started_again_and_healthy_again() -> None:
    local = free_port()
    events: list[str] = []
    stop = threading.Event()
    with serve_json(HEALTHY) as address:
        thread = _tunnel_to(address, local, events, stop)
        try:
            _wait_for(events, "is healthy")
            os.kill(_relay_pid(local), signal.SIGKILL)  # the port-forward's pod went away
            _wait_for(events, "the tunnel ended")
            _wait_for(events, "is healthy", count=2)
        finally:
            stop.set()
            thread.join(10)
    assert not thread.is_alive()
    assert any(e.startswith("reconnecting in") for e in events)


def test_a_tunnel_that_stops_answering_is_restarted() -> None:
    """The relay keeps running but what is behind it is gone (a port-forward to a dead pod): after
    `failures_before_restart` failed checks the tunnel is restarted, and says so while nothing healthy answers."""
    local = free_port()
    events: list[str] = []
    stop = threading.Event()
    with serve_json(HEALTHY) as address:
        thread = _tunnel_to(address, local, events, stop)
        try:
            _wait_for(events, "is healthy")
        except BaseException:
            stop.set()
            raise
    try:  # the server is gone now
        _wait_for(events, "health check 2/2 failed")
        _wait_for(events, "restarting the tunnel")
        _wait_for(events, "no healthy answer", timeout=30)
    finally:
        stop.set()
        thread.join(15)
    assert not thread.is_alive()
