"""A real registry (Debian's `docker-registry`) on 127.0.0.1, started per session, and a tiny
image pushed to it over the OCI distribution API by the test itself."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import shutil
import subprocess
import tarfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import bcrypt
import pytest

from statehub.data.ephemeral import free_port

REGISTRY_BINARY = shutil.which("docker-registry") or shutil.which("registry")
USER, PASSWORD = "ci", "registry-test-password"


@dataclass(frozen=True)
class Registry:
    host: str
    auth: bool

    def url(self, path: str) -> str:
        return f"http://{self.host}{path}"


def _config(root: Path, port: int, htpasswd: Path | None) -> str:
    auth = f"auth:\n  htpasswd:\n    realm: test\n    path: {htpasswd}\n" if htpasswd else ""
    return (
        "version: 0.1\nlog:\n  level: error\n"
        f"storage:\n  filesystem:\n    rootdirectory: {root}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n{auth}"
    )


@pytest.fixture(scope="session", params=["open", "htpasswd"])
def registry(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    if REGISTRY_BINARY is None:
        pytest.skip("Debian's docker-registry is not installed (.ci/run installs it)")
    work = tmp_path_factory.mktemp(f"registry-{request.param}")
    htpasswd = None
    if request.param == "htpasswd":
        htpasswd = work / "htpasswd"
        htpasswd.write_text(f"{USER}:{bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()}\n")
    port = free_port()
    config = work / "config.yml"
    config.write_text(_config(work / "data", port, htpasswd))
    process = subprocess.Popen(
        [REGISTRY_BINARY, "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    registry = Registry(f"127.0.0.1:{port}", auth=htpasswd is not None)
    try:
        _wait_until_up(registry, process)
        yield registry
    finally:
        process.terminate()
        process.wait(timeout=10)


def _wait_until_up(registry: Registry, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"docker-registry exited: {process.stderr.read().decode() if process.stderr else ''}")
        try:
            urllib.request.urlopen(registry.url("/v2/"), timeout=1)
            return
        except urllib.error.HTTPError:
            return  # 401 with auth: it is up
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.05)
    raise RuntimeError("docker-registry did not come up in 15 s")


def _send(
    registry: Registry, method: str, path: str, body: bytes = b"", content_type: str = ""
) -> tuple[int, dict[str, str]]:
    headers = {"Content-Type": content_type} if content_type else {}
    if registry.auth:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    url = path if path.startswith("http") else registry.url(path)
    request = urllib.request.Request(url, data=body or None, method=method, headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, dict(response.headers.items())


def _push_blob(registry: Registry, repository: str, blob: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    _, headers = _send(registry, "POST", f"/v2/{repository}/blobs/uploads/")
    location = headers["Location"]
    if not location.startswith("http"):
        location = registry.url(location)
    separator = "&" if "?" in location else "?"
    _send(registry, "PUT", f"{location}{separator}digest={digest}", blob, "application/octet-stream")
    return digest


def push_tiny_image(registry: Registry, repository: str) -> str:
    """Push a one-file OCI image; returns its manifest digest."""
    layer_tar = io.BytesIO()
    with tarfile.open(fileobj=layer_tar, mode="w") as tar:
        data = b"state hub\n"
        info = tarfile.TarInfo("hello.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    layer = gzip.compress(layer_tar.getvalue(), mtime=0)
    diff_id = "sha256:" + hashlib.sha256(layer_tar.getvalue()).hexdigest()
    config = json.dumps(
        {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [diff_id]}, "config": {}}
    ).encode()
    config_digest = _push_blob(registry, repository, config)
    layer_digest = _push_blob(registry, repository, layer)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": len(config),
            },
            "layers": [
                {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer_digest, "size": len(layer)}
            ],
        }
    ).encode()
    _send(registry, "PUT", f"/v2/{repository}/manifests/v1", manifest, "application/vnd.oci.image.manifest.v1+json")
    return "sha256:" + hashlib.sha256(manifest).hexdigest()
