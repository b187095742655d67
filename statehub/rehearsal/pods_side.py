"""The rehearsal's cluster side on a node that runs pods: the stack, applied by the real Pulumi CLI, is railiance01.

state-hub-db is cnpg's own (its initdb, its owner, the stack's locale), reached through a `kubectl
port-forward` that is started again whenever it ends (a pod restart ends it). The cluster's State Hub
is the stack's Deployment of the stand-in image, asked through its Service (kube-proxy, from this
machine: the node's routes). The front door is the stack's `state-hub-api` Service; its WSL2 endpoint is
the workstation's stand-in, which a relay on the host end of the node's veth serves to the pods (the
only host port the node may reach). Operations cnpg keeps for a superuser inside the pod (CHECKPOINT, a
scratch database for the reference copy) run through `kubectl exec`, as an operator would.
"""

from __future__ import annotations

import base64
import contextlib
import json
import secrets
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

from standins.state_hub.serving import serving_each
from statehub.data.dsn import Dsn, connect
from statehub.data.ephemeral import free_port
from statehub.data.report_files import write_report
from statehub.data.tcp_relay import relaying
from statehub.engine.engine_program import create_engine_stack
from statehub.engine.node import NodeCluster, NodeError
from statehub.engine.pki import CONTEXT
from statehub.policy.image_ref import parse_image_ref
from statehub.policy.names import FRONT_DOOR_NAME
from statehub.policy.settings import CLUSTER_NAME, DATABASE_NAME, DATABASE_OWNER
from statehub.registry.client import registry_report
from statehub.rehearsal.cluster_side import ClusterChoice, ClusterSide, StateHubs, _address, wait_healthy
from statehub.rehearsal.gate_runs import PROJECT_DIR, STACK, EngineGates, GateRun, Gates
from statehub.rehearsal.stand_ins import bare_copy_seconds

DB_NAMESPACE = "databases"
APP_NAMESPACE = "railiance-apps"
APP_SERVICE = "state-hub"
CLIENTS_NAMESPACE = "state-hub-clients"
"""Where the agents' side of the cluster lives (as a tailnet gateway or the MCP gateway would on railiance01):
one of the stack's accessNamespaces, so its pods may reach the front door and the API through the policies."""
MONITORING_NAMESPACE = "monitoring"
"""The stack's monitoringNamespace on the node: the policy probes scrape the metrics port from there."""
GATEWAY = "client-gateway"
GATEWAY_PORTS = {8000: f"{FRONT_DOOR_NAME}.{APP_NAMESPACE}.svc", 8001: f"{APP_SERVICE}.{APP_NAMESPACE}.svc"}
"""The gateway's port -> the Service it relays to (port 8000 there): the front door, and the API itself."""
GATEWAY_PROGRAM = """
import socket, socketserver, sys, threading
def pump(a, b):
    try:
        while (data := a.recv(65536)):
            b.sendall(data)
    except OSError:
        pass
    try:
        b.shutdown(socket.SHUT_WR)
    except OSError:
        pass
def serve(port, host):
    class Relay(socketserver.BaseRequestHandler):
        def handle(self):
            try:
                upstream = socket.create_connection((host, 8000), timeout=10)
            except OSError:
                return
            with upstream:
                back = threading.Thread(target=pump, args=(upstream, self.request), daemon=True)
                back.start()
                pump(self.request, upstream)
                back.join()
    socketserver.ThreadingTCPServer.allow_reuse_address = True
    server = socketserver.ThreadingTCPServer(("0.0.0.0", port), Relay)
    server.daemon_threads = True
    server.serve_forever()
routes = [(int(p), h) for p, h in (arg.split("=") for arg in sys.argv[1:])]
for port, host in routes[1:]:
    threading.Thread(target=serve, args=(port, host), daemon=True).start()
serve(*routes[0])
"""
"""A TCP relay in the client namespace: what reaches the cluster's API from outside goes through the same
policies a tailnet gateway's traffic would."""


@dataclass(frozen=True)
class PodsStack:
    """What the stack on the node was configured with, for the side that talks to what it made."""

    gates: EngineGates
    owner_password: str
    wsl2_port: int
    """The host port (on the veth's host end) the front door's WSL2 endpoint points at."""


def _registry_reports(node: NodeCluster, work_dir: Path) -> dict[str, str]:
    """Stage empty's evidence that both pinned digests are in their registry: the real check of the node's own
    registry (plain HTTP on the node's bridge), as registry_check.py makes it."""
    reports = {}
    for key, image in (("imageRegistryReport", "state-hub-standin"), ("dbImageRegistryReport", "postgresql")):
        ref = parse_image_ref(node.images[image])
        if ref is None:
            raise NodeError(f"the node's image {node.images[image]!r} is no image reference")
        path = write_report(registry_report(ref, None, scheme="http"), work_dir / f"registry-{image}.json")
        reports[key] = str(path)
    return reports


