"""Waiting until every instance of a cnpg Cluster runs a plugin's sidecar, after an update added the plugin.

Why the program has to look itself: right after `pulumi up` changes the Cluster, its status still shows the
old instance's `Ready` and `ContinuousArchiving` (cnpg keeps no observedGeneration), so any `waitFor` on the
Cluster is met at once. A Backup asked for then goes to the instance that has no sidecar yet and fails for
good ("requested plugin is not available", seen on the pods tier). The fresh facts are on the pods: the
instance that runs the sidecar is the one restarted for it.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from statehub.cluster.kube_api import KubeApi, KubeApiError, from_kubeconfig

POLL_SECONDS = 2.0


class RolloutError(Exception):
    """The instances did not come up with the sidecar in time; the message says which and what to check."""


def _ready_sidecar(pod: dict[str, Any], sidecar: str) -> bool:
    statuses = [
        *pod.get("status", {}).get("initContainerStatuses", []),
        *pod.get("status", {}).get("containerStatuses", []),
    ]
    return any(s.get("name") == sidecar and s.get("ready") is True for s in statuses)


def _pod_ready(pod: dict[str, Any]) -> bool:
    conditions = pod.get("status", {}).get("conditions", [])
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def lagging_instances(api: KubeApi, namespace: str, cluster: str, sidecar: str) -> list[str]:
    """The instances of `cluster` that are not yet Ready with a ready `sidecar`; every one when none is found."""
    selector = quote(f"cnpg.io/cluster={cluster},cnpg.io/podRole=instance")
    pods = api.get(f"/api/v1/namespaces/{namespace}/pods?labelSelector={selector}").get("items", [])
    if not pods:
        return [f"{cluster} (no instance pod yet)"]
    return sorted(
        str(pod["metadata"]["name"]) for pod in pods if not (_pod_ready(pod) and _ready_sidecar(pod, sidecar))
    )


def wait_for_sidecars(
    api: KubeApi,
    namespace: str,
    cluster: str,
    sidecar: str,
    seconds: float,
) -> None:
    """Return once every instance is Ready with `sidecar` ready; `RolloutError` after `seconds`."""
    deadline = time.monotonic() + seconds
    lagging = lagging_instances(api, namespace, cluster, sidecar)
    while lagging:
        if time.monotonic() > deadline:
            raise RolloutError(
                f"{', '.join(lagging)}: not Ready with the {sidecar} sidecar within {seconds:.0f} s. Check that the "
                f"plugin runs (kubectl -n cnpg-system get deploy) and why: kubectl -n {namespace} describe pod "
                f"{lagging[0]}; then run pulumi up again"
            )
        time.sleep(POLL_SECONDS)
        lagging = lagging_instances(api, namespace, cluster, sidecar)


def wait_with_kubeconfig(
    kubeconfig: str | None, context: str, *, namespace: str, cluster: str, sidecar: str, seconds: float
) -> None:
    """`wait_for_sidecars` through the stack's own kubeconfig and context (the ambient one when None)."""
    path = Path(kubeconfig).expanduser() if kubeconfig else Path.home() / ".kube" / "config"
    with tempfile.TemporaryDirectory(prefix="state-hub-kube-") as material:
        try:
            api = from_kubeconfig(path, context, Path(material))
            wait_for_sidecars(api, namespace, cluster, sidecar, seconds)
        except KubeApiError as error:
            raise RolloutError(f"cannot watch the instances' rollout: {error}") from None
