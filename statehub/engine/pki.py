"""The certificates, keys and tokens of a one-node cluster, made with openssl into its folder.

A CA; the API server's serving certificate (for the node address, the `kubernetes` Service's first
address and its names); the kubelet's serving certificate; the API server's client certificate to the
kubelet (system:masters); the service-account key pair; and a static token per client, each written
into a kubeconfig of its own. Everything is valid for 30 days and lives only as long as the cluster.
"""

from __future__ import annotations

import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

CONTEXT = "local"
"""The kubeconfig context of every local cluster (the engine tier's API server too)."""


@dataclass(frozen=True)
class Client:
    """A static-token client of the API server."""

    name: str
    user: str
    groups: tuple[str, ...] = ()


def _openssl(*args: str, cwd: Path) -> None:
    done = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed: {done.stderr.strip()[-300:]}")


def _sign(folder: Path, name: str, subject: str, usage: str, san: str = "") -> None:
    _openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        subject,
        "-keyout",
        f"{name}.key",
        "-out",
        f"{name}.csr",
        cwd=folder,
    )
    extensions = (
        f"basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage={usage}\n"
    )
    (folder / f"{name}.ext").write_text(extensions + (f"subjectAltName={san}\n" if san else ""))
    _openssl(
        "x509",
        "-req",
        "-in",
        f"{name}.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "30",
        "-extfile",
        f"{name}.ext",
        "-out",
        f"{name}.crt",
        cwd=folder,
    )
    (folder / f"{name}.csr").unlink()
    (folder / f"{name}.ext").unlink()


@dataclass(frozen=True)
class Pki:
    folder: Path
    server: str
    """https://NODE_IP:PORT"""

    @property
    def ca(self) -> Path:
        return self.folder / "ca.crt"

    def path(self, name: str) -> Path:
        return self.folder / name

    def kubeconfig(self, client: str) -> Path:
        return self.folder / f"{client}.kubeconfig"

    def token(self, client: str) -> str:
        return (self.folder / f"{client}.token").read_text().strip()


def make_pki(
    folder: Path, *, node_ip: str, node_name: str, service_ip: str, port: int, clients: tuple[Client, ...]
) -> Pki:
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "30",
        "-subj",
        "/CN=state-hub-pods-ca",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        cwd=folder,
    )
    names = "DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
    _sign(folder, "apiserver", "/CN=kube-apiserver", "serverAuth", f"IP:{node_ip},IP:{service_ip},IP:127.0.0.1,{names}")
    _sign(folder, "kubelet", f"/CN={node_name}", "serverAuth", f"IP:{node_ip},DNS:{node_name}")
    _sign(folder, "apiserver-kubelet-client", "/CN=kube-apiserver-kubelet-client/O=system:masters", "clientAuth")
    _openssl("genrsa", "-out", "sa.key", "2048", cwd=folder)
    _openssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=folder)
    server = f"https://{node_ip}:{port}"
    rows = []
    for client in clients:
        token = secrets.token_hex(16)
        (folder / f"{client.name}.token").write_text(token + "\n")
        groups = f',"{",".join(client.groups)}"' if client.groups else ""
        rows.append(f"{token},{client.user},{client.user}{groups}\n")
        kubeconfig = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": CONTEXT, "cluster": {"server": server, "certificate-authority": str(folder / "ca.crt")}}
            ],
            "users": [{"name": client.name, "user": {"token": token}}],
            "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": client.name}}],
            "current-context": CONTEXT,
        }
        (folder / f"{client.name}.kubeconfig").write_text(yaml.safe_dump(kubeconfig))
    (folder / "tokens.csv").write_text("".join(rows))
    for path in folder.iterdir():
        path.chmod(0o600)
    return Pki(folder, server)
