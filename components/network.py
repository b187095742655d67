"""Building blocks of the NetworkPolicies: who (namespace, optionally pods) and which ports."""

from __future__ import annotations

import pulumi_kubernetes as k8s


def peer(namespace: str, pods: dict[str, str] | None = None) -> k8s.networking.v1.NetworkPolicyPeerArgs:
    """Pods of `namespace` (all of them, or those matching `pods`)."""
    return k8s.networking.v1.NetworkPolicyPeerArgs(
        namespace_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={"kubernetes.io/metadata.name": namespace}),
        pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=pods) if pods else None,
    )


def ports(*numbers: int, protocol: str = "TCP") -> list[k8s.networking.v1.NetworkPolicyPortArgs]:
    return [k8s.networking.v1.NetworkPolicyPortArgs(port=n, protocol=protocol) for n in numbers]
