"""A one-node Kubernetes that runs pods, in a network namespace of its own: the pods tier.

What `control_plane.py` gives (etcd and kube-apiserver), plus a node: containerd with runc (Debian's,
cgroupfs on cgroup v1, as this kind of machine allows), the kubelet, the controllers, the scheduler,
kube-proxy, kube-router's NetworkPolicy firewall, a registry (Debian's docker-registry) the node pulls
the app and database images from by digest, an S3 store (moto) for backups, and in the cluster CoreDNS,
the cnpg operator and the Barman Cloud plugin. Every binary is built from the Go module proxy by
`scripts/engine_tools.py build`, every image from Debian and PyPI (statehub/engine/pod_images.py).

All of it lives in one folder and one network namespace (statehub/engine/netns.py); `stop` kills every
process (pods first), unmounts what the kubelet and containerd mounted, deletes the namespace (its
bridge, veth, iptables and ipsets go with it), the pods' own namespaces, the cgroups and the folder's
contents. `start` stops a half-started node the same way when it fails or is interrupted.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from statehub.cluster.kube_api import KubeApi, KubeApiError
from statehub.data.processes import is_alive, tied_to_parent
from statehub.engine import platform
from statehub.engine.netns import BRIDGE, NODE_CIDR, NODE_IP, SERVICE_CIDR, Netns, NetnsError
from statehub.engine.pki import Client, Pki, make_pki
from statehub.engine.pod_images import BuiltImage, built_images

NODE_NAME = "state-hub-node"
NETNS_NAME = "state-hub-pods"
"""One pods cluster per machine: its addresses are fixed (k3s's service range, a fixed node subnet)."""
API_PORT = 6443
REGISTRY = f"{NODE_IP}:5000"
S3_ENDPOINT = f"http://{NODE_IP}:9000"
S3_BUCKET = "state-hub-backups"
S3_KEYS = ("testing", "testing")
"""moto accepts any keys; the stack's ObjectStore Secret carries these."""
SERVICE_IP = "10.43.0.1"
CGROUP_ROOT = "state-hub-pods"
CGROUP_CONTROLLERS = ("cpu", "cpuacct", "cpuset", "memory", "pids", "blkio", "devices", "freezer", "systemd")
STATE_FILE = "node.json"
OWNER_FILE = Path("/run/state-hub-infra/pods-node")
"""Names the folder of the node that holds the namespace, so that what a node whose processes all died
left behind (a killed run, a restarted machine) can be told from a live node and removed."""
TOOLS = ("containerd", "runc", "ctr", "nsenter", "iptables", "ipset", "ip", "openssl", "skopeo", "docker-registry")
CNI_PLUGINS = Path("/usr/lib/cni")
PLATFORM_IMAGES = ("pause", "coredns", "cloudnative-pg", "plugin-barman-cloud", "plugin-barman-cloud-sidecar")
"""Imported into containerd at start."""
REGISTRY_IMAGES = ("postgresql", "state-hub-standin")
"""Pushed to the node's registry: the stack pins them by digest there, as it pins them on railiance01."""
CLIENTS = (
    Client("admin", "admin", ("system:masters",)),
    Client("node", f"system:node:{NODE_NAME}", ("system:nodes",)),
    Client("controller-manager", "system:kube-controller-manager"),
    Client("scheduler", "system:kube-scheduler"),
    Client("proxy", "system:kube-proxy"),
    Client("router", "kube-router", ("system:masters",)),
)

Progress = Callable[[str], None]


class NodeError(Exception):
    """The node could not be started, reached or stopped; the message names the part and its log."""


@dataclass(frozen=True)
class NodeCluster:
    directory: Path
    kubeconfig: Path
    api: KubeApi
    netns: Netns
    images: dict[str, str]
    """Image name -> the reference a workload uses: `localhost/...` for imported ones, `REGISTRY/...@sha256:`
    for those in the node's registry."""
    startup: dict[str, float]
    """Seconds each part of the start took."""

    @property
    def registry(self) -> str:
        return REGISTRY

    @property
    def s3_endpoint(self) -> str:
        return S3_ENDPOINT

    def kubectl(self, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        argv = [str(self.directory / "bin" / "kubectl"), "--kubeconfig", str(self.kubeconfig), *args]
        done = subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False)
        if check and done.returncode != 0:
            raise NodeError(f"kubectl {' '.join(args[:3])} failed: {done.stderr.strip()[-400:]}")
        return done


def missing_tools() -> list[str]:
    absent = [tool for tool in TOOLS if shutil.which(tool) is None]
    if not (CNI_PLUGINS / "bridge").is_file():
        absent.append("containernetworking-plugins")
    return absent


def unavailable(bin_dir: Path, images: Path) -> str | None:
    """Why a node cannot start on this machine, or None."""
    if os.geteuid() != 0:
        return "the pods tier needs root (network namespaces, mounts, cgroups)"
    absent = missing_tools()
    if absent:
        return (
            f"{', '.join(absent)} not installed: apt-get install containerd runc containernetworking-plugins "
            "iptables ipset skopeo docker-registry"
        )
    if not Path("/sys/fs/cgroup/cpu").is_dir():
        return "no cgroup v1 cpu hierarchy: the kubelet here runs the cgroupfs driver on cgroup v1 only"
    have = built_images(images)
    lacking = [name for name in (*PLATFORM_IMAGES, *REGISTRY_IMAGES) if name not in have]
    if lacking:
        return f"images not built ({', '.join(lacking)}): run uv run scripts/engine_tools.py build"
    return None


class _Starter:
    """One start: the processes it spawned (recorded in the state file as they start) and its timings."""

    def __init__(self, directory: Path, bin_dir: Path, netns: Netns, progress: Progress, tie_to_parent: bool) -> None:
        self.directory = directory
        self.bin_dir = bin_dir
        self.netns = netns
        self.progress = progress
        self.tie_to_parent = tie_to_parent
        self.started = time.monotonic()
        self.timings: dict[str, float] = {}
        self.pids: dict[str, int] = {}
        self.logs = directory / "logs"

    def timed(self, what: str) -> None:
        now = time.monotonic()
        self.timings[what] = round(now - self.started, 1)
        self.progress(f"{self.timings[what]:6.1f} s  {what}")

    def spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        command = self.netns.inside(argv)
        with (self.logs / f"{name}.log").open("wb") as log:
            process = subprocess.Popen(
                tied_to_parent(command) if self.tie_to_parent else command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env={**os.environ, **(env or {})},
            )
        self.pids[name] = process.pid
        _write_state(self.directory, {"pids": self.pids, "netns": self.netns.name})

    def alive(self, name: str) -> None:
        pid = self.pids[name]
        with contextlib.suppress(ChildProcessError):
            finished, status = os.waitpid(pid, os.WNOHANG)
            if finished:
                raise NodeError(f"{name} exited ({status >> 8}): {_log_tail(self.logs / f'{name}.log')}")


def _write_state(directory: Path, state: dict[str, Any]) -> None:
    path = directory / STATE_FILE
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(state))
    partial.replace(path)


