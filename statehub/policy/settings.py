"""Typed, frozen settings of one stack, and the one loader that builds them from config.

Defaults live in `Pulumi.yaml` only (the CLI applies them; the offline runner merges them
the same way), so a key read here without a value is a key with no safe default.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from statehub.policy.backup_settings import BackupSettings, load_backup_settings
from statehub.policy.config_reader import DNS_LABEL as _DNS_LABEL
from statehub.policy.config_reader import ConfigGetter, ConfigReader
from statehub.policy.evidence_settings import EvidenceSettings, load_evidence_settings
from statehub.policy.image_ref import ImageRef, parse_image_ref
from statehub.policy.refusal import SettingsError

if TYPE_CHECKING:
    import pulumi

SecretGetter = Callable[[str], "pulumi.Output[str] | None"]

PROJECT = "state-hub-infra"
DATABASE_NAME = "state_hub"
DATABASE_OWNER = "state_hub"
CLUSTER_NAME = "state-hub-db"
OWNER_SECRET_NAME = f"{CLUSTER_NAME}-owner"
"""The database owner's credentials (basic-auth): the live Cluster's initdb and the recovery drill read it."""
RECOVERY_DRILL_NAME = f"{CLUSTER_NAME}-recovery-drill"
"""A Cluster of its own name: the recovery drill never touches the live Cluster."""
OBJECT_STORE_NAME = f"{CLUSTER_NAME}-backups"
"""The Barman Cloud ObjectStore of state-hub-db (the plugin's `barmanObjectName`)."""
"""Fixed: every name the operator derives (`state-hub-db-rw`, PVCs) hangs on it."""
DATABASE_SSLMODE = "require"
"""The app's `sslmode`: cnpg serves TLS with its own CA. Not verify-full: that CA (`state-hub-db-ca`) lives in the
database's namespace, and a pod mounts Secrets of its own namespace only."""
CLIENT_HBA = (
    "host all all 127.0.0.1/32 scram-sha-256",
    "host all all ::1/128 scram-sha-256",
    "hostnossl all all all reject",
)
"""cnpg's user-defined pg_hba rules (before its default `host all all all`): a client that reaches the database
over the network must speak TLS; only `kubectl port-forward`, which arrives inside the pod on localhost and
already rides TLS to the API server and kubelet (TLS through it resets the forward), may come without."""


class Stage(StrEnum):
    IMAGE = "image"
    EMPTY = "empty"
    RESTORE = "restore"
    VERIFY = "verify"
    CUTOVER = "cutover"
    STABILISE = "stabilise"

    @property
    def rank(self) -> int:
        return list(Stage).index(self)

    def reaches(self, other: Stage) -> bool:
        """True when this stage includes `other` (stages are cumulative)."""
        return self.rank >= other.rank


class Endpoint(StrEnum):
    WSL2 = "wsl2"
    CLUSTER = "cluster"


class TargetRole(StrEnum):
    """What a compare report says its target database is: the gates accept only `cluster` (state-hub-db)."""

    CLUSTER = "cluster"
    WORKSTATION = "workstation"
    """A copy on the workstation (a real source's rehearsal copy, the refreshed fallback)."""
    THROWAWAY = "throwaway"
    """The drill's isolated PostgreSQL."""


class Exposure(StrEnum):
    CLUSTER_INTERNAL = "cluster-internal"
    PRIVATE_INGRESS = "private-ingress"


REFUSED_EXPOSURES = {
    "loadbalancer": "a LoadBalancer Service would publish the API on the node's addresses",
    "nodeport": "a NodePort Service would open the API on every node address",
    "public-ingress": "a public Ingress would put the agents' memory on the open network",
}


@dataclass(frozen=True)
class Resources:
    """Requests and limits of one container."""

    cpu_request: str
    cpu_limit: str
    memory_request: str
    memory_limit: str


@dataclass(frozen=True)
class KubeSettings:
    context: str
    """kubeconfig context the explicit provider talks to."""
    kubeconfig: str | None
    """kubeconfig path; None means the ambient one."""
    create_namespaces: bool
    """True only where this stack owns the namespaces (dev)."""
    api_only_cluster: bool
    """An API server without nodes (tests, `scripts/local_cluster.py`): nothing would ever become
    ready, so readiness awaits are skipped and deletes go to the background."""


@dataclass(frozen=True)
class Namespaces:
    database: str
    app: str
    operator: str
    dns: str
    ingress_controller: str
    monitoring: str | None = None
    """Where the platform's Prometheus runs: it may scrape cnpg's metrics port (9187); None: nobody may."""


@dataclass(frozen=True)
class DatabaseSettings:
    instances: int
    image_name: str
    """Pinned PostgreSQL image; its tag starts with the major."""
    postgres_major: int
    major_upgrade: str | None
    """The recorded decision to move to a new major (`17->18`), which a major change needs."""
    storage_size: str
    storage_class: str
    resources: Resources
    storage_expandable: bool
    """The class can grow a bound volume (`allowVolumeExpansion`); k3s's local-path cannot."""
    retain_storage_class: bool
    """The volumes go on a StorageClass with reclaimPolicy Retain that this stack creates (named
    `storage_class`): deleting a PVC then leaves the data on the node instead of wiping it."""
    parameters: tuple[tuple[str, str], ...]
    """postgresql.conf parameters, values as strings (cnpg wants strings)."""
    superuser_access: bool
    """cnpg creates the `postgres` login and its Secret `state-hub-db-superuser`: only for the rollback
    window, where freezing state-hub-db needs a superuser (the owner cannot lock itself out and back in)."""
    owner_password: pulumi.Output[str] | None
    """A Pulumi secret (config key dbOwnerPassword); None: the program generates one."""
    locale: str | None
    """Collation and ctype of the database, fixed at initdb (the WSL2 database's); None until decided."""
    extensions: tuple[str, ...] = ()
    """Extensions cnpg creates in state_hub (a `Database` resource): the WSL2 database's, which the owner, not
    a superuser, could not create during the restore."""


@dataclass(frozen=True)
class AppSettings:
    image: ImageRef | None
    """The image to run; None until one is given (stage image builds it)."""
    pull_secrets: tuple[str, ...]
    """Secrets in the app namespace the kubelet uses to pull the image (a private registry)."""
    replicas: int
    resources: Resources
    log_level: str
    held_for_final_copy: bool
    """Stage verify: the app at 0 while the final copy empties and refills state-hub-db (config finalCopy)."""


@dataclass(frozen=True)
class ExposureSettings:
    model: Exposure
    access_namespaces: tuple[str, ...]
    """Namespaces whose pods may reach the API on 8000."""
    hostname: str | None
    ingress_class: str | None
    allow_cidrs: tuple[str, ...]
    port_forward: bool
    """The workstation reaches the API through `kubectl port-forward` to the front door (127.0.0.1:8000)."""

    @property
    def client_path(self) -> bool:
        """Some client outside the app namespace can reach the API once clients are sent to the cluster."""
        return self.model is Exposure.PRIVATE_INGRESS or bool(self.access_namespaces) or self.port_forward


@dataclass(frozen=True)
class BuildSettings:
    """How the image is built and pushed: at stage image without a prebuilt image, and at any later
    stage whenever `imageContext` is set (the app keeps running `image` until the new ref is copied there)."""

    registry: str | None
    """Open decision: the registry host; None until decided."""
    username: str | None
    password: pulumi.Output[str] | None
    """A Pulumi secret (config key registryPassword)."""
    context: str | None
    dockerfile: str
    revision: str | None
    platform: str
    """`os/arch` of the built image: the cluster's nodes (railiance01: linux/amd64)."""


@dataclass(frozen=True)
class FrontDoorSettings:
    """The stable Service clients use, and the WSL2 fallback it can route to."""

    wsl2_address: str | None
    """IP address of the workstation's State Hub as the cluster reaches it; None once retired."""
    wsl2_port: int
    retire_fallback: bool
    """Stage stabilise only, and only with the recorded fallbackRetirement decision."""


@dataclass(frozen=True)
class Settings:
    stage: Stage
    endpoint: Endpoint
    kube: KubeSettings
    namespaces: Namespaces
    database: DatabaseSettings
    app: AppSettings
    exposure: ExposureSettings
    build: BuildSettings
    front_door: FrontDoorSettings
    evidence: EvidenceSettings
    backup: BackupSettings | None
    """Stage stabilise only: backups with the Barman Cloud plugin."""


def load_settings(get: ConfigGetter, get_secret: SecretGetter) -> Settings:
    """Build the settings of a stack from its raw config values, or raise `SettingsError`.

    `get` returns plain values, `get_secret` Pulumi secrets or None when unset (registryPassword,
    dbOwnerPassword).
    """
    read = ConfigReader(get)
    stage = Stage(read.choice("stage", list(Stage), needed_for="every stage"))
    return Settings(
        stage=stage,
        endpoint=Endpoint(read.choice("endpoint", list(Endpoint), needed_for="every stage")),
        kube=KubeSettings(
            context=read.string("kubeContext", example="railiance01", needed_for="every stage"),
            kubeconfig=read.optional_string("kubeconfig"),
            create_namespaces=read.boolean("createNamespaces"),
            api_only_cluster=read.boolean("apiOnlyCluster"),
        ),
        namespaces=Namespaces(
            database=read.namespace("dbNamespace", example="databases"),
            app=read.namespace("appNamespace", example="railiance-apps"),
            operator=read.namespace("operatorNamespace", example="cnpg-system"),
            dns=read.namespace("dnsNamespace", example="kube-system"),
            ingress_controller=read.namespace("ingressControllerNamespace", example="kube-system"),
            monitoring=read.optional_namespace("monitoringNamespace", example="monitoring"),
        ),
        database=_database(read, get_secret("dbOwnerPassword"), stage),
        app=AppSettings(
            image=_image(read),
            pull_secrets=tuple(
                _checked_name("imagePullSecrets", name, "state-hub-registry", array=True)
                for name in read.string_list("imagePullSecrets", example="state-hub-registry")
            ),
            replicas=read.integer("appReplicas", example="1", minimum=0, maximum=10),
            resources=_resources(read, "app"),
            log_level=read.choice("appLogLevel", ["info", "debug", "warning", "error"], needed_for="every stage"),
            held_for_final_copy=read.boolean("finalCopy"),
        ),
        exposure=_exposure(read, stage),
        build=BuildSettings(
            registry=read.optional_string("registry"),
            username=read.optional_string("registryUsername"),
            password=get_secret("registryPassword"),
            context=read.optional_string("imageContext"),
            dockerfile=read.string("imageDockerfile", example="Dockerfile", needed_for="stage image"),
            revision=read.optional_string("imageRevision"),
            platform=_platform(read),
        ),
        front_door=_front_door(read, stage),
        evidence=load_evidence_settings(read),
        backup=_backup(read, stage),
    )


def _resources(read: ConfigReader, prefix: str) -> Resources:
    return Resources(
        cpu_request=read.quantity(f"{prefix}CpuRequest", example="250m"),
        cpu_limit=read.quantity(f"{prefix}CpuLimit", example="1"),
        memory_request=read.quantity(f"{prefix}MemoryRequest", example="512Mi"),
        memory_limit=read.quantity(f"{prefix}MemoryLimit", example="1Gi"),
    )


_DB_IMAGE_EXAMPLE = "ghcr.io/cloudnative-pg/postgresql:17.6-standard-trixie@sha256:<64 hex digits>"
_DNS_SUBDOMAIN = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$")
_PLATFORM = re.compile(r"^[a-z0-9]+/[a-z0-9_]+(/v[0-9]+)?$")


def _backup(read: ConfigReader, stage: Stage) -> BackupSettings | None:
    if stage.reaches(Stage.STABILISE):
        return load_backup_settings(read)
    rebuild = read.optional_string("rebuildFromBackup")
    if rebuild is not None:
        raise SettingsError(
            "rebuildFromBackup",
            rebuild,
            f"a rebuild from the store needs the store, which stage stabilise renders (this is {stage.value})",
            "state-hub-db (docs/runbook.md, 'Rebuilding state-hub-db from the store')",
        )
    return None


_LOCALE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z0-9-]+)?(@[A-Za-z0-9]+)?$")
_LOCALE_EXAMPLE = "en_US.utf8 (the drill report's source_locale)"


