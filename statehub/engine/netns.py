"""The network namespace a one-node cluster lives in: its own loopback, a bridge that is the node's address,
and one veth pair to the host, from which nothing routes out.

Inside: the bridge `cni0` (10.244.0.1/24, the node address; pods get the rest of the /24), forwarding on,
and an iptables chain (in mangle, before any filter rule the cluster's own components add) that drops
anything a pod starts towards the veth (the host and beyond), except the host ports the cluster is told
to reach (the workstation's State Hub, as the real cluster reaches
WSL2). Traffic the host starts reaches the node and Service addresses (routes on the host through the
veth) and is rewritten to come from the node address, as a k3s node's own traffic does. The host never
forwards (its ip_forward is off, and the host end of the veth refuses to forward), so no packet of the
cluster leaves the machine. Deleting the namespace deletes the bridge, the veth, its routes and every
iptables rule and ipset made inside it: nothing of the host's own firewall is touched.
"""

from __future__ import annotations

import ipaddress
import subprocess
from dataclasses import dataclass
from pathlib import Path

NETNS_DIR = Path("/run/netns")
NODE_CIDR = "10.244.0.0/24"
NODE_IP = "10.244.0.1"
SERVICE_CIDR = "10.43.0.0/16"
LINK_CIDR = "10.245.255.0/30"
"""The veth pair: the host end .1, the namespace end .2."""
BRIDGE = "cni0"
ISOLATION_CHAIN = "STATE-HUB-ISOLATE"


class NetnsError(Exception):
    """The namespace could not be made or removed; the message says which command failed."""


def _run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise NetnsError(f"{' '.join(argv)} failed: {done.stderr.strip()[-300:]}")
    return done


@dataclass(frozen=True)
class Netns:
    name: str

    @property
    def host_veth(self) -> str:
        return f"{self.name[:10]}-h"

    @property
    def inner_veth(self) -> str:
        return f"{self.name[:10]}-n"

    @property
    def host_ip(self) -> str:
        return str(next(iter(ipaddress.ip_network(LINK_CIDR).hosts())))

    @property
    def inner_ip(self) -> str:
        return str(list(ipaddress.ip_network(LINK_CIDR).hosts())[1])

    @property
    def path(self) -> Path:
        return NETNS_DIR / self.name

    def exists(self) -> bool:
        return self.path.exists()

    def inside(self, argv: list[str]) -> list[str]:
        """`argv` run in the namespace's network (only: the mounts are the host's, which the kubelet and
        containerd must share)."""
        return ["nsenter", f"--net={self.path}", "--", *argv]

    def run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return _run(*self.inside(list(argv)), check=check)

    def create(self) -> None:
        _run("ip", "netns", "add", self.name)
        try:
            self._wire()
        except BaseException:
            self.delete()
            raise

    def _wire(self) -> None:
        link = ipaddress.ip_network(LINK_CIDR).prefixlen
        _run("ip", "link", "add", self.host_veth, "type", "veth", "peer", "name", self.inner_veth, "netns", self.name)
        _run("ip", "addr", "add", f"{self.host_ip}/{link}", "dev", self.host_veth)
        _run("sysctl", "-qw", f"net.ipv4.conf.{self.host_veth}.forwarding=0")
        _run("ip", "link", "set", self.host_veth, "up")
        for cidr in (NODE_CIDR, SERVICE_CIDR):
            _run("ip", "route", "replace", cidr, "via", self.inner_ip, "dev", self.host_veth)
        inside = self.run
        inside("ip", "link", "set", "lo", "up")
        inside("ip", "addr", "add", f"{self.inner_ip}/{link}", "dev", self.inner_veth)
        inside("ip", "link", "set", self.inner_veth, "up")
        inside("ip", "link", "add", BRIDGE, "type", "bridge")
        inside("ip", "addr", "add", f"{NODE_IP}/{ipaddress.ip_network(NODE_CIDR).prefixlen}", "dev", BRIDGE)
        inside("ip", "link", "set", BRIDGE, "up")
        for setting in ("net.ipv4.ip_forward=1", "net.bridge.bridge-nf-call-iptables=1"):
            inside("sysctl", "-qw", setting)
        # mangle comes before filter: kube-router's and kube-proxy's ACCEPTs there cannot let a packet past it
        isolate = ("iptables", "-t", "mangle")
        inside(*isolate, "-N", ISOLATION_CHAIN)
        inside(*isolate, "-A", ISOLATION_CHAIN, "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "RETURN")
        inside(*isolate, "-A", ISOLATION_CHAIN, "-i", BRIDGE, "!", "-o", BRIDGE, "-j", "DROP")
        inside(*isolate, "-I", "FORWARD", "1", "-j", ISOLATION_CHAIN)
        inside(
            "iptables",
            "-t",
            "nat",
            "-A",
            "POSTROUTING",
            "-s",
            LINK_CIDR,
            "-o",
            BRIDGE,
            "-j",
            "SNAT",
            "--to-source",
            NODE_IP,
        )

    def allow_host_port(self, port: int) -> None:
        """Let pods reach the host's TCP `port` on the link address (the workstation's State Hub)."""
        self.run(
            "iptables",
            "-t",
            "mangle",
            "-I",
            ISOLATION_CHAIN,
            "1",
            "-i",
            BRIDGE,
            "-o",
            self.inner_veth,
            "-d",
            self.host_ip,
            "-p",
            "tcp",
            "--dport",
            str(port),
            "-j",
            "RETURN",
        )

    def delete(self) -> None:
        """Remove the namespace (and with it everything inside) and the host's end of the veth."""
        _run("ip", "link", "del", self.host_veth, check=False)
        if self.exists():
            _run("ip", "netns", "delete", self.name, check=False)