def _log_tail(log: Path) -> str:
    lines = log.read_text(errors="replace").strip().splitlines() if log.is_file() else []
    return " | ".join(lines[-3:]) or "(no output)"


def _wait(what: str, check: Callable[[], bool], seconds: float, starter: _Starter, watched: tuple[str, ...]) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for name in watched:
            starter.alive(name)
        with contextlib.suppress(KubeApiError, OSError, subprocess.SubprocessError, KeyError, ValueError):
            if check():
                return
        time.sleep(0.5)
    logs = "; ".join(f"{name}: {_log_tail(starter.logs / f'{name}.log')}" for name in watched)
    raise NodeError(f"{what} not within {seconds:.0f} s ({logs or 'no process to blame'})")


MAX_DIRECTORY_BYTES = 64
"""The kubelet makes unix sockets under its root (`<folder>/kubelet/root/pod-resources/<number>`), and a
socket path may not pass 104 bytes: a longer folder fails half-way with "bind: invalid argument"."""


def start(directory: Path, bin_dir: Path, images: Path, progress: Progress, *, tie_to_parent: bool) -> NodeCluster:
    """Start the node in `directory` (new or empty). On any failure or interruption, what was started is
    stopped and removed again."""
    length = len(str(directory.resolve()).encode())
    if length > MAX_DIRECTORY_BYTES:
        raise NodeError(
            f"{directory} is {length} bytes long: the kubelet's sockets under it would pass the 104-byte limit of "
            f"a socket path. Give a folder of at most {MAX_DIRECTORY_BYTES} bytes, e.g. /tmp/node"
        )
    if directory.exists() and any(directory.iterdir()):
        raise NodeError(f"{directory} is not empty: give a new folder, or stop what runs there first")
    why = unavailable(bin_dir, images)
    if why:
        raise NodeError(why)
    netns = Netns(NETNS_NAME)
    if netns.exists():
        _remove_dead_node(netns, progress)
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o755)
    OWNER_FILE.parent.mkdir(parents=True, exist_ok=True)
    OWNER_FILE.write_text(str(directory.resolve()))
    (directory / "logs").mkdir()
    starter = _Starter(directory, bin_dir, netns, progress, tie_to_parent)
    _write_state(directory, {"pids": {}, "netns": netns.name})
    try:
        return _start(starter, built_images(images), images)
    except BaseException:
        stop(directory)
        raise


