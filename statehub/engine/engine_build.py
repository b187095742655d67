"""Build the real Pulumi engine, a Kubernetes control plane and a node from the Go module proxy; cache them.

No release binaries can be downloaded here, but Go modules can. `engine/` holds one small wrapper
module per upstream module (its own go.mod pinning the version, the `replace` lines the upstream
go.mod needs, and a minimal main where upstream's can't be built as a dependency). The binaries go
to `~/.cache/state-hub-infra/engine/<key>/bin`, where `<key>` is a hash of the wrapper modules and
the Go version: change a pin and the next build goes to a new folder.

Two groups: the engine tier's (the Pulumi CLI, the Kubernetes provider, etcd, kube-apiserver) and the
pods tier's (kubelet, the controllers, kube-proxy, kubectl, CoreDNS, the cnpg operator and its kubectl
plugin, the Barman Cloud plugin, kube-router).

The Python language host (`sdk/python/cmd/pulumi-language-python/v3`) and `pulumi-resource-random`
are not served by the proxy; the engine tier drives the program through the Automation API (no
language host needed) and sets `dbOwnerPassword` instead of generating one.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from statehub.engine.go_modules import BARMAN_MODULE, CNPG_MODULE, ENGINE_DIR, GoModuleError, go, module_source

CACHE_ROOT = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "state-hub-infra" / "engine"
MANIFEST = "manifest.json"

PULUMI_VERSION = "3.274.1"
KUBERNETES_PROVIDER_VERSION = "4.25.0"
"""The pseudo-version of pulumi-kubernetes' tag v4.25.0 is the newest provider module served."""
KUBERNETES_VERSION = "1.34.3"
ETCD_VERSION = "3.6.5"
CNPG_VERSION = "1.30.0"
BARMAN_CLOUD_VERSION = "0.14.0"
COREDNS_VERSION = "1.15.0"
KUBE_ROUTER_VERSION = "2.1.0"
"""The only version the proxy serves; security flaws are reported for it: a local test enforcer only."""
_K8S_LDFLAGS = (
    f"-X k8s.io/component-base/version.gitVersion=v{KUBERNETES_VERSION} -X k8s.io/component-base/version.gitMajor=1 "
    f"-X k8s.io/component-base/version.gitMinor={KUBERNETES_VERSION.split('.')[1]} "
    "-X k8s.io/component-base/version.gitTreeState=clean"
)
"""Without them every component says v0.0.0-master (and cnpg reads the server's version)."""
_CNPG_LDFLAGS = f"-X {CNPG_MODULE}/pkg/versions.buildVersion={CNPG_VERSION}"


class EngineBuildError(Exception):
    """A tool is missing or a build failed; the message names what and how to fix it."""


@dataclass(frozen=True)
class Binary:
    name: str
    module_dir: str
    """Wrapper module under engine/."""
    package: str
    """What `go build` builds inside that module."""
    version: str
    ldflags: str = ""
    group: str = "engine"
    """engine: the engine tier's; pods: the node's (the pods tier)."""


BINARIES = (
    Binary(
        "pulumi",
        "pulumi",
        "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi",
        PULUMI_VERSION,
        f"-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v{PULUMI_VERSION}",
    ),
    Binary(
        "pulumi-resource-kubernetes",
        "kubernetes-provider",
        "./cmd/pulumi-resource-kubernetes",
        KUBERNETES_PROVIDER_VERSION,
        f"-X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version={KUBERNETES_PROVIDER_VERSION}",
    ),
    Binary("etcd", "etcd", "./cmd/etcd", ETCD_VERSION),
    Binary("kube-apiserver", "kubernetes", "k8s.io/kubernetes/cmd/kube-apiserver", KUBERNETES_VERSION, _K8S_LDFLAGS),
    *(
        Binary(name, "kubernetes", f"k8s.io/kubernetes/cmd/{name}", KUBERNETES_VERSION, _K8S_LDFLAGS, "pods")
        for name in ("kubelet", "kube-controller-manager", "kube-scheduler", "kube-proxy", "kubectl")
    ),
    Binary("coredns", "coredns", "./cmd/coredns", COREDNS_VERSION, group="pods"),
    Binary("manager", "cnpg", f"{CNPG_MODULE}/cmd/manager", CNPG_VERSION, _CNPG_LDFLAGS, "pods"),
    Binary("kubectl-cnpg", "cnpg", f"{CNPG_MODULE}/cmd/kubectl-cnpg", CNPG_VERSION, _CNPG_LDFLAGS, "pods"),
    Binary("barman-cloud-manager", "barman-cloud", f"{BARMAN_MODULE}/cmd/manager", BARMAN_CLOUD_VERSION, group="pods"),
    Binary(
        "kube-router",
        "kube-router",
        "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router",
        KUBE_ROUTER_VERSION,
        group="pods",
    ),
)
GROUPS = ("engine", "pods")


@dataclass(frozen=True)
class Built:
    """One binary in the cache, as recorded when it was built."""

    name: str
    version: str
    seconds: float
    """Wall time of its `go build` on this machine (0 when it came from the cache)."""
    size_bytes: int


Progress = Callable[[str], None]


def _go() -> str:
    try:
        return go()
    except GoModuleError as error:
        raise EngineBuildError(str(error)) from None


