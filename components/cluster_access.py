"""The explicit Kubernetes provider and, where the stack owns them, the namespaces."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
import pulumi_kubernetes as k8s

from statehub.policy.names import Owner, labels
from statehub.policy.settings import KubeSettings

API_ONLY_ANNOTATIONS = {
    "pulumi.com/skipAwait": "true",
    "pulumi.com/deletionPropagationPolicy": "background",
}
"""On an API server without nodes no pod ever runs and no garbage collector removes finalizers."""


def cluster_transformations(kube: KubeSettings) -> list[pulumi.ResourceTransformation]:
    """What every Kubernetes object of this stack gets: nothing on a real cluster."""
    return [_api_only] if kube.api_only_cluster else []


def _api_only(args: pulumi.ResourceTransformationArgs) -> pulumi.ResourceTransformationResult | None:
    if not args.type_.startswith("kubernetes:") or "metadata" not in args.props:
        return None
    metadata = args.props["metadata"]
    if isinstance(metadata, k8s.meta.v1.ObjectMetaArgs):
        annotations = dict(metadata.annotations or {})  # type: ignore[arg-type]
        pulumi.set(metadata, "annotations", _api_only_annotations(annotations))
    elif isinstance(metadata, dict):
        metadata = {**metadata, "annotations": _api_only_annotations(metadata.get("annotations") or {})}
    else:
        raise TypeError(f"{args.name}: metadata of type {type(metadata).__name__} cannot be annotated")
    return pulumi.ResourceTransformationResult({**args.props, "metadata": metadata}, args.opts)


def _api_only_annotations(annotations: Mapping[str, object]) -> dict[str, object]:
    return {**annotations, **API_ONLY_ANNOTATIONS}


def kubernetes_provider(kube: KubeSettings) -> k8s.Provider:
    """The one provider every Kubernetes resource uses: never the ambient default.

    Secrets and ConfigMaps are updated in place, not replaced (the provider's default): a replacement of a
    Secret with a fixed name is a delete and a create, which a retained Secret (the database owner's) turns
    into a conflict, and which leaves the app's DATABASE_URL missing for a moment. A changed one rolls the
    app's pods through their template's settings-version annotation instead."""
    return k8s.Provider(
        f"k8s-{kube.context}",
        context=kube.context,
        kubeconfig=kube.kubeconfig,
        enable_secret_mutable=True,
        enable_config_map_mutable=True,
    )


class StateHubNamespaces(pulumi.ComponentResource):
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
