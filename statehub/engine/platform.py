"""What the railiance01 platform installs before this stack, made for the local node from pinned sources.

The cnpg operator from the release manifest inside its module (images pointed at the locally built ones,
the operator's CPU limit raised: 100m throttles its start on 2 shared cores); the Barman Cloud plugin
from the manifest inside its module, with the two TLS Secrets cert-manager would have made (made here
with openssl instead); CoreDNS; the platform's namespaces; and storage: k3s's `local-path` class has a
provisioner that cannot run here, so the classes the stacks name get static hostPath volumes instead.
"""

from __future__ import annotations

import base64
import copy
import subprocess
from pathlib import Path
from typing import Any

import yaml

from statehub.engine.engine_build import CNPG_VERSION
from statehub.engine.go_modules import BARMAN_MODULE, CNPG_MODULE, module_source

Manifest = dict[str, Any]
DNS_SERVICE_IP = "10.43.0.10"
PLATFORM_NAMESPACES = ("databases", "railiance-apps")
"""railiance01's platform namespaces (Pod Security restricted); cnpg-system comes with the operator."""
STORAGE_CLASSES = ("local-path", "local-path-retain")
"""Classes the committed stacks and the tests name (k3s's default, and the Retain class a stack may make)."""
VOLUMES_PER_CLASS = 8
VOLUME_SIZE = "50Gi"
"""Static volumes bind any claim up to this size; hostPath does not enforce it."""


def documents(text: str) -> list[Manifest]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def dump(manifests: list[Manifest]) -> str:
    return yaml.safe_dump_all(manifests, sort_keys=True)


def _replace_strings(value: Any, old: str, new: str) -> Any:
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, list):
        return [_replace_strings(item, old, new) for item in value]
    if isinstance(value, dict):
        return {key: _replace_strings(item, old, new) for key, item in value.items()}
    return value


def cnpg_operator(operator_image: str) -> list[Manifest]:
    release = module_source("cnpg", CNPG_MODULE) / "releases" / f"cnpg-{CNPG_VERSION}.yaml"
    upstream = f"ghcr.io/cloudnative-pg/cloudnative-pg:{CNPG_VERSION}"
    out = []
    for original in documents(release.read_text()):
        doc = _replace_strings(original, upstream, operator_image)
        if doc["kind"] == "Deployment":
            for container in doc["spec"]["template"]["spec"]["containers"]:
                container["imagePullPolicy"] = "IfNotPresent"
                container.setdefault("resources", {}).setdefault("limits", {}).update({"cpu": "1", "memory": "500Mi"})
                probe = container.get("readinessProbe")
                if probe:
                    probe["failureThreshold"] = 60
        out.append(doc)
    return out


def barman_plugin(plugin_image: str, sidecar_image: str) -> list[Manifest]:
    """The plugin's manifest without cert-manager's objects (the TLS Secrets come from `tls_secret`)."""
    manifest = module_source("barman-cloud", BARMAN_MODULE) / "manifest.yaml"
    out = []
    for doc in documents(manifest.read_text()):
        if doc["apiVersion"].startswith("cert-manager.io/"):
            continue
        if doc["kind"] == "Secret" and "SIDECAR_IMAGE" in (doc.get("data") or {}):
            doc["data"]["SIDECAR_IMAGE"] = base64.b64encode(sidecar_image.encode()).decode()
        if doc["kind"] == "Deployment":
            for container in doc["spec"]["template"]["spec"]["containers"]:
                container["image"] = plugin_image
                container["imagePullPolicy"] = "IfNotPresent"
        out.append(doc)
    return out


def tls_secret(folder: Path, name: str, common_name: str, usage: str, dns: str = "") -> Manifest:
    """A self-signed kubernetes.io/tls Secret, as cert-manager's selfsigned issuer would make it."""
    folder.mkdir(parents=True, exist_ok=True)
    extra = ["-addext", f"subjectAltName=DNS:{dns}"] if dns else []
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "30",
            "-subj",
            f"/CN={common_name}",
            *extra,
            "-addext",
            f"extendedKeyUsage={usage}",
            "-keyout",
            f"{name}.key",
            "-out",
            f"{name}.crt",
        ],
        cwd=folder,
        capture_output=True,
        check=True,
    )
    crt, key = (folder / f"{name}.crt").read_bytes(), (folder / f"{name}.key").read_bytes()
    encoded = {k: base64.b64encode(v).decode() for k, v in {"tls.crt": crt, "tls.key": key, "ca.crt": crt}.items()}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/tls",
        "metadata": {"name": name, "namespace": "cnpg-system"},
        "data": encoded,
    }