def _locale(read: ConfigReader, stage: Stage) -> str | None:
    raw = read.optional_string("dbLocale")
    if raw is None:
        if stage.reaches(Stage.EMPTY):
            raise SettingsError(
                "dbLocale",
                None,
                "state-hub-db's locale is fixed when cnpg runs initdb at stage empty, and must be the WSL2 "
                "database's (the drill report says it as source_locale)",
                _LOCALE_EXAMPLE,
            )
        return None
    if not _LOCALE.match(raw):
        raise SettingsError("dbLocale", raw, "it is not a locale name (language_TERRITORY.codeset)", _LOCALE_EXAMPLE)
    return raw


def _database(read: ConfigReader, owner_password: pulumi.Output[str] | None, stage: Stage) -> DatabaseSettings:
    image_name = read.string("dbImageName", example=_DB_IMAGE_EXAMPLE, needed_for="every stage")
    ref = parse_image_ref(image_name)
    major_text = (ref.tag or "").split(".", 1)[0] if ref else ""
    if ref is None or not major_text.isdigit():
        raise SettingsError(
            "dbImageName", image_name, "pin a tag that starts with the PostgreSQL major", _DB_IMAGE_EXAMPLE
        )
    if not ref.pinned:
        raise SettingsError(
            "dbImageName",
            image_name,
            "pin it by digest too: cnpg's tags are rebuilt weekly, and a rescheduled pod would run other bytes",
            _DB_IMAGE_EXAMPLE,
        )
    if "-system-" in f"{ref.tag}-":
        raise SettingsError(
            "dbImageName",
            image_name,
            "the system flavour exists only for the deprecated in-tree Barman; backups use the Barman Cloud "
            "plugin, so take the standard flavour",
            _DB_IMAGE_EXAMPLE,
        )
    major = int(major_text)
    if major < 13:
        raise SettingsError("dbImageName", image_name, "cnpg supports PostgreSQL 13 and later", _DB_IMAGE_EXAMPLE)
    parameters = read.string_map("dbParameters", example="max_connections: '100' (in the stack file)")
    return DatabaseSettings(
        instances=read.integer("dbInstances", example="1", minimum=1, maximum=5),
        image_name=image_name,
        postgres_major=major,
        major_upgrade=read.optional_string("dbMajorUpgrade"),
        storage_size=read.quantity("dbStorageSize", example="10Gi"),
        storage_class=_checked_name(
            "dbStorageClass",
            read.string("dbStorageClass", example="local-path", needed_for="every stage"),
            "local-path",
        ),
        storage_expandable=read.boolean("dbStorageExpandable"),
        retain_storage_class=read.boolean("dbRetainStorageClass"),
        resources=_resources(read, "db"),
        parameters=tuple(sorted(parameters.items())),
        superuser_access=read.boolean("dbSuperuserAccess"),
        owner_password=owner_password,
        locale=_locale(read, stage),
        extensions=tuple(_checked_extension(name) for name in read.string_list("dbExtensions", example="pg_trgm")),
    )


