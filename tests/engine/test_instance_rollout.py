"""The wait for a plugin's sidecar reads the instance pods as a real API server serves them: a pod counts
once it is Ready and its sidecar is ready; a Ready pod without the sidecar (the old instance, whose Cluster
status still says Ready) does not; a wait that runs out names the pod and what to check."""

from __future__ import annotations

from typing import Any

import pytest

from statehub.cluster.instance_rollout import RolloutError, lagging_instances, wait_for_sidecars
from statehub.cluster.kube_api import KubeApi
from statehub.engine.control_plane import LocalCluster

NAMESPACE = "rollout"
SIDECAR = "plugin-barman-cloud"


def instance(api: KubeApi, name: str, *, cluster: str = "state-hub-db") -> str:
    labels = {"cnpg.io/cluster": cluster, "cnpg.io/podRole": "instance"}
    container = {"name": "postgres", "image": "postgres"}
    api.create(
        f"/api/v1/namespaces/{NAMESPACE}/pods",
        {"metadata": {"name": name, "labels": labels}, "spec": {"containers": [container]}},
    )
    return f"/api/v1/namespaces/{NAMESPACE}/pods/{name}"


def status(*, ready: bool, sidecar: bool | None) -> dict[str, Any]:
    written: dict[str, Any] = {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        "containerStatuses": [_container("postgres", ready)],
    }
    if sidecar is not None:
        written["initContainerStatuses"] = [_container(SIDECAR, sidecar)]
    return written


def _container(name: str, ready: bool) -> dict[str, Any]:
    return {"name": name, "ready": ready, "restartCount": 0, "image": "x", "imageID": "", "state": {"running": {}}}


def test_only_ready_instances_with_a_ready_sidecar_count(cluster: LocalCluster) -> None:
    api = cluster.api
    api.create("/api/v1/namespaces", {"metadata": {"name": NAMESPACE}})
    assert lagging_instances(api, NAMESPACE, "state-hub-db", SIDECAR) == ["state-hub-db (no instance pod yet)"]
    first = instance(api, "state-hub-db-1")
    instance(api, "other-db-1", cluster="other-db")  # another Cluster's pod is not looked at
    api.patch_status(first, status(ready=True, sidecar=None))  # the old instance: Ready, no sidecar
    assert lagging_instances(api, NAMESPACE, "state-hub-db", SIDECAR) == ["state-hub-db-1"]
    api.patch_status(first, status(ready=False, sidecar=True))  # restarted, not Ready yet
    assert lagging_instances(api, NAMESPACE, "state-hub-db", SIDECAR) == ["state-hub-db-1"]
    api.patch_status(first, status(ready=True, sidecar=False))
    assert lagging_instances(api, NAMESPACE, "state-hub-db", SIDECAR) == ["state-hub-db-1"]
    with pytest.raises(RolloutError) as late:
        wait_for_sidecars(api, NAMESPACE, "state-hub-db", SIDECAR, seconds=0)
    assert str(late.value).startswith("state-hub-db-1: not Ready with the plugin-barman-cloud sidecar within 0 s")
    assert f"kubectl -n {NAMESPACE} describe pod state-hub-db-1" in str(late.value)
    api.patch_status(first, status(ready=True, sidecar=True))
    wait_for_sidecars(api, NAMESPACE, "state-hub-db", SIDECAR, seconds=0)
    assert lagging_instances(api, NAMESPACE, "state-hub-db", SIDECAR) == []
