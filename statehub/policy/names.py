"""Names, ports and labels, derived once: what a resource is called, where it listens, which team owns it."""

from __future__ import annotations

from enum import StrEnum

APP_NAME = "state-hub"
API_PORT = 8000
"""The State Hub's HTTP port (the workplan: port 8000)."""
POSTGRES_PORT = 5432
CNPG_STATUS_PORT = 8000
CNPG_METRICS_PORT = 9187
"""cnpg's Prometheus exporter on every instance (`/metrics`)."""
"""cnpg's instance manager status port (the operator reaches it; a NetworkPolicy must let it in)."""
DNS_PORT = 53
KUBE_API_PORTS = (443, 6443)
"""Where pods reach the API server: its Service port and, after DNAT, the k3s server's own."""
FRONT_DOOR_NAME = "state-hub-api"
"""The stable Service clients (and the private Ingress) use; the endpoint toggle moves what is behind it."""


class Owner(StrEnum):
    """The team that operates a resource (see docs/ownership.md)."""

    PLATFORM = "railiance-platform"
    APPS = "railiance-apps"


OWNER_LABEL = "railiance.io/owner"
CLUSTER_LABEL = "cnpg.io/cluster"
"""What cnpg puts on a Cluster's instance pods and volumes (value: the Cluster's name)."""


def labels(owner: Owner, component: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": APP_NAME,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": APP_NAME,
        "app.kubernetes.io/managed-by": "pulumi",
        OWNER_LABEL: owner.value,
    }


def selector(component: str) -> dict[str, str]:
    """The stable subset of `labels` used to select pods."""
    return {"app.kubernetes.io/name": APP_NAME, "app.kubernetes.io/component": component}