def _remove_dead_node(netns: Netns, progress: Progress) -> None:
    """Refuse while a node runs; remove what a dead one left (its namespace, mounts and cgroups; its files
    stay in its folder)."""
    folder = OWNER_FILE.read_text().strip() if OWNER_FILE.is_file() else "<its folder>"
    if _in_namespace(netns) or _in_cgroup():
        raise NodeError(
            f"a pods cluster (network namespace {netns.name}) runs on this machine: "
            f"stop it first with uv run scripts/local_cluster.py down --dir {folder}"
        )
    if folder != "<its folder>":
        _unmount_under(Path(folder))
    netns.delete()
    _cgroups_remove()
    progress(f"removed what a pods cluster that no longer runs left behind (namespace {netns.name}, in {folder})")


def _in_namespace(netns: Netns) -> list[int]:
    listed = subprocess.run(["ip", "netns", "pids", netns.name], capture_output=True, text=True, check=False)
    return [int(pid) for pid in listed.stdout.split() if pid.isdigit()]


def _in_cgroup() -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if proc.name.isdigit() and f"/{CGROUP_ROOT}/" in (proc / "cgroup").read_text():
                found.append(int(proc.name))
    return found


def _start(starter: _Starter, built: dict[str, BuiltImage], images: Path) -> NodeCluster:
    directory, bin_dir, netns = starter.directory, starter.bin_dir, starter.netns
    netns.create()
    _cgroups_create()
    bin_link = directory / "bin"
    bin_link.symlink_to(bin_dir)
    pki = make_pki(
        directory / "pki", node_ip=NODE_IP, node_name=NODE_NAME, service_ip=SERVICE_IP, port=API_PORT, clients=CLIENTS
    )
    starter.timed(f"network namespace {netns.name} (bridge {BRIDGE} {NODE_IP}), certificates, cgroups")
    _start_control_plane(starter, pki)
    _start_containerd_and_registry(starter)
    api = KubeApi(pki.server, pki.token("admin"), pki.ca)
    _wait(
        "kube-apiserver ready", lambda: api.send("GET", "/readyz") is not None, 120, starter, ("etcd", "kube-apiserver")
    )
    starter.timed("etcd, kube-apiserver ready")
    refs = _load_images(starter, built, images)
    _start_node(starter, pki)
    _wait("node Ready", lambda: _node_ready(api), 240, starter, ("kubelet", "containerd"))
    starter.timed(f"node {NODE_NAME} Ready")
    _start_policy_firewall(starter, pki)
    cluster = NodeCluster(directory, pki.kubeconfig("admin"), api, netns, refs, starter.timings)
    _install_platform(starter, cluster, refs)
    _write_state(directory, {"pids": starter.pids, "netns": netns.name, "images": refs, "startup": starter.timings})
    return cluster