_EXTENSION = re.compile(r"^[a-z_][a-z0-9_-]{0,62}$")


def _checked_extension(name: str) -> str:
    if not _EXTENSION.match(name) or name == "plpgsql":
        why = "plpgsql is always there" if name == "plpgsql" else "it is not an extension name (a-z, 0-9, _ and -)"
        raise SettingsError("dbExtensions", name, why, "pg_trgm (the drill report's source_extensions)", array=True)
    return name


def _image(read: ConfigReader) -> ImageRef | None:
    raw = read.optional_string("image")
    if raw is None:
        return None
    ref = parse_image_ref(raw)
    if ref is None:
        raise SettingsError(
            "image", raw, "it is not an image reference", "registry.example:5000/state-hub@sha256:<64 hex digits>"
        )
    return ref


def _exposure(read: ConfigReader, stage: Stage) -> ExposureSettings:
    raw = read.optional_string("exposure")
    if raw is not None and raw.lower() in REFUSED_EXPOSURES:
        raise SettingsError(
            "exposure", raw, f"refused: {REFUSED_EXPOSURES[raw.lower()]}", Exposure.CLUSTER_INTERNAL.value
        )
    access = tuple(_checked_namespace(name) for name in read.string_list("accessNamespaces", example="tailscale"))
    port_forward = read.boolean("clientPortForward")
    if raw is None and not stage.reaches(Stage.EMPTY):
        return ExposureSettings(Exposure.CLUSTER_INTERNAL, access, None, None, (), port_forward)
    model = Exposure(read.choice("exposure", list(Exposure), needed_for=f"stage {Stage.EMPTY.value} and later"))
    if model is Exposure.CLUSTER_INTERNAL:
        return ExposureSettings(model, access, None, None, (), port_forward)
    needed = "exposure private-ingress"
    hostname = read.string("hostname", example="state-hub.railiance.internal", needed_for=needed)
    if not _DNS_SUBDOMAIN.match(hostname) or hostname.replace(".", "").isdigit():
        raise SettingsError(
            "hostname",
            hostname,
            "it is not an RFC 1123 host name (lowercase labels of a-z, 0-9 and -)",
            "state-hub.railiance.internal",
        )
    ingress_class = read.string("ingressClassName", example="traefik-private", needed_for=needed)
    cidrs = read.string_list("ingressAllowCidrs", example="100.64.0.0/10")
    if not cidrs:
        raise SettingsError(
            "ingressAllowCidrs", None, f"an allow-list is needed for {needed}", "100.64.0.0/10", array=True
        )
    cluster_ranges = _cluster_ranges(read)
    for cidr in cidrs:
        _check_private_cidr(cidr, cluster_ranges)
    return ExposureSettings(model, access, hostname, ingress_class, cidrs, port_forward)


