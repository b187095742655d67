"""`FrontDoor`: the endpoint toggle. One stable Service that clients and the private Ingress use.

With endpoint `cluster` it selects the State Hub pods. With endpoint `wsl2` it has no selector
and one EndpointSlice that points at the workstation's State Hub, so flipping the toggle moves
every client at once without changing the address they use.
"""

from __future__ import annotations

import ipaddress

import pulumi
import pulumi_kubernetes as k8s

from statehub.policy.names import API_PORT, FRONT_DOOR_NAME, Owner, labels, selector
from statehub.policy.settings import Endpoint, FrontDoorSettings

_PORT_NAME = "http"


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
        self.service = k8s.core.v1.Service(
            f"{name}-service",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=FRONT_DOOR_NAME,
                namespace=namespace,
                labels=labels(Owner.APPS, "front-door"),
                annotations={
                    "state-hub.railiance.io/endpoint": endpoint.value,
                    # Traefik v2 (k3s <= 1.31) reads Endpoints, which a hand-made EndpointSlice never fills:
                    # with nativelb it sends to the ClusterIP and kube-proxy follows the slice (either side).
                    "traefik.ingress.kubernetes.io/service.nativelb": "true",
                },
            ),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="ClusterIP",
                selector=selector("api") if to_cluster else None,
                ports=[
                    k8s.core.v1.ServicePortArgs(
                        name=_PORT_NAME,
                        port=API_PORT,
                        target_port=API_PORT if to_cluster else settings.wsl2_port,
                        protocol="TCP",
                    )
                ],
            ),
            opts=child,
        )
        if not to_cluster:
            _wsl2_endpoints(name, settings, namespace, child)
        self.register_outputs({"host": self.host, "endpoint": endpoint.value})


def _wsl2_endpoints(name: str, settings: FrontDoorSettings, namespace: str, opts: pulumi.ResourceOptions) -> None:
    if settings.wsl2_address is None:
        raise ValueError("the WSL2 route needs wsl2Address (the settings loader requires it)")
    address = ipaddress.ip_address(settings.wsl2_address)
    k8s.discovery.v1.EndpointSlice(
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
        address_type=f"IPv{address.version}",
        endpoints=[
            k8s.discovery.v1.EndpointArgs(
                addresses=[str(address)],
                # nobody probes a hand-made endpoint: say it is ready, or kube-proxy may skip it
                conditions=k8s.discovery.v1.EndpointConditionsArgs(ready=True, serving=True),
            )
        ],
        ports=[k8s.discovery.v1.EndpointPortArgs(name=_PORT_NAME, port=settings.wsl2_port, protocol="TCP")],
        opts=opts,
    )