def _start_control_plane(starter: _Starter, pki: Pki) -> None:
    directory, bins = starter.directory, starter.bin_dir
    etcd = "http://127.0.0.1:2379"
    starter.spawn(
        "etcd",
        [
            str(bins / "etcd"),
            f"--data-dir={directory / 'etcd'}",
            f"--listen-client-urls={etcd}",
            f"--advertise-client-urls={etcd}",
            "--listen-peer-urls=http://127.0.0.1:2380",
            "--initial-advertise-peer-urls=http://127.0.0.1:2380",
            "--initial-cluster=default=http://127.0.0.1:2380",
            "--unsafe-no-fsync",
            "--log-level=warn",
        ],
    )
    p = pki.path
    starter.spawn(
        "kube-apiserver",
        [
            str(bins / "kube-apiserver"),
            f"--etcd-servers={etcd}",
            "--bind-address=0.0.0.0",
            f"--advertise-address={NODE_IP}",
            f"--secure-port={API_PORT}",
            f"--tls-cert-file={p('apiserver.crt')}",
            f"--tls-private-key-file={p('apiserver.key')}",
            f"--client-ca-file={pki.ca}",
            f"--token-auth-file={p('tokens.csv')}",
            "--authorization-mode=Node,RBAC",
            "--enable-admission-plugins=NodeRestriction",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={p('sa.pub')}",
            f"--service-account-signing-key-file={p('sa.key')}",
            f"--kubelet-client-certificate={p('apiserver-kubelet-client.crt')}",
            f"--kubelet-client-key={p('apiserver-kubelet-client.key')}",
            "--kubelet-preferred-address-types=InternalIP",
            "--enable-aggregator-routing=true",
            "--allow-privileged=true",
            "--profiling=false",
        ],
    )


CONTAINERD_CONFIG = """version = 2
root = "{root}"
state = "{state}"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.internal.v1.opt",
  "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "{socket}"
[ttrpc]
  address = "{socket}.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{pause}"
  enable_selinux = false
  disable_apparmor = true
  # this machine withholds CAP_SYS_RESOURCE even from root: runc cannot set each sandbox's oom_score_adj
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "/usr/sbin/runc"
        Root = "{runc_root}"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{cni_bin}"
    conf_dir = "{cni_conf}"
    max_conf_num = 1
  [plugins."io.containerd.grpc.v1.cri".registry.mirrors."{registry}"]
    endpoint = ["http://{registry}"]
"""


def cni_config(ipam_dir: Path) -> dict[str, Any]:
    """Pods on the bridge, addresses from the node's /24 (the bridge's own is the gateway)."""
    bridge = {
        "type": "bridge",
        "bridge": BRIDGE,
        "isGateway": True,
        "ipMasq": False,
        "hairpinMode": True,
        "ipam": {
            "type": "host-local",
            "ranges": [[{"subnet": NODE_CIDR, "gateway": NODE_IP}]],
            "routes": [{"dst": "0.0.0.0/0"}],
            "dataDir": str(ipam_dir),
        },
    }
    portmap = {"type": "portmap", "capabilities": {"portMappings": True}}
    return {"cniVersion": "0.4.0", "name": "state-hub-pods", "plugins": [bridge, portmap]}


REGISTRY_CONFIG = """version: 0.1
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
http:
  addr: {address}
log:
  level: warn
"""


def _containerd_socket(directory: Path) -> Path:
    """Beside the owner file, in a folder named for the node's: a socket path may not pass 104 bytes, and a
    node folder under pytest's temporary tree (with a worker's name in it) made containerd's path too long."""
    key = hashlib.sha256(str(directory.resolve()).encode()).hexdigest()[:12]
    return OWNER_FILE.parent / f"containerd-{key}" / "containerd.sock"


