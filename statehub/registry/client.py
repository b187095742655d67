"""Ask a registry over the OCI distribution API whether it serves `/v2/` and holds a pinned manifest.

Every failure is explained the way an operator needs it: 404 on `/v2/` means no registry is
served at that address (e.g. Gitea's package registry not enabled), 401 means credentials,
404 on the manifest means that digest was never pushed to that repository.
"""

from __future__ import annotations

import base64
import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from statehub.policy.image_ref import ImageRef
from statehub.policy.report import Report

MANIFEST_TYPES = ", ".join(
    (
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
)
_DOCKER_HUB_API = "registry-1.docker.io"
_LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str

    def basic(self) -> str:
        return "Basic " + base64.b64encode(f"{self.username}:{self.password}".encode()).decode()


@dataclass(frozen=True)
class Step:
    name: str
    ok: bool
    status: int | None
    explanation: str

    def as_dict(self) -> dict[str, Any]:
        return {"step": self.name, "ok": self.ok, "status": self.status, "explanation": self.explanation}


@dataclass(frozen=True)
class Answer:
    status: int | None
    headers: dict[str, str]
    body: bytes
    error: str | None = None


def default_scheme(ref: ImageRef) -> str:
    """Plain HTTP only for a registry on this machine (as Docker allows); HTTPS everywhere else."""
    return "http" if urllib.parse.urlsplit(f"//{ref.registry}").hostname in _LOCAL_HOSTS else "https"


def _request(method: str, url: str, headers: dict[str, str], timeout: float) -> Answer:
    request = urllib.request.Request(url, method=method, headers=headers)  # noqa: S310 - http(s) URL built here
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=ssl.create_default_context()) as response:  # noqa: S310
            return Answer(response.status, {k.lower(): v for k, v in response.headers.items()}, response.read())
    except urllib.error.HTTPError as error:
        return Answer(error.code, {k.lower(): v for k, v in error.headers.items()}, error.read())
    except (urllib.error.URLError, TimeoutError, ConnectionError, ssl.SSLError) as error:
        reason = getattr(error, "reason", error)
        return Answer(None, {}, b"", str(reason))


def _challenge(header: str) -> tuple[str, dict[str, str]]:
    scheme, _, rest = header.partition(" ")
    pairs = (part.partition("=") for part in rest.split(","))
    params = {key.strip(): value.strip().strip('"') for key, _, value in pairs if key.strip()}
    return scheme.lower(), params


class RegistryClient:
    """One registry, with the authorisation its `/v2/` challenge asks for."""

    def __init__(self, ref: ImageRef, credentials: Credentials | None, *, scheme: str, timeout: float = 10) -> None:
        host = _DOCKER_HUB_API if ref.registry == "docker.io" else ref.registry
        self.base = f"{scheme}://{host}"
        self.ref = ref
        self.credentials = credentials
        self.timeout = timeout
        self.authorization: str | None = None

    def get(self, path: str, *, method: str = "GET", accept: str | None = None) -> Answer:
        headers = {"Accept": accept} if accept else {}
        if self.authorization:
            headers["Authorization"] = self.authorization
        return _request(method, self.base + path, headers, self.timeout)

    def authorize(self, challenge: str, scope: str) -> str | None:
        """Answer a 401 challenge; returns a problem, or None when authorised."""
        if self.credentials is None:
            return "the registry wants credentials: pass --username and set REGISTRY_PASSWORD"
        scheme, params = _challenge(challenge)
        if scheme == "basic":
            self.authorization = self.credentials.basic()
            return None
        if scheme != "bearer" or "realm" not in params:
            return f"the registry asks for an authentication scheme this check does not speak ({challenge})"
        query = {"scope": scope, **({"service": params["service"]} if "service" in params else {})}
        token_url = f"{params['realm']}?{urllib.parse.urlencode(query)}"
        answer = _request("GET", token_url, {"Authorization": self.credentials.basic()}, self.timeout)
        if answer.status != 200:
            return f"the token service {params['realm']} refused the credentials (HTTP {answer.status or answer.error})"
        token = json.loads(answer.body or b"{}")
        self.authorization = f"Bearer {token.get('token') or token.get('access_token')}"
        return None


def check_registry(ref: ImageRef, credentials: Credentials | None, *, scheme: str) -> list[Step]:
    """The steps of the check in order; the first failing step ends it."""
    client = RegistryClient(ref, credentials, scheme=scheme)
    where = f"{client.base}/v2/"
    answer = client.get("/v2/")
    steps: list[Step] = []
    if answer.status is None:
        hint = (
            " (is it plain HTTP? then pass --plain-http)" if scheme == "https" and "SSL" in (answer.error or "") else ""
        )
        return [Step("api", False, None, f"nothing answers at {where}: {answer.error}{hint}")]
    if answer.status == 401:
        problem = client.authorize(answer.headers.get("www-authenticate", ""), f"repository:{ref.path}:pull")
        if problem:
            return [Step("api", False, 401, problem)]
        answer = client.get("/v2/")
        if answer.status == 401:
            user = credentials.username if credentials else ""
            return [
                Step(
                    "api",
                    False,
                    401,
                    f"the registry at {where} refused the credentials of {user!r}: check --username and "
                    "REGISTRY_PASSWORD",
                )
            ]
    if answer.status == 404:
        return [
            Step(
                "api",
                False,
                404,
                f"no registry is served at {where} (HTTP 404): the host answers but not the OCI distribution API; "
                "check the address and port, and that the registry (e.g. Gitea packages) is enabled",
            )
        ]
    if answer.status != 200:
        return [Step("api", False, answer.status, f"{where} answered HTTP {answer.status}, not 200")]
    steps.append(Step("api", True, 200, f"{where} serves the OCI distribution API"))
    steps.append(_manifest_step(client, ref))
    return steps


def _manifest_step(client: RegistryClient, ref: ImageRef) -> Step:
    digest = ref.digest or ""
    answer = client.get(f"/v2/{ref.path}/manifests/{digest}", method="HEAD", accept=MANIFEST_TYPES)
    if answer.status == 200:
        served = answer.headers.get("docker-content-digest", digest)
        if served != digest:
            return Step("manifest", False, 200, f"the registry serves {served} for {digest}: not the pinned image")
        return Step("manifest", True, 200, f"{ref.path}@{digest} exists ({answer.headers.get('content-type', '?')})")
    if answer.status == 404:
        return Step(
            "manifest",
            False,
            404,
            f"{ref.path}@{digest} was never pushed to {ref.registry}: run stage image (or push it) "
            "and copy its imageRef",
        )
    if answer.status in (401, 403):
        return Step("manifest", False, answer.status, f"no pull access to {ref.path}: check the user's permissions")
    return Step("manifest", False, answer.status, f"HTTP {answer.status or answer.error} for the manifest")


def registry_report(ref: ImageRef, credentials: Credentials | None, *, scheme: str) -> Report:
    """The `registry-check` evidence: the registry answers the distribution API and holds `ref`'s digest (stage
    empty reads it: the image it names must be the configured one)."""
    steps = check_registry(ref, credentials, scheme=scheme)
    found = len(steps) == 2 and all(step.ok for step in steps)
    details = {"image": str(ref), "registry": ref.registry, "scheme": scheme, "steps": [s.as_dict() for s in steps]}
    return Report(kind="registry-check", result="pass" if found else "fail", details=details)
