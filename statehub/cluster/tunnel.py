"""Keep a local port pointed at the live State Hub: a `kubectl port-forward` or an SSH tunnel, started,
health-checked and started again when it ends or stops answering.

After cutover the agents' MCP configuration keeps saying http://127.0.0.1:8000; this keeps that address
leading to the cluster's front door. A port-forward ends when its pod goes (a rollout, a node restart),
and an SSH tunnel when the network drops: both are restarted, with a growing pause (capped) while the
other side is unreachable.
"""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from statehub.data.api_checks import probe_health
from statehub.data.processes import child
from statehub.policy.names import API_PORT, FRONT_DOOR_NAME
from statehub.policy.refusal import Refusal

Event = Callable[[str], None]


def kubectl_command(context: str, namespace: str, local_port: int) -> list[str]:
    """A port-forward to the front door Service, which selects the State Hub pods once the endpoint is cluster."""
    return [
        *("kubectl", "--context", context, "--namespace", namespace),
        *("port-forward", "--address", "127.0.0.1", f"service/{FRONT_DOOR_NAME}", f"{local_port}:{API_PORT}"),
    ]


def ssh_command(host: str, remote: str, local_port: int) -> list[str]:
    """An SSH tunnel through a host that reaches `remote` (e.g. the front door's cluster IP and port, from
    the node). It fails at once when the local port cannot be bound, and notices a dead link in ~45 s."""
    return [
        *("ssh", "-N", "-o", "ExitOnForwardFailure=yes", "-o", "ServerAliveInterval=15"),
        *("-o", "ServerAliveCountMax=3", "-o", "BatchMode=yes"),
        *("-L", f"127.0.0.1:{local_port}:{remote}", host),
    ]


def check_port_free(port: int) -> None:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            raise Refusal(
                f"127.0.0.1:{port} is already taken (the WSL2 State Hub still listening there?): stop what listens "
                f"on it first (e.g. docker compose stop for the workstation's State Hub), or give --local-port"
            ) from None


@dataclass(frozen=True)
class Patience:
    """How the tunnel waits: between health checks, for a new tunnel to answer, and before a restart."""

    interval: float = 5.0
    start_timeout: float = 20.0
    failures_before_restart: int = 3
    first_pause: float = 1.0
    longest_pause: float = 30.0


def keep_open(
    command: list[str], local_port: int, *, stop: threading.Event, event: Event, patience: Patience = Patience()
) -> None:
    """Run `command` until `stop` is set (or the caller is interrupted), starting it again whenever it ends
    or fails its health checks `failures_before_restart` times in a row."""
    base = f"http://127.0.0.1:{local_port}"
    pause = patience.first_pause
    while not stop.is_set():
        with child(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as tunnel:
            healthy = _watch(tunnel, base, stop, event, patience)
        if stop.is_set():
            break
        pause = patience.first_pause if healthy else min(pause * 2, patience.longest_pause)
        event(f"reconnecting in {pause:g} s")
        stop.wait(pause)


def _watch(tunnel: subprocess.Popen[bytes], base: str, stop: threading.Event, event: Event, patience: Patience) -> bool:
    """Health-check a running tunnel until it should be restarted; True when it was healthy at some point."""
    deadline = time.monotonic() + patience.start_timeout
    was_healthy, failures = False, 0
    while not stop.is_set():
        if tunnel.poll() is not None:
            event(f"the tunnel ended (exit {tunnel.returncode})")
            return was_healthy
        healthy, answer = probe_health(base)
        if healthy:
            if not was_healthy or failures:
                event(f"{base} is healthy ({answer.body})")
            was_healthy, failures = True, 0
        elif was_healthy:
            failures += 1
            event(f"health check {failures}/{patience.failures_before_restart} failed: HTTP {answer.status}")
            if failures >= patience.failures_before_restart:
                event("restarting the tunnel")
                return True
        elif time.monotonic() > deadline:
            event(f"no healthy answer on {base} within {patience.start_timeout:g} s (HTTP {answer.status})")
            return False
        stop.wait(patience.interval if was_healthy else 0.2)
    return was_healthy