def _start_containerd_and_registry(starter: _Starter) -> None:
    directory = starter.directory
    containerd = directory / "containerd"
    cni = directory / "cni"
    (cni / "net.d").mkdir(parents=True)
    (cni / "net.d" / "10-state-hub-pods.conflist").write_text(json.dumps(cni_config(cni / "ipam")))
    config = containerd / "config.toml"
    containerd.mkdir()
    _containerd_socket(directory).parent.mkdir(parents=True, exist_ok=True)
    config.write_text(
        CONTAINERD_CONFIG.format(
            root=containerd / "root",
            state=containerd / "state",
            socket=_containerd_socket(directory),
            pause="localhost/pause:3.10",
            runc_root=containerd / "runc",
            cni_bin=CNI_PLUGINS,
            cni_conf=cni / "net.d",
            registry=REGISTRY,
        )
    )
    starter.spawn("containerd", ["containerd", "--config", str(config)])
    registry = directory / "registry"
    registry.mkdir()
    (registry / "config.yml").write_text(REGISTRY_CONFIG.format(root=registry / "data", address=REGISTRY))
    starter.spawn("registry", ["docker-registry", "serve", str(registry / "config.yml")])


def _ctr(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    argv = ["ctr", "--address", str(_containerd_socket(directory)), "--namespace", "k8s.io", *args]
    return subprocess.run(argv, capture_output=True, text=True, check=False)


def _load_images(starter: _Starter, built: dict[str, BuiltImage], images: Path) -> dict[str, str]:
    """Platform images into containerd; the app's and the database's into the registry, pinned by digest."""
    directory = starter.directory
    _wait("containerd answering", lambda: _ctr(directory, "version").returncode == 0, 60, starter, ("containerd",))
    refs: dict[str, str] = {}
    for name in PLATFORM_IMAGES:
        image = built[name]
        done = subprocess.run(
            [
                "ctr",
                "--address",
                str(_containerd_socket(directory)),
                "--namespace",
                "k8s.io",
                "images",
                "import",
                "--all-platforms",
                str(images / image.archive),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise NodeError(f"importing image {name} into containerd failed: {done.stderr.strip()[-300:]}")
        refs[name] = image.ref
    starter.timed(f"{len(PLATFORM_IMAGES)} platform images imported into containerd")
    registry_up = lambda: _http_ok(f"http://{REGISTRY}/v2/")  # noqa: E731
    _wait("registry answering", registry_up, 30, starter, ("registry",))
    for name in REGISTRY_IMAGES:
        image = built[name]
        repository = image.ref.removeprefix("localhost/")
        target = f"{REGISTRY}/{repository}"
        pushed = subprocess.run(
            [
                "skopeo",
                "copy",
                "--quiet",
                "--dest-tls-verify=false",
                "--preserve-digests",
                f"oci-archive:{images / image.archive}",
                f"docker://{target}",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if pushed.returncode != 0:
            raise NodeError(f"pushing image {name} to the node's registry failed: {pushed.stderr.strip()[-300:]}")
        refs[name] = f"{target}@{image.digest}"
    starter.timed(f"{len(REGISTRY_IMAGES)} images pushed to the registry {REGISTRY}")
    return refs


def _http_ok(url: str) -> bool:
    import urllib.request  # noqa: PLC0415

    with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 - the node's own address
        return bool(answer.status == 200)


KUBELET_CONFIG = """apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: cgroupfs
cgroupRoot: /{cgroup_root}
containerRuntimeEndpoint: unix://{socket}
address: {node_ip}
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
tlsCertFile: {cert}
tlsPrivateKeyFile: {key}
authentication:
  anonymous: {{enabled: false}}
  webhook: {{enabled: false}}
  x509: {{clientCAFile: {ca}}}
authorization: {{mode: AlwaysAllow}}
clusterDNS: [{dns}]
clusterDomain: cluster.local
resolvConf: {resolv}
failSwapOn: false
failCgroupV1: false
podCIDR: {pod_cidr}
maxPods: 110
serializeImagePulls: false
imageGCHighThresholdPercent: 95
imageGCLowThresholdPercent: 90
evictionHard: {{memory.available: "200Mi", nodefs.available: "2%", imagefs.available: "2%"}}
enforceNodeAllocatable: ["pods"]
localStorageCapacityIsolation: true
protectKernelDefaults: false
makeIPTablesUtilChains: false
podLogsDir: {pod_logs}
"""

KUBE_PROXY_CONFIG = """apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection: {{kubeconfig: {kubeconfig}}}
hostnameOverride: {node}
bindAddress: {node_ip}
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
clusterCIDR: {pod_cidr}
nodePortAddresses: ["{node_ip}/32"]
conntrack: {{maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}}
iptables: {{localhostNodePorts: false, masqueradeAll: false, syncPeriod: 10s}}
"""


def _start_node(starter: _Starter, pki: Pki) -> None:
    directory, bins = starter.directory, starter.bin_dir
    kubelet = directory / "kubelet"
    kubelet.mkdir()
    (kubelet / "resolv.conf").write_text("")
    (directory / "pod-logs").mkdir()
    config = kubelet / "config.yaml"
    config.write_text(
        KUBELET_CONFIG.format(
            cgroup_root=CGROUP_ROOT,
            socket=_containerd_socket(directory),
            node_ip=NODE_IP,
            cert=pki.path("kubelet.crt"),
            key=pki.path("kubelet.key"),
            ca=pki.ca,
            dns=platform.DNS_SERVICE_IP,
            resolv=kubelet / "resolv.conf",
            pod_cidr=NODE_CIDR,
            pod_logs=directory / "pod-logs",
        )
    )
    starter.spawn(
        "kubelet",
        [
            str(bins / "kubelet"),
            f"--config={config}",
            f"--kubeconfig={pki.kubeconfig('node')}",
            f"--hostname-override={NODE_NAME}",
            f"--node-ip={NODE_IP}",
            f"--root-dir={kubelet / 'root'}",
            "--v=1",
        ],
    )
    controller = pki.kubeconfig("controller-manager")
    starter.spawn(
        "kube-controller-manager",
        [
            str(bins / "kube-controller-manager"),
            f"--kubeconfig={controller}",
            f"--authentication-kubeconfig={controller}",
            f"--authorization-kubeconfig={controller}",
            "--bind-address=127.0.0.1",
            "--secure-port=10257",
            "--leader-elect=false",
            "--use-service-account-credentials=true",
            f"--service-account-private-key-file={pki.path('sa.key')}",
            f"--root-ca-file={pki.ca}",
            f"--cluster-signing-cert-file={pki.ca}",
            f"--cluster-signing-key-file={pki.path('ca.key')}",
            "--allocate-node-cidrs=false",
            "--controllers=*,-cloud-node-lifecycle,-bootstrapsigner,-tokencleaner",
        ],
    )
    scheduler = pki.kubeconfig("scheduler")
    starter.spawn(
        "kube-scheduler",
        [
            str(bins / "kube-scheduler"),
            f"--kubeconfig={scheduler}",
            f"--authentication-kubeconfig={scheduler}",
            f"--authorization-kubeconfig={scheduler}",
            "--bind-address=127.0.0.1",
            "--secure-port=10259",
            "--leader-elect=false",
        ],
    )
    proxy = directory / "kube-proxy.yaml"
    proxy.write_text(
        KUBE_PROXY_CONFIG.format(
            kubeconfig=pki.kubeconfig("proxy"), node=NODE_NAME, node_ip=NODE_IP, pod_cidr=NODE_CIDR
        )
    )
    starter.spawn("kube-proxy", [str(bins / "kube-proxy"), f"--config={proxy}"])


def _start_policy_firewall(starter: _Starter, pki: Pki) -> None:
    """kube-router's NetworkPolicy firewall alone (no routing, no service proxy, no CNI). It identifies its
    node at start, so it starts once the node is registered; it is up when its chains are in iptables."""
    starter.spawn(
        "kube-router",
        [
            str(starter.bin_dir / "kube-router"),
            f"--kubeconfig={pki.kubeconfig('router')}",
            f"--hostname-override={NODE_NAME}",
            "--run-firewall=true",
            "--run-router=false",
            "--run-service-proxy=false",
            "--enable-cni=false",
            "--health-port=20244",
            "--v=1",
        ],
    )
    chains = lambda: "KUBE-ROUTER-FORWARD" in starter.netns.run("iptables-save", "-t", "filter").stdout  # noqa: E731
    _wait("kube-router's NetworkPolicy chains", chains, 60, starter, ("kube-router",))
    starter.timed("kube-router enforcing NetworkPolicies")


def _node_ready(api: KubeApi) -> bool:
    node = api.get(f"/api/v1/nodes/{NODE_NAME}")
    conditions = (node.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def _apply(cluster: NodeCluster, manifests: list[dict[str, Any]]) -> None:
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", stdin=platform.dump(manifests))


def _available(cluster: NodeCluster, namespace: str, deployment: str) -> bool:
    found = cluster.api.get(f"/apis/apps/v1/namespaces/{namespace}/deployments/{deployment}")
    status = found.get("status") or {}
    return bool(status.get("availableReplicas")) and status.get("updatedReplicas") == found["spec"].get("replicas")


def _install_platform(starter: _Starter, cluster: NodeCluster, refs: dict[str, str]) -> None:
    directory = starter.directory
    for path in platform.volume_paths(directory / "volumes"):
        path.mkdir(parents=True)
        os.chown(path, 26, 26)  # the operand's uid: hostPath volumes get no fsGroup
        path.chmod(0o700)
    _apply(cluster, platform.coredns(refs["coredns"]) + platform.storage(directory / "volumes"))
    _apply(cluster, [platform.namespace(name) for name in platform.PLATFORM_NAMESPACES])
    _apply(cluster, platform.cnpg_operator(refs["cloudnative-pg"]))
    s3 = [sys.executable, "-m", "moto.server", "-H", NODE_IP, "-p", S3_ENDPOINT.rsplit(":", 1)[1]]
    starter.spawn("s3", s3)
    _wait("CoreDNS ready", lambda: _available(cluster, "kube-system", "coredns"), 180, starter, ("kubelet",))
    starter.timed("CoreDNS ready (10.43.0.10)")
    _wait(
        "cnpg operator ready",
        lambda: _available(cluster, "cnpg-system", "cnpg-controller-manager"),
        300,
        starter,
        ("kubelet",),
    )
    starter.timed("cnpg operator ready")
    _apply(cluster, platform.barman_tls(directory / "pki" / "barman"))
    _apply(cluster, platform.barman_plugin(refs["plugin-barman-cloud"], refs["plugin-barman-cloud-sidecar"]))
    _wait("the S3 store answering", lambda: _http_ok(S3_ENDPOINT + "/"), 60, starter, ("s3",))
    _create_bucket()
    _wait(
        "Barman Cloud plugin ready",
        lambda: _available(cluster, "cnpg-system", "barman-cloud"),
        180,
        starter,
        ("kubelet",),
    )
    starter.timed(f"Barman Cloud plugin ready; S3 store {S3_ENDPOINT}, bucket {S3_BUCKET}")


def _create_bucket() -> None:
    import boto3  # noqa: PLC0415 - the pods tier's own dependency

    access, secret = S3_KEYS
    client = boto3.client(
        "s3", endpoint_url=S3_ENDPOINT, region_name="us-east-1", aws_access_key_id=access, aws_secret_access_key=secret
    )
    client.create_bucket(Bucket=S3_BUCKET)


def _cgroups_create() -> None:
    for controller in CGROUP_CONTROLLERS:
        folder = Path("/sys/fs/cgroup") / controller / CGROUP_ROOT
        folder.mkdir(exist_ok=True)
    cpuset = Path("/sys/fs/cgroup/cpuset")
    for knob in ("cpuset.cpus", "cpuset.mems"):
        (cpuset / CGROUP_ROOT / knob).write_text((cpuset / knob).read_text())


def _cgroups_remove() -> None:
    for controller in (*CGROUP_CONTROLLERS, "unified"):
        root = Path("/sys/fs/cgroup") / controller / CGROUP_ROOT
        if not root.is_dir():
            continue
        for folder in sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
            with contextlib.suppress(OSError):
                folder.rmdir()
        with contextlib.suppress(OSError):
            root.rmdir()


def _kill(pids: list[int], grace: float) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, 15)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(is_alive(pid) for pid in pids):
        time.sleep(0.1)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, 9)
    for pid in pids:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


def _pods_processes(directory: Path) -> list[int]:
    """Every process that runs a pod of this node: containerd's shims (their command names its socket's
    folder) and what runs under this node's cgroup."""
    sockets = str(_containerd_socket(directory).parent)
    found: set[int] = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if "containerd-shim" in command and sockets in command:
                found.add(int(proc.name))
    return sorted((found | set(_in_cgroup())) - {os.getpid()})


def _unmount_under(directory: Path) -> None:
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    prefix = str(directory.resolve())
    for mount in sorted((m for m in mounts if m == prefix or m.startswith(prefix + "/")), key=len, reverse=True):
        subprocess.run(["umount", "-l", mount], capture_output=True, check=False)


def stop(directory: Path) -> int:
    """Stop what `start` started in `directory` and remove its contents; returns how many processes ran.

    Pods first (the kubelet, then every shim and container process), then the rest; then mounts, the
    network namespace, the cgroups and the folder's contents. Safe to run on a half-started node. Ctrl-C
    and SIGTERM wait until it is done."""
    with _signals_held():
        return _stop(directory)


def _stop(directory: Path) -> int:
    state_file = directory / STATE_FILE
    if not state_file.is_file():
        raise NodeError(f"{directory} holds no pods cluster ({STATE_FILE} is missing)")
    state = json.loads(state_file.read_text())
    pids: dict[str, int] = state.get("pids", {})
    running = [pid for pid in pids.values() if is_alive(pid)]
    if "kubelet" in pids:
        _kill([pids["kubelet"]], 5)
    pods = _pods_processes(directory)
    for pid in pods:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, 9)
    _kill(list(pids.values()), 10)
    for pid in _pods_processes(directory):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, 9)
    _unmount_under(directory)
    with contextlib.suppress(NetnsError):
        Netns(state.get("netns", NETNS_NAME)).delete()
    _cgroups_remove()
    _remove_contents(directory)
    shutil.rmtree(_containerd_socket(directory).parent, ignore_errors=True)
    with contextlib.suppress(OSError):
        if OWNER_FILE.read_text().strip() == str(directory.resolve()):
            OWNER_FILE.unlink()
    return len(running) + len(pods)


def _remove_contents(directory: Path) -> None:
    for entry in directory.iterdir() if directory.is_dir() else []:
        if entry.is_symlink() or not entry.is_dir():
            entry.unlink(missing_ok=True)
        else:
            shutil.rmtree(entry, ignore_errors=True)


@contextlib.contextmanager
def running(directory: Path, bin_dir: Path, images: Path, progress: Progress) -> Iterator[NodeCluster]:
    """A pods cluster for the length of a `with` block, its processes tied to this one."""
    cluster = start(directory, bin_dir, images, progress, tie_to_parent=True)
    try:
        yield cluster
    finally:
        stop(directory)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Ctrl-C and SIGTERM wait until the block ends: a second Ctrl-C during the clean-up would otherwise end
    it half-way and leave the namespace and mounts behind (seen: a terminal sends Ctrl-C to every process of
    the group, and a wrapper passed it on once more). The first one that came is raised again afterwards.
    Handlers, not a signal mask: another thread may take a masked process signal and wake the main one."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    came: list[int] = []
    held = (signal.SIGINT, signal.SIGTERM)
    previous = {signum: signal.signal(signum, lambda number, _frame: came.append(number)) for signum in held}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        if came:
            signal.raise_signal(came[0])
