"""`FrontDoor`: the endpoint toggle. One stable Service that clients and the private Ingress use.

With endpoint `cluster` it selects the State Hub pods. With endpoint `wsl2` it selects none (a selector no
pod matches) and one hand-made EndpointSlice points at the workstation's State Hub, so flipping the toggle
moves every client at once without changing the address they use.

The Service never loses its selector: the EndpointSlice controller does not clean up the slices of a Service
whose selector is removed, so kube-proxy would keep balancing over the old pods beside WSL2 (found on the
pods tier, where half the requests after a rollback still reached the frozen cluster). With a selector that
matches nothing, the controller empties its own slice instead. kube-proxy balances over every slice of a
Service, so the old side must be gone before the new one appears: the hand-made slice always exists (empty
with endpoint `cluster`), and the order of the two steps follows the direction: to the cluster, the slice is
emptied before the Service selects the pods; to WSL2, the Service selects nothing (the controller empties its
slice) before the hand-made slice is filled. Between the two steps the front door has no endpoint for a
moment; connections already open stay where they are.
"""

from __future__ import annotations

import ipaddress

import pulumi
import pulumi_kubernetes as k8s

from statehub.policy.names import API_PORT, FRONT_DOOR_NAME, Owner, labels, selector
from statehub.policy.settings import Endpoint, FrontDoorSettings

_PORT_NAME = "http"
NO_POD = "wsl2-fallback"
"""A component no pod has: the front door's selector with endpoint wsl2 (the slice's port is WSL2's own)."""


class FrontDoor(pulumi.ComponentResource):
    service: k8s.core.v1.Service
    host: str
    """In-cluster name of the front door (`state-hub-api.<namespace>.svc`)."""

    def __init__(
        self,
        name: str,
        settings: FrontDoorSettings,
        *,
        namespace: str,
        endpoint: Endpoint,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("state-hub-infra:frontdoor:FrontDoor", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.host = f"{FRONT_DOOR_NAME}.{namespace}.svc"
        to_cluster = endpoint is Endpoint.CLUSTER
        metadata = k8s.meta.v1.ObjectMetaArgs(
            name=FRONT_DOOR_NAME,
            namespace=namespace,
            labels=labels(Owner.APPS, "front-door"),
            annotations={
                "state-hub.railiance.io/endpoint": endpoint.value,
                # Traefik v2 (k3s <= 1.31) reads Endpoints, which a hand-made EndpointSlice never fills:
                # with nativelb it sends to the ClusterIP and kube-proxy follows the slice (either side).
                "traefik.ingress.kubernetes.io/service.nativelb": "true",
            },
        )
        spec = k8s.core.v1.ServiceSpecArgs(
            type="ClusterIP",
            selector=selector("api" if to_cluster else NO_POD),
            ports=[k8s.core.v1.ServicePortArgs(name=_PORT_NAME, port=API_PORT, target_port=API_PORT, protocol="TCP")],
        )
        if to_cluster:  # the WSL2 slice is emptied first, then the Service selects the pods
            slice_ = _wsl2_endpoints(name, settings, namespace, child, filled=False)
            self.service = k8s.core.v1.Service(
                f"{name}-service",
                metadata=metadata,
                spec=spec,
                opts=child.merge(pulumi.ResourceOptions(depends_on=[slice_])),
            )
        else:  # the Service selects no pod first (the controller empties its slice), then the WSL2 slice is filled
            self.service = k8s.core.v1.Service(f"{name}-service", metadata=metadata, spec=spec, opts=child)
            _wsl2_endpoints(name, settings, namespace, child.merge(pulumi.ResourceOptions(depends_on=[self.service])))
        self.register_outputs({"host": self.host, "endpoint": endpoint.value})


def _wsl2_endpoints(
    name: str, settings: FrontDoorSettings, namespace: str, opts: pulumi.ResourceOptions, *, filled: bool = True
) -> k8s.discovery.v1.EndpointSlice:
    """The hand-made slice of the WSL2 route: WSL2's State Hub, or no endpoint at all (`filled` False)."""
    address = ipaddress.ip_address(settings.wsl2_address) if settings.wsl2_address else None
    if filled and address is None:
        raise ValueError("the WSL2 route needs wsl2Address (the settings loader requires it)")
    endpoints = [
        k8s.discovery.v1.EndpointArgs(
            addresses=[str(address)],
            # nobody probes a hand-made endpoint: say it is ready, or kube-proxy may skip it
            conditions=k8s.discovery.v1.EndpointConditionsArgs(ready=True, serving=True),
        )
    ]
    return k8s.discovery.v1.EndpointSlice(
        f"{name}-wsl2",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=f"{FRONT_DOOR_NAME}-wsl2",
            namespace=namespace,
            labels={
                **labels(Owner.APPS, "front-door"),
                "kubernetes.io/service-name": FRONT_DOOR_NAME,
                "endpointslice.kubernetes.io/managed-by": "state-hub-infra",
            },
        ),
        address_type=f"IPv{address.version if address else 4}",
        endpoints=endpoints if filled and address else [],
        ports=[k8s.discovery.v1.EndpointPortArgs(name=_PORT_NAME, port=settings.wsl2_port, protocol="TCP")],
        opts=opts,
    )
