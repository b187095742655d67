"""The explicit Kubernetes provider and, where the stack owns them, the namespaces."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.labels import Owner, labels
from components.settings import KubeSettings


def kubernetes_provider(kube: KubeSettings) -> k8s.Provider:
    """The one provider every Kubernetes resource uses: never the ambient default."""
    return k8s.Provider(
        f"k8s-{kube.context}",
        context=kube.context,
        kubeconfig=kube.kubeconfig,
    )


class Namespaces(pulumi.ComponentResource):
    """Namespaces with Pod Security `restricted` enforced and a default-deny ingress policy.

    Created only where the stack owns them (dev); on railiance01 the platform owns them.
    """

    def __init__(self, name: str, namespaces: dict[str, Owner], opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("state-hub-infra:cluster:Namespaces", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.namespaces: list[k8s.core.v1.Namespace] = []
        for namespace, owner in namespaces.items():
            created = k8s.core.v1.Namespace(
                f"{name}-{namespace}",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=namespace,
                    labels={
                        **labels(owner, "namespace"),
                        "pod-security.kubernetes.io/enforce": "restricted",
                        "pod-security.kubernetes.io/enforce-version": "latest",
                        "pod-security.kubernetes.io/warn": "restricted",
                        "pod-security.kubernetes.io/audit": "restricted",
                    },
                ),
                opts=child,
            )
            k8s.networking.v1.NetworkPolicy(
                f"{name}-{namespace}-default-deny",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name="default-deny-ingress", namespace=created.metadata.name, labels=labels(owner, "network")
                ),
                spec=k8s.networking.v1.NetworkPolicySpecArgs(
                    pod_selector=k8s.meta.v1.LabelSelectorArgs(), policy_types=["Ingress"]
                ),
                opts=child,
            )
            self.namespaces.append(created)
        self.register_outputs({})