def pods_gates(node: NodeCluster, work_dir: Path, bin_dir: Path, *, locale: str) -> PodsStack:
    """A temporary railiance01 stack pointed at the node, with only what railiance01 decides left to config:
    the kubeconfig, the images (pinned by digest in the node's registry), the WSL2 address (the host end of
    the node's veth), the database's locale (the workstation's) and the owner's password (a secret)."""
    password = secrets.token_urlsafe(24)
    wsl2_port = free_port()
    node.netns.allow_host_port(wsl2_port)
    registry_reports = _registry_reports(node, work_dir)
    engine = create_engine_stack(
        PROJECT_DIR,
        STACK,
        work_dir / "project",
        bin_dir,
        config={
            "kubeconfig": str(node.kubeconfig),
            "kubeContext": CONTEXT,
            "image": node.images["state-hub-standin"],
            "dbImageName": node.images["postgresql"],
            "wsl2Address": node.netns.host_ip,
            "wsl2Port": str(wsl2_port),
            "dbLocale": locale,
            "monitoringNamespace": MONITORING_NAMESPACE,
            **registry_reports,
        },
        secret_config={"dbOwnerPassword": password},
    )
    gates = EngineGates(engine)
    gates.configure([f"accessNamespaces={json.dumps([CLIENTS_NAMESPACE])}"])  # an array: set as the CLI sets one
    return PodsStack(gates, password, wsl2_port)


@contextmanager
def port_forward(node: NodeCluster, target: str, remote: int) -> Iterator[int]:
    """A local port that leads to `target`'s `remote` port for the length of a block; yields the port.

    `kubectl port-forward` ends when its pod goes (or a stream breaks): it is started again at once, and a
    relay in front of it holds the local port and lets each new connection wait (up to 20 s) for it, so a
    client never meets the gap."""
    inner = free_port()
    stop = threading.Event()
    kubectl = [str(node.directory / "bin" / "kubectl"), "--kubeconfig", str(node.kubeconfig)]
    argv = [*kubectl, "--namespace", DB_NAMESPACE, "port-forward", "--address", "127.0.0.1", target]
    argv.append(f"{inner}:{remote}")
    log = node.directory / "logs" / f"port-forward-{inner}.log"

    def keep() -> None:
        while not stop.is_set():
            with (
                log.open("ab") as output,
                subprocess.Popen(argv, stdout=output, stderr=output, stdin=subprocess.DEVNULL) as forward,
            ):
                while forward.poll() is None and not stop.is_set():
                    stop.wait(0.2)
                if forward.poll() is None:
                    forward.terminate()
            stop.wait(0.2)

    thread = threading.Thread(target=keep, name=f"port-forward {target}", daemon=True)
    thread.start()
    try:
        with relaying(("127.0.0.1", inner), patience=20) as relay:
            yield relay.port
    finally:
        stop.set()
        thread.join(timeout=10)