def go_version() -> str:
    return subprocess.run([_go(), "env", "GOVERSION"], capture_output=True, text=True, check=True).stdout.strip()


def cache_key() -> str:
    """Hash of every wrapper module file and the Go version: a new pin builds into a new folder."""
    digest = hashlib.sha256(go_version().encode())
    digest.update(repr(BINARIES).encode())  # what is built from them, and with which flags
    for path in sorted(ENGINE_DIR.rglob("*")):
        if path.is_file() and path.suffix in (".mod", ".sum", ".go"):
            digest.update(str(path.relative_to(ENGINE_DIR)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


BIN_DIR_ENV = "STATE_HUB_ENGINE_BIN"
"""Overrides the cache: a folder with the same binaries and manifest.json (tools built elsewhere)."""


def bin_dir() -> Path:
    override = os.environ.get(BIN_DIR_ENV)
    return Path(override) if override else CACHE_ROOT / cache_key() / "bin"


def pulumi_home(directory: Path) -> Path:
    """PULUMI_HOME with the built provider installed as a plugin, as `pulumi plugin install` leaves it
    on an operator's machine (a provider found on PATH instead draws a warning on every run)."""
    home = directory.parent / "pulumi-home"
    installed = home / "plugins" / f"resource-kubernetes-v{KUBERNETES_PROVIDER_VERSION}"
    if not installed.is_dir():
        subprocess.run(
            [
                str(directory / "pulumi"),
                "plugin",
                "install",
                "resource",
                "kubernetes",
                KUBERNETES_PROVIDER_VERSION,
                "--file",
                str(directory / "pulumi-resource-kubernetes"),
            ],
            env={**os.environ, "PULUMI_HOME": str(home), "PULUMI_SKIP_UPDATE_CHECK": "true"},
            capture_output=True,
            check=True,
        )
    return home


def built_binaries(directory: Path) -> dict[str, Built]:
    manifest = directory / MANIFEST
    if not manifest.is_file():
        return {}
    recorded = {entry["name"]: Built(**entry) for entry in json.loads(manifest.read_text())}
    return {name: built for name, built in recorded.items() if (directory / name).is_file()}


def missing(directory: Path, group: str = "engine") -> list[str]:
    have = built_binaries(directory)
    return [binary.name for binary in BINARIES if binary.group == group and binary.name not in have]


def build_all(progress: Progress, groups: tuple[str, ...] = GROUPS) -> Path:
    """Build what the cache lacks of `groups` (idempotent); returns the bin folder."""
    directory = bin_dir()
    directory.mkdir(parents=True, exist_ok=True)
    have = built_binaries(directory)
    for binary in BINARIES:
        if binary.group not in groups:
            continue
        if binary.name in have:
            progress(f"{binary.name} {binary.version}: cached")
            continue
        progress(f"{binary.name} {binary.version}: building (go build {binary.package})")
        have[binary.name] = _build(binary, directory)
        built = have[binary.name]
        progress(f"{binary.name} {binary.version}: built in {built.seconds:.0f} s, {built.size_bytes / 2**20:.0f} MiB")
        _write_manifest(directory, have)
    pulumi_home(directory)
    return directory


def _write_manifest(directory: Path, built: dict[str, Built]) -> None:
    entries = [asdict(built[b.name]) for b in BINARIES if b.name in built]
    (directory / MANIFEST).write_text(json.dumps(entries, indent=2) + "\n")


def _build(binary: Binary, directory: Path) -> Built:
    module = ENGINE_DIR / binary.module_dir
    if binary.name == "pulumi-resource-kubernetes":
        _write_provider_embeds(module)
    target = directory / binary.name
    partial = target.with_name(target.name + ".partial")
    env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-buildvcs=false"}
    command = [_go(), "build", "-trimpath", "-o", str(partial)]
    if binary.ldflags:
        command += ["-ldflags", binary.ldflags]
    started = time.monotonic()
    result = subprocess.run(
        [*command, binary.package], cwd=module, env=env, capture_output=True, text=True, check=False
    )
    seconds = time.monotonic() - started
    if result.returncode != 0:
        partial.unlink(missing_ok=True)
        tail = " | ".join(result.stderr.strip().splitlines()[-3:])
        raise EngineBuildError(f"building {binary.name} failed in engine/{binary.module_dir}: {tail}")
    partial.replace(target)
    return Built(binary.name, binary.version, round(seconds, 1), target.stat().st_size)


def _write_provider_embeds(module: Path) -> None:
    """The two files upstream's `go generate` makes: the schema with the version stamped in, and the mapping."""
    source = (
        module_source(module.name, "github.com/pulumi/pulumi-kubernetes/provider/v4") / "cmd/pulumi-resource-kubernetes"
    )
    target = module / "cmd/pulumi-resource-kubernetes"
    schema = json.loads((source / "schema.json").read_text())
    schema["version"] = KUBERNETES_PROVIDER_VERSION
    (target / "schema-embed.json").write_text(json.dumps(schema, separators=(",", ":")))
    mapping = json.loads((source / "terraform-mapping.json").read_text())
    (target / "terraform-mapping-embed.json").write_text(json.dumps(mapping, separators=(",", ":")))