def _cluster_ranges(read: ConfigReader) -> dict[str, ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """The cluster's own pod and Service ranges (k3s's defaults unless the stack says otherwise)."""
    return {
        key: _cidr(key, read.string(key, example=example, needed_for="every stage"), example)
        for key, example in (("clusterPodCidr", "10.42.0.0/16"), ("clusterServiceCidr", "10.43.0.0/16"))
    }


_ALLOW_EXAMPLE = "100.64.0.0/10"
DOCUMENTATION_RANGES = ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
"""RFC 5737 / RFC 3849: addresses for examples only; one in a stack file is a placeholder nobody replaced."""
IPV4_CARRYING_RANGES = {
    "::ffff:0:0/96": "IPv4-mapped IPv6",
    "64:ff9b::/96": "NAT64",
    "2001::/32": "Teredo",
    "2002::/16": "6to4",
}
"""IPv6 ranges that embed IPv4 addresses: Go's `net.IPNet` (Traefik's allow-list) matches IPv4 clients
against some of them, so listing one would admit addresses nobody meant to list."""


def _cidr(key: str, text: str, example: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise SettingsError(key, text, "it is not a CIDR", example, array=key == "ingressAllowCidrs") from None


def _check_private_cidr(cidr: str, cluster_ranges: dict[str, ipaddress.IPv4Network | ipaddress.IPv6Network]) -> None:
    key = "ingressAllowCidrs"

    def refuse(problem: str) -> SettingsError:
        return SettingsError(key, cidr, problem, _ALLOW_EXAMPLE, array=True)

    network = _cidr(key, cidr, _ALLOW_EXAMPLE)
    if network.version == 6:
        for carrier, what in IPV4_CARRYING_RANGES.items():
            if network.overlaps(ipaddress.IPv6Network(carrier)):
                raise refuse(f"it overlaps {carrier} ({what}), which can admit IPv4 clients; list IPv4 ranges as such")
    for range_key, cluster_range in cluster_ranges.items():
        if network.version == cluster_range.version and network.overlaps(cluster_range):
            raise refuse(
                f"it overlaps the cluster's own {range_key} {cluster_range}: every pod (or Service) would be allowed"
            )
    cgnat = ipaddress.ip_network("100.64.0.0/10")
    private = network.is_private or network.is_loopback or (network.version == 4 and network.subnet_of(cgnat))  # type: ignore[arg-type]
    if not private or network.prefixlen == 0:
        raise refuse("only private, CGNAT (tailnet) or loopback ranges may reach a private ingress")


def _checked_name(key: str, name: str, example: str, *, array: bool = False) -> str:
    """A Kubernetes object name (RFC 1123 subdomain), e.g. a Secret or a StorageClass."""
    if not _DNS_SUBDOMAIN.match(name):
        raise SettingsError(
            key, name, "it is not a Kubernetes object name (RFC 1123: a-z, 0-9, - and .)", example, array=array
        )
    return name


def _checked_namespace(name: str) -> str:
    if not _DNS_LABEL.match(name):
        raise SettingsError(
            "accessNamespaces", name, "it is not a namespace name (a DNS label)", "tailscale", array=True
        )
    return name


def _platform(read: ConfigReader) -> str:
    raw = read.string("imagePlatform", example="linux/amd64", needed_for="building the image")
    if not _PLATFORM.match(raw):
        raise SettingsError("imagePlatform", raw, "it is not an os/arch platform", "linux/amd64")
    return raw


def _not_a_workstation(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
    cluster_ranges: dict[str, ipaddress.IPv4Network | ipaddress.IPv6Network],
) -> str | None:
    """Why the front door could never reach a workstation at `address` (None when it could)."""
    if address.is_loopback or address.is_unspecified:
        return "a loopback or unspecified address is not the workstation"
    if any(
        address in ipaddress.ip_network(r)
        for r in DOCUMENTATION_RANGES
        if ipaddress.ip_network(r).version == address.version
    ):
        return "it is a documentation (TEST-NET) address, a placeholder: set the workstation's real address"
    if address.is_link_local or address.is_multicast or address.is_reserved:
        return "a link-local, multicast or reserved address is no host the cluster can route to"
    for key, network in cluster_ranges.items():
        if address.version == network.version and address in network:
            return f"it is inside the cluster's own {key} {network}: a pod or Service, not the workstation"
    return None


def _front_door(read: ConfigReader, stage: Stage) -> FrontDoorSettings:
    retire = read.boolean("retireFallback")
    port = read.integer("wsl2Port", example="8000", minimum=1, maximum=65535)
    raw = read.optional_string("wsl2Address")
    example = "192.168.1.20 (the workstation's address as the cluster reaches it)"
    if raw is None:
        if stage.reaches(Stage.EMPTY) and not retire:
            raise SettingsError(
                "wsl2Address", None, "the front door routes to the WSL2 fallback until it is retired", example
            )
        return FrontDoorSettings(None, port, retire)
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        raise SettingsError(
            "wsl2Address", raw, "it is not an IP address (an EndpointSlice needs one)", example
        ) from None
    problem = _not_a_workstation(address, _cluster_ranges(read))
    if problem:
        raise SettingsError("wsl2Address", raw, problem, example)
    return FrontDoorSettings(str(address), port, retire)