class PodsSide:
    kind = "pods"
    migrated_by_stack = True

    def __init__(self, node: NodeCluster, stack: PodsStack, local_port: int) -> None:
        self.node = node
        self.stack = stack
        self.owner = Dsn.of(
            host="127.0.0.1",
            port=str(local_port),
            dbname=DATABASE_NAME,
            user=DATABASE_OWNER,
            password=stack.owner_password,
            # through kubectl port-forward, TLS rides the API server's and the kubelet's own; an SSL session
            # ends with a reset that makes kubectl end the whole forward (docs/railiance01.md)
            sslmode="disable",
        )
        self.gateway = ""
        """The client gateway's Service address, once `state_hubs` started it."""

    def _exec(self, *sql_args: str) -> None:
        """A client tool in the instance's own container, as its `postgres` superuser (peer authentication)."""
        self.node.kubectl("--namespace", DB_NAMESPACE, "exec", f"{CLUSTER_NAME}-1", "-c", "postgres", "--", *sql_args)

    def superuser(self) -> Dsn:
        secret = self.node.api.get(f"/api/v1/namespaces/{DB_NAMESPACE}/secrets/{CLUSTER_NAME}-superuser")
        password = base64.b64decode(secret["data"]["password"]).decode()
        return self.owner.replace(user="postgres", password=password)

    def checkpoint(self) -> None:
        self._exec("psql", "-c", "CHECKPOINT")

    def bare_copy_seconds(self, source: Dsn) -> float:
        self._exec("createdb", "--owner", DATABASE_OWNER, "bare_copy")
        try:
            return bare_copy_seconds(source, self.owner.replace(dbname="bare_copy"))
        finally:
            self._exec("dropdb", "--force", "bare_copy")

    def _gateway(self) -> str:
        """The client gateway's address (its Service), started and ready."""
        labels = {"app.kubernetes.io/name": GATEWAY}
        routes = [f"{port}={host}" for port, host in GATEWAY_PORTS.items()]
        manifests = [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": CLIENTS_NAMESPACE}},
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": GATEWAY, "namespace": CLIENTS_NAMESPACE, "labels": labels},
                "spec": {
                    "replicas": 1,
                    "selector": {"matchLabels": labels},
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": {
                            "securityContext": {
                                "runAsNonRoot": True,
                                "runAsUser": 10001,
                                "seccompProfile": {"type": "RuntimeDefault"},
                            },
                            "containers": [
                                {
                                    "name": "relay",
                                    "image": self.node.images["state-hub-standin"],
                                    "command": ["python", "-c", GATEWAY_PROGRAM, *routes],
                                    "ports": [{"containerPort": port} for port in GATEWAY_PORTS],
                                    "readinessProbe": {"tcpSocket": {"port": 8000}, "periodSeconds": 1},
                                    "securityContext": {
                                        "allowPrivilegeEscalation": False,
                                        "capabilities": {"drop": ["ALL"]},
                                        "readOnlyRootFilesystem": True,
                                    },
                                }
                            ],
                        },
                    },
                },
            },
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": GATEWAY, "namespace": CLIENTS_NAMESPACE},
                "spec": {
                    "selector": labels,
                    "ports": [{"name": f"p{port}", "port": port, "targetPort": port} for port in GATEWAY_PORTS],
                },
            },
        ]
        self.node.kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(manifests))
        self.node.kubectl(
            "--namespace", CLIENTS_NAMESPACE, "rollout", "status", f"deployment/{GATEWAY}", "--timeout=120s"
        )
        service = self.node.api.get(f"/api/v1/namespaces/{CLIENTS_NAMESPACE}/services/{GATEWAY}")
        return str(service["spec"]["clusterIP"])

    def state_hubs(self, workstation_app: Dsn, workstation: Dsn, stack: ExitStack) -> StateHubs:
        """The workstation's stand-ins on this machine (WSL2's, served to the pods through the veth relay, the
        frozen reader, and one on the port-forwarded state-hub-db for stage restore), and the cluster's own."""
        bases = stack.enter_context(serving_each([dsn.url() for dsn in (workstation_app, workstation, self.owner)]))
        wsl2, reader, restore_target = bases
        stack.enter_context(relaying(_address(wsl2), port=self.stack.wsl2_port, host=self.node.netns.host_ip))
        gateway = self._gateway()
        self.gateway = gateway
        return StateHubs(
            workstation=wsl2,
            frozen_reader=reader,
            restore_target=restore_target,
            cluster=f"http://{gateway}:8001",
            front_door=f"http://{gateway}:8000",
        )

    def after_gate(self, run: GateRun) -> None:
        """`pulumi up` awaited the rollout; the front door's endpoints move with the endpoint: wait until its
        EndpointSlices hold only what the gate decided, then until kube-proxy has had its turn."""
        to_wsl2 = run.outputs.get("endpoint") == "wsl2"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            slices = self.node.api.get(
                f"/apis/discovery.k8s.io/v1/namespaces/{APP_NAMESPACE}/endpointslices"
                f"?labelSelector=kubernetes.io%2Fservice-name%3D{FRONT_DOOR_NAME}"
            )["items"]
            addresses = {a for s in slices for e in s.get("endpoints") or [] for a in e.get("addresses", [])}
            host = self.node.netns.host_ip
            arrived = addresses == {host} if to_wsl2 else bool(addresses) and host not in addresses
            if arrived:
                break
            time.sleep(0.5)
        time.sleep(1.5)
        if int(run.outputs.get("appReplicas", 0)) and self.gateway:
            with contextlib.suppress(RuntimeError):  # a frozen cluster answers 503: the rollback's own business
                wait_healthy(f"http://{self.gateway}:8001", 30)


@contextmanager
def pods_side(node: NodeCluster, stack: PodsStack) -> Iterator[PodsSide]:
    """The side for the length of a rehearsal: the port-forward to state-hub-db kept open, owner reachable."""
    with port_forward(node, f"service/{CLUSTER_NAME}-rw", 5432) as port:
        side = PodsSide(node, stack, port)
        deadline = time.monotonic() + 60
        while True:
            try:
                with connect(side.owner) as conn:
                    conn.execute("SELECT 1")
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        yield side


def pods_cluster(
    node: NodeCluster, work_dir: Path, bin_dir: Path, made: list[PodsStack] | None = None
) -> ClusterChoice:
    """The stack on `node` as railiance01: created and applied at stage empty (real awaits: the Cluster
    bootstraps, the migration Job runs, the app serves) once the workstation's locale is known. `made`
    receives the stack (the node keeps it after the rehearsal: a test can take it further)."""

    @contextmanager
    def open_side(locale: str) -> Iterator[tuple[ClusterSide, Gates]]:
        stack = pods_gates(node, work_dir, bin_dir, locale=locale)
        if made is not None:
            made.append(stack)
        stack.gates(["stage=empty", "endpoint=wsl2", f"dbLocale={locale}"])
        with pods_side(node, stack) as side:
            yield side, stack.gates

    return ClusterChoice("pods", open_side)
