"""A real Kubernetes API server on 127.0.0.1, without nodes: etcd + kube-apiserver from engine_build.

What it gives: objects, admission, OpenAPI and CRD schema (and CEL) validation, RBAC, server-side
apply and dry runs, exactly as a cluster's control plane does. What it does not: no kubelet, no
controllers, so no pod ever runs, Deployments never become Available and Jobs never complete
(stacks applied here set `apiOnlyCluster`). Everything lives in one folder; stopping removes it.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from statehub.cluster.kube_api import KubeApi, KubeApiError
from statehub.data.ephemeral import free_port
from statehub.data.processes import is_alive, tied_to_parent
from statehub.engine.go_modules import GoModuleError, crd_documents
from statehub.engine.pki import CONTEXT

STATE_FILE = "cluster.json"
PLATFORM_NAMESPACES = ("databases", "railiance-apps", "cnpg-system")
"""The namespaces the railiance01 platform owns (the stack does not create them there)."""
_START_TIMEOUT = 90.0

Progress = Callable[[str], None]


class ApiServerError(Exception):
    """The local control plane could not be started, reached or stopped."""


@dataclass(frozen=True)
class LocalCluster:
    directory: Path
    kubeconfig: Path
    api: KubeApi
    pids: tuple[int, ...]


def _spawn(command: list[str], log: Path, *, tie_to_parent: bool) -> subprocess.Popen[bytes]:
    with log.open("wb") as output:
        return subprocess.Popen(
            tied_to_parent(command) if tie_to_parent else command,
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # a terminal's Ctrl-C goes to the caller, which stops us in order
        )


def _log_tail(log: Path) -> str:
    lines = log.read_text(errors="replace").strip().splitlines() if log.is_file() else []
    return " | ".join(lines[-3:]) or "(no output)"


def start(directory: Path, bin_dir: Path, progress: Progress, *, tie_to_parent: bool) -> LocalCluster:
    """Start etcd and kube-apiserver in `directory` (must be new or empty), install CRDs and namespaces.

    On any failure, what was started is stopped and the folder's contents removed.
    """
    if directory.exists() and any(directory.iterdir()):
        raise ApiServerError(f"{directory} is not empty: give a new folder, or stop what runs there first")
    for tool in ("etcd", "kube-apiserver"):
        if not (bin_dir / tool).is_file():
            raise ApiServerError(f"{tool} is not built in {bin_dir}: run uv run scripts/engine_tools.py build")
    if shutil.which("openssl") is None:
        raise ApiServerError("openssl is not on PATH (it makes the service-account key): apt-get install openssl")
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        cluster = _start(directory, bin_dir, processes, progress, tie_to_parent=tie_to_parent)
        _install(cluster.api, progress)
    except BaseException:
        _terminate([p.pid for p in processes])
        _remove_contents(directory)
        raise
    return cluster


def _start(
    directory: Path,
    bin_dir: Path,
    processes: list[subprocess.Popen[bytes]],
    progress: Progress,
    *,
    tie_to_parent: bool,
) -> LocalCluster:
    logs = directory / "logs"
    logs.mkdir()
    etcd_port, peer_port, api_port = free_port(), free_port(), free_port()
    etcd_url, peer_url = f"http://127.0.0.1:{etcd_port}", f"http://127.0.0.1:{peer_port}"
    progress(f"etcd on {etcd_url}")
    processes.append(
        _spawn(
            [
                str(bin_dir / "etcd"),
                f"--data-dir={directory / 'etcd'}",
                f"--listen-client-urls={etcd_url}",
                f"--advertise-client-urls={etcd_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=default={peer_url}",
                "--unsafe-no-fsync",  # a throwaway control plane: speed over durability
                "--log-level=warn",
            ],
            logs / "etcd.log",
            tie_to_parent=tie_to_parent,
        )
    )
    key = directory / "service-account.key"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], capture_output=True, check=True)
    token = secrets.token_urlsafe(32)
    tokens = directory / "tokens.csv"
    tokens.write_text(f"{token},admin,admin,system:masters\n")
    tokens.chmod(0o600)
    certs = directory / "certs"
    progress(f"kube-apiserver on https://127.0.0.1:{api_port}")
    processes.append(
        _spawn(
            [
                str(bin_dir / "kube-apiserver"),
                f"--etcd-servers={etcd_url}",
                f"--cert-dir={certs}",
                f"--secure-port={api_port}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                "--service-cluster-ip-range=10.43.0.0/16",  # k3s's default service range
                "--service-account-issuer=https://kubernetes.default.svc",
                f"--service-account-key-file={key}",
                f"--service-account-signing-key-file={key}",
                "--authorization-mode=RBAC",
                f"--token-auth-file={tokens}",
                "--disable-admission-plugins=ServiceAccount",  # no token controller runs here
            ],
            logs / "kube-apiserver.log",
            tie_to_parent=tie_to_parent,
        )
    )
    pids = tuple(p.pid for p in processes)
    (directory / STATE_FILE).write_text(json.dumps({"pids": pids, "apiPort": api_port, "etcdPort": etcd_port}))
    ca_file = certs / "apiserver.crt"
    api = KubeApi(f"https://127.0.0.1:{api_port}", token, ca_file)
    _wait_ready(api, processes, logs)
    kubeconfig = directory / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(_kubeconfig(api)))
    kubeconfig.chmod(0o600)
    return LocalCluster(directory, kubeconfig, api, pids)


def _wait_ready(api: KubeApi, processes: list[subprocess.Popen[bytes]], logs: Path) -> None:
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        for process, name in zip(processes, ("etcd", "kube-apiserver"), strict=True):
            if process.poll() is not None:
                raise ApiServerError(f"{name} exited with {process.returncode}: {_log_tail(logs / f'{name}.log')}")
        if api.ca_file.is_file():
            with contextlib.suppress(KubeApiError, OSError):
                api.send("GET", "/readyz")
                return
        time.sleep(0.3)
    raise ApiServerError(
        f"kube-apiserver was not ready within {_START_TIMEOUT:.0f} s: {_log_tail(logs / 'kube-apiserver.log')}"
    )


def _kubeconfig(api: KubeApi) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CONTEXT, "cluster": {"server": api.server, "certificate-authority": str(api.ca_file)}}],
        "users": [{"name": "admin", "user": {"token": api.token}}],
        "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": "admin"}}],
        "current-context": CONTEXT,
    }


def _install(api: KubeApi, progress: Progress) -> None:
    try:
        crds = [_middleware_stand_in(), *crd_documents()]
    except GoModuleError as error:
        raise ApiServerError(f"the cnpg and Barman Cloud CRDs cannot be had: {error}") from None
    names = []
    for crd in crds:
        api.create("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
        names.append(crd["metadata"]["name"])
    progress(f"installed {len(names)} CRDs (cnpg and Barman Cloud from their pinned modules, a Middleware stand-in)")
    for name in names:
        _wait_established(api, name)
    for namespace in PLATFORM_NAMESPACES:
        api.create("/api/v1/namespaces", _restricted_namespace(namespace))
    progress(f"namespaces {', '.join(PLATFORM_NAMESPACES)} (Pod Security restricted)")


def _wait_established(api: KubeApi, name: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        crd = api.get(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
        conditions = (crd.get("status") or {}).get("conditions") or []
        if any(c["type"] == "Established" and c["status"] == "True" for c in conditions):
            return
        time.sleep(0.2)
    raise ApiServerError(f"CRD {name} was not established within 30 s")


def _restricted_namespace(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": name,
            "labels": {
                "pod-security.kubernetes.io/enforce": "restricted",
                "pod-security.kubernetes.io/enforce-version": "latest",
            },
        },
    }


def _middleware_stand_in() -> dict[str, Any]:
    """Traefik's Middleware kind, schemaless: the private ingress's allow-list is one."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "middlewares.traefik.io"},
        "spec": {
            "group": "traefik.io",
            "names": {
                "kind": "Middleware",
                "listKind": "MiddlewareList",
                "plural": "middlewares",
                "singular": "middleware",
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": "v1alpha1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
                }
            ],
        },
    }


