"""A minimal Kubernetes REST client: enough to install CRDs and namespaces and to read objects back.

A token or a client certificate (what k3s's kubeconfig holds), the server's own CA; JSON in and
out. The tools that need more (apply, diff, wait) are the Pulumi provider's, not this module's.
"""

from __future__ import annotations

import base64
import contextlib
import json
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


class KubeApiError(Exception):
    """The API server answered with an error status (kept: `status`) or could not be reached."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class KubeApi:
    server: str
    """https://127.0.0.1:PORT"""
    token: str | None
    ca_file: Path
    client_cert: tuple[Path, Path] | None = None
    """Certificate and key files of a client-certificate user."""

    def _context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        if self.client_cert:
            context.load_cert_chain(str(self.client_cert[0]), str(self.client_cert[1]))
        return context

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        text = self.send(method, path, body)
        return json.loads(text) if text else {}

    def send(self, method: str, path: str, body: dict[str, Any] | None = None) -> str:
        """The response body as text (health endpoints answer `ok`, not JSON)."""
        data = None if body is None else json.dumps(body).encode()
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if data is not None:
            headers["Content-Type"] = "application/merge-patch+json" if method == "PATCH" else "application/json"
        request = urllib.request.Request(self.server + path, data=data, method=method, headers=headers)  # noqa: S310 - https to the configured server
        try:
            with urllib.request.urlopen(request, context=self._context(), timeout=30) as response:  # noqa: S310
                return str(response.read().decode())
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace")
            with contextlib.suppress(json.JSONDecodeError, AttributeError):
                detail = json.loads(detail).get("message", detail)
            raise KubeApiError(f"{method} {path}: HTTP {error.code}: {detail}", error.code) from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise KubeApiError(f"{method} {path}: {self.server} cannot be reached ({reason})") from None

    def get(self, path: str) -> dict[str, Any]:
        return self.request("GET", path)

    def exists(self, path: str) -> bool:
        try:
            self.get(path)
        except KubeApiError as error:
            if error.status == 404:
                return False
            raise
        return True

    def create(self, collection: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", collection, body)

    def patch_status(self, path: str, status: dict[str, Any]) -> dict[str, Any]:
        """Write an object's status as a controller would (merge patch on the status subresource)."""
        return self.request("PATCH", path + "/status", {"status": status})


def collection_path(api_version: str, kind_plural: str, namespace: str | None = None) -> str:
    """`/api/v1/namespaces/x/secrets` or `/apis/group/version/namespaces/x/plural`."""
    base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    return f"{base}/namespaces/{namespace}/{kind_plural}" if namespace else f"{base}/{kind_plural}"


def from_kubeconfig(path: Path, context: str | None, material_dir: Path) -> KubeApi:
    """The client of one kubeconfig context (the current one when None). Certificates and keys given
    inline are written into `material_dir` (a private folder the caller removes)."""
    try:
        config = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as error:
        raise KubeApiError(f"kubeconfig {path} cannot be read: {error}") from None
    name = context or config.get("current-context")
    contexts = {c["name"]: c["context"] for c in config.get("contexts") or []}
    if name not in contexts:
        raise KubeApiError(
            f"kubeconfig {path} has no context {name!r} (it has: {', '.join(sorted(contexts)) or 'none'})"
        )
    chosen = contexts[name]
    cluster = {c["name"]: c["cluster"] for c in config.get("clusters") or []}.get(chosen.get("cluster"), {})
    user = {u["name"]: u["user"] for u in config.get("users") or []}.get(chosen.get("user"), {})

    def material(key: str, file_name: str) -> Path | None:
        if f"{key}-data" in user or f"{key}-data" in cluster:
            target = material_dir / file_name
            target.write_bytes(base64.b64decode(user.get(f"{key}-data") or cluster.get(f"{key}-data")))
            target.chmod(0o600)
            return target
        given = user.get(key) or cluster.get(key)
        return Path(given) if given else None

    ca = material("certificate-authority", "ca.crt")
    cert, key = material("client-certificate", "client.crt"), material("client-key", "client.key")
    if ca is None or not cluster.get("server"):
        raise KubeApiError(f"kubeconfig {path}, context {name!r}: no server or certificate authority")
    return KubeApi(cluster["server"], user.get("token"), ca, (cert, key) if cert and key else None)