def barman_tls(folder: Path) -> list[Manifest]:
    return [
        tls_secret(folder, "barman-cloud-server-tls", "barman-cloud", "serverAuth", "barman-cloud"),
        tls_secret(folder, "barman-cloud-client-tls", "barman-cloud-client", "clientAuth"),
    ]


def namespace(name: str) -> Manifest:
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


def storage(volumes: Path) -> list[Manifest]:
    """`local-path` (no provisioner here: bound to static volumes) and static hostPath volumes per class."""
    manifests: list[Manifest] = [
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": "local-path"},
            "provisioner": "kubernetes.io/no-provisioner",
            "volumeBindingMode": "WaitForFirstConsumer",
            "reclaimPolicy": "Delete",
            "allowVolumeExpansion": False,
        }
    ]
    for class_name in STORAGE_CLASSES:
        for index in range(VOLUMES_PER_CLASS):
            path = volumes / class_name / str(index)
            manifests.append(
                {
                    "apiVersion": "v1",
                    "kind": "PersistentVolume",
                    "metadata": {"name": f"{class_name}-{index}", "labels": {"state-hub.local/class": class_name}},
                    "spec": {
                        "capacity": {"storage": VOLUME_SIZE},
                        "accessModes": ["ReadWriteOnce"],
                        "persistentVolumeReclaimPolicy": "Retain",
                        "storageClassName": class_name,
                        "hostPath": {"path": str(path), "type": "DirectoryOrCreate"},
                    },
                }
            )
    return manifests


def volume_paths(volumes: Path) -> list[Path]:
    return [volumes / class_name / str(index) for class_name in STORAGE_CLASSES for index in range(VOLUMES_PER_CLASS)]


def coredns(image: str) -> list[Manifest]:
    """Cluster DNS: the trimmed CoreDNS (no forward plugin: no name leaves the node) on 10.43.0.10, listening on
    port 53 as k3s's does (a NetworkPolicy that allows DNS names port 53 of the DNS pods): as an unprivileged
    user, with the pod's own `ip_unprivileged_port_start` at 0."""
    labels = {"k8s-app": "kube-dns"}
    corefile = (
        ".:53 {\n    errors\n    health :8080\n    ready :8181\n"
        "    kubernetes cluster.local in-addr.arpa ip6.arpa {\n        pods insecure\n"
        "        fallthrough in-addr.arpa ip6.arpa\n        ttl 30\n    }\n    cache 30\n    loop\n    loadbalance\n}\n"
    )
    meta = {"name": "coredns", "namespace": "kube-system"}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": copy.deepcopy(meta)},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "system:coredns"},
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["endpoints", "services", "pods", "namespaces"],
                    "verbs": ["list", "watch"],
                },
                {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list", "watch"]},
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "system:coredns"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:coredns"},
            "subjects": [{"kind": "ServiceAccount", "name": "coredns", "namespace": "kube-system"}],
        },
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": copy.deepcopy(meta), "data": {"Corefile": corefile}},
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {**meta, "labels": labels},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "serviceAccountName": "coredns",
                        "priorityClassName": "system-cluster-critical",
                        "dnsPolicy": "Default",
                        "securityContext": {
                            "runAsNonRoot": True,
                            "runAsUser": 65534,
                            "seccompProfile": {"type": "RuntimeDefault"},
                            "sysctls": [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}],
                        },
                        "containers": [
                            {
                                "name": "coredns",
                                "image": image,
                                "imagePullPolicy": "Never",
                                "args": ["-conf", "/etc/coredns/Corefile"],
                                "ports": [
                                    {"containerPort": 53, "protocol": "UDP", "name": "dns"},
                                    {"containerPort": 53, "protocol": "TCP", "name": "dns-tcp"},
                                ],
                                "readinessProbe": {"httpGet": {"path": "/ready", "port": 8181}, "periodSeconds": 2},
                                "livenessProbe": {"httpGet": {"path": "/health", "port": 8080}, "periodSeconds": 10},
                                "securityContext": {
                                    "allowPrivilegeEscalation": False,
                                    "capabilities": {"drop": ["ALL"]},
                                    "readOnlyRootFilesystem": True,
                                },
                                "volumeMounts": [{"name": "config", "mountPath": "/etc/coredns", "readOnly": True}],
                            }
                        ],
                        "volumes": [{"name": "config", "configMap": {"name": "coredns"}}],
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "kube-dns", "namespace": "kube-system", "labels": labels},
            "spec": {
                "clusterIP": DNS_SERVICE_IP,
                "selector": labels,
                "ports": [
                    {"name": "dns", "port": 53, "targetPort": 53, "protocol": "UDP"},
                    {"name": "dns-tcp", "port": 53, "targetPort": 53, "protocol": "TCP"},
                ],
            },
        },
    ]
