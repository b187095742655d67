"""A minimal Kubernetes REST client: enough to install CRDs and namespaces and to read objects back.

A token or a client certificate (what k3s's kubeconfig holds), the server's own CA; JSON in and
out. The tools that need more (apply, diff, wait) are the Pulumi provider's, not this module's.
"""

from __future__ import annotations

import base64
import contextlib
import json
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from statehub.data.http_client import HttpError, fetch, strict_json
from statehub.policy.safe_yaml import load_yaml


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
        if not text:
            return {}
        try:
            found = strict_json(text.encode())
        except ValueError as error:
            raise KubeApiError(f"{method} {path}: the answer is not usable JSON ({error})") from None
        if not isinstance(found, dict):
            raise KubeApiError(f"{method} {path}: the answer is a {type(found).__name__}, not an object")
        return found

    def send(self, method: str, path: str, body: dict[str, Any] | None = None) -> str:
        """The response body as text (health endpoints answer `ok`, not JSON). Through the guarded client: a
        redirect is an error (the token would go along), and so is a token on plain http."""
        if self.token and not self.server.startswith("https://"):
            raise KubeApiError(f"{self.server}: a bearer token is only sent over https (the kubeconfig says http)")
        data = None if body is None else json.dumps(body).encode()
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if data is not None:
            headers["Content-Type"] = "application/merge-patch+json" if method == "PATCH" else "application/json"
        try:
            context = self._context() if self.server.startswith("https://") else None
            answer = fetch(self.server + path, method=method, headers=headers, body=data, context=context, deadline=30)
        except (HttpError, ssl.SSLError, OSError) as error:
            raise KubeApiError(f"{method} {path}: {self.server} cannot be reached ({error})") from None
        text = answer.body.decode(errors="replace")
        if 300 <= answer.status < 400:
            raise KubeApiError(
                f"{method} {path}: HTTP {answer.status}: the API server redirects; not followed (the token would "
                "go along)",
                answer.status,
            )
        if answer.status >= 400:
            detail = text
            with contextlib.suppress(ValueError, AttributeError):
                detail = strict_json(answer.body).get("message", detail)
            raise KubeApiError(f"{method} {path}: HTTP {answer.status}: {str(detail)[:300]}", answer.status)
        return text

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


def _entries(config: dict[str, Any], key: str, inner: str, path: Path) -> dict[str, dict[str, Any]]:
    """`clusters`, `users` or `contexts` as name -> its mapping; anything else is one line naming it."""
    listed = config.get(key) or []
    if not isinstance(listed, list):
        raise KubeApiError(f"kubeconfig {path}: {key} is a {type(listed).__name__}, not a list")
    found: dict[str, dict[str, Any]] = {}
    for entry in listed:
        named = isinstance(entry, dict) and isinstance(entry.get("name"), str)
        if not named or not isinstance(entry.get(inner), dict):
            raise KubeApiError(f"kubeconfig {path}: an entry of {key} has no name or no {inner} mapping")
        found[entry["name"]] = entry[inner]
    return found


MAX_KUBECONFIG_BYTES = 4 * 2**20


def from_kubeconfig(path: Path, context: str | None, material_dir: Path) -> KubeApi:
    """The client of one kubeconfig context (the current one when None). Certificates and keys given
    inline are written into `material_dir` (a private folder the caller removes). A kubeconfig that is not
    one is a `KubeApiError` naming what is wrong."""
    try:
        if not path.is_file():
            raise KubeApiError(f"kubeconfig {path} is not a file")
        if path.stat().st_size > MAX_KUBECONFIG_BYTES:
            raise KubeApiError(f"kubeconfig {path} is larger than 4 MiB: not a kubeconfig")
        config = load_yaml(path.read_text()) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise KubeApiError(f"kubeconfig {path} cannot be read: {str(error).splitlines()[0]}") from None
    if not isinstance(config, dict):
        raise KubeApiError(f"kubeconfig {path} is a YAML {type(config).__name__}, not a mapping")
    contexts = _entries(config, "contexts", "context", path)
    name = context or config.get("current-context")
    if not isinstance(name, str) or name not in contexts:
        raise KubeApiError(
            f"kubeconfig {path} has no context {name!r} (it has: {', '.join(sorted(contexts)) or 'none'})"
        )
    chosen = contexts[name]
    cluster = _entries(config, "clusters", "cluster", path).get(str(chosen.get("cluster")), {})
    user = _entries(config, "users", "user", path).get(str(chosen.get("user")), {})

    def material(key: str, file_name: str) -> Path | None:
        inline = user.get(f"{key}-data") or cluster.get(f"{key}-data")
        if inline:
            try:
                decoded = base64.b64decode(str(inline), validate=True)
            except ValueError:
                raise KubeApiError(f"kubeconfig {path}, context {name!r}: {key}-data is not base64") from None
            target = material_dir / file_name
            target.write_bytes(decoded)
            target.chmod(0o600)
            return target
        given = user.get(key) or cluster.get(key)
        return Path(str(given)) if given else None

    ca = material("certificate-authority", "ca.crt")
    cert, key = material("client-certificate", "client.crt"), material("client-key", "client.key")
    server = cluster.get("server")
    if ca is None or not isinstance(server, str) or not server:
        raise KubeApiError(f"kubeconfig {path}, context {name!r}: no server or certificate authority")
    token = user.get("token")
    return KubeApi(server, str(token) if token else None, ca, (cert, key) if cert and key else None)