def stop(directory: Path) -> int:
    """Stop what `start` started in `directory` and remove its contents; returns how many processes were running."""
    state_file = directory / STATE_FILE
    if not state_file.is_file():
        raise ApiServerError(f"{directory} holds no local cluster ({STATE_FILE} is missing)")
    pids = json.loads(state_file.read_text())["pids"]
    stopped = _terminate(pids)
    _remove_contents(directory)
    return stopped


def _terminate(pids: list[int] | tuple[int, ...]) -> int:
    running = [pid for pid in pids if is_alive(pid)]
    for pid in reversed(running):  # the API server before its etcd
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(is_alive(pid) for pid in running):
        time.sleep(0.1)
    for pid in running:
        if is_alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    for pid in running:
        _reap(pid)
    return len(running)


def _reap(pid: int) -> None:
    """Collect our own exited child so it does not linger as a zombie (not ours: nothing to do)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _remove_contents(directory: Path) -> None:
    if not directory.is_dir():
        return
    for entry in directory.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


@contextlib.contextmanager
def running(directory: Path, bin_dir: Path, progress: Progress) -> Iterator[LocalCluster]:
    """A local cluster for the length of a `with` block, its processes tied to this one."""
    cluster = start(directory, bin_dir, progress, tie_to_parent=True)
    try:
        yield cluster
    finally:
        _terminate(cluster.pids)
        _remove_contents(directory)
