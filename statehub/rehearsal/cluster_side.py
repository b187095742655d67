"""What stands for railiance01 in a rehearsal: the database cnpg would give, its State Hub, the front door.

Two sides share one interface, so the workplan (statehub/rehearsal/workplan.py) runs unchanged on both:
- `LocalSide`: a second PostgreSQL on this machine, initialised as cnpg's initdb initialises state-hub-db
  (UTF8, the stack's locale, data checksums, an owner that is no superuser), the stand-in State Hub
  beside it, and a local relay as the front door that follows each gate's `endpoint`.
- `PodsSide` (statehub/rehearsal/pods_side.py): the stack applied by the real Pulumi CLI to a node that
  runs pods: cnpg's own state-hub-db reached through a port-forward, the stack's Deployment of the
  stand-in image as the cluster's State Hub, the stack's front door Service.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from typing import Protocol

from standins.state_hub.serving import serving_each
from statehub.data.api_checks import probe_health
from statehub.data.dsn import Dsn, connect
from statehub.data.ephemeral import EphemeralServer, cnpg_initdb, ephemeral_server
from statehub.data.tcp_relay import TcpRelay, relaying
from statehub.rehearsal.gate_runs import GateRun, Gates
from statehub.rehearsal.stand_ins import bare_copy_seconds, create_cluster_owner


@dataclass
class StateHubs:
    """The State Hubs a rehearsal asks, as base URLs."""

    workstation: str
    """The workstation's State Hub (the application role): locked out while WSL2 is frozen."""
    frozen_reader: str
    """A State Hub on the operator's login to WSL2: reads the frozen database for the final compare."""
    restore_target: str
    """A State Hub on the cluster's database while the stack's app is at 0 replicas (stage restore)."""
    cluster: str
    """The cluster's own State Hub, serving state-hub-db."""
    front_door: str
    """Where clients go: the endpoint toggle moves it between WSL2's State Hub and the cluster's."""


class ClusterSide(Protocol):
    kind: str
    """`local` or `pods` (summary.json says which ran)."""
    owner: Dsn
    """state-hub-db as cnpg gives it: its owner, not a superuser (restore, compare, the app)."""
    migrated_by_stack: bool
    """The stack's migration Job ran `alembic upgrade head` already (pods); else the rehearsal runs it."""

    def superuser(self) -> Dsn:
        """A superuser of state-hub-db, there only while dbSuperuserAccess is on: the rollback's freeze."""
        ...

    def checkpoint(self) -> None: ...

    def bare_copy_seconds(self, source: Dsn) -> float:
        """The reference `pg_dump -Fc -Z0 | pg_restore` of `source` into a fresh database on this side."""
        ...

    def state_hubs(self, workstation_app: Dsn, workstation: Dsn, stack: ExitStack) -> StateHubs: ...

    def after_gate(self, run: GateRun) -> None:
        """What follows a gate's `pulumi up` here (the front door follows the endpoint it decided)."""
        ...


class LocalSide:
    """state-hub-db as a second local server, made as cnpg's initdb makes it."""

    kind = "local"
    migrated_by_stack = False

    def __init__(self, server: EphemeralServer, owner: Dsn) -> None:
        self.server = server
        self.owner = owner
        self._front_door: TcpRelay | None = None
        self._targets: dict[str, tuple[str, int]] = {}

    def superuser(self) -> Dsn:
        return self.server.dsn(self.owner.dbname)

    def checkpoint(self) -> None:
        with connect(self.superuser(), autocommit=True) as conn:
            conn.execute("CHECKPOINT")

    def bare_copy_seconds(self, source: Dsn) -> float:
        return bare_copy_seconds(source, self.server.create_database("bare_copy"))

    def state_hubs(self, workstation_app: Dsn, workstation: Dsn, stack: ExitStack) -> StateHubs:
        """Three stand-ins, started at once (each takes seconds to import), and the front door relay."""
        bases = stack.enter_context(serving_each([dsn.url() for dsn in (workstation_app, workstation, self.owner)]))
        wsl2, reader, cluster = bases
        self._targets = {"wsl2": _address(wsl2), "cluster": _address(cluster)}
        self._front_door = stack.enter_context(relaying(self._targets["wsl2"]))
        return StateHubs(wsl2, reader, cluster, cluster, f"http://127.0.0.1:{self._front_door.port}")

    def after_gate(self, run: GateRun) -> None:
        endpoint = str(run.outputs.get("endpoint", "wsl2"))
        if self._front_door is not None and endpoint in self._targets:
            self._front_door.destination = self._targets[endpoint]


def _address(base: str) -> tuple[str, int]:
    """(host, port) of a base URL (http://127.0.0.1:PORT)."""
    host, port = base.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


@dataclass(frozen=True)
class ClusterChoice:
    """What stands for railiance01, opened once the workstation's locale is known (the stack's dbLocale)."""

    name: str
    open: Callable[[str], AbstractContextManager[tuple[ClusterSide, Gates]]]
    """locale -> the cluster side and the gates that apply the stack to it, for the length of a block."""


@contextmanager
def local_side(locale: str, cpus: str | None = None) -> Iterator[LocalSide]:
    """A local state-hub-db: its own server, initdb as cnpg runs it with the stack's locale (on `cpus` only,
    a taskset list, when given)."""
    with ephemeral_server(flavour=cnpg_initdb(locale), cpus=cpus) as server:
        yield LocalSide(server, create_cluster_owner(server))


def wait_healthy(base: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while True:
        healthy, answer = probe_health(base)
        if healthy:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{base} not healthy within {seconds:.0f} s (HTTP {answer.status})")
        time.sleep(0.5)
