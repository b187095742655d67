"""The stack's NetworkPolicies, enforced (kube-router's firewall) and tried both ways with real pods."""

from __future__ import annotations

import json
import secrets
import time

import pytest

from statehub.engine.node import NodeCluster
from tests.pods.conftest import PODS_TIER, Rehearsed

pytestmark = PODS_TIER

REACHED, BLOCKED = "REACHED", "BLOCKED"


def probe(node: NodeCluster, namespace: str, host: str, port: int, labels: dict[str, str] | None = None) -> str:
    """Whether a pod in `namespace` (with `labels`) can open TCP to host:port within 5 s."""
    name = f"probe-{secrets.token_hex(3)}"
    node.kubectl("create", "namespace", namespace, check=False)
    script = f"timeout 5 bash -c 'exec 3<>/dev/tcp/{host}/{port}' 2>/dev/null && echo {REACHED} || echo {BLOCKED}"
    restricted = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
        "spec": {
            "restartPolicy": "Never",
            "securityContext": {"runAsNonRoot": True, "runAsUser": 26, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [
                {
                    "name": "probe",
                    "image": node.images["postgresql"],
                    "command": ["bash", "-c", script],
                    "securityContext": restricted,
                }
            ],
        },
    }
    node.kubectl("apply", "-f", "-", stdin=json.dumps(pod))
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            phase = node.kubectl("--namespace", namespace, "get", "pod", name, "-o", "jsonpath={.status.phase}").stdout
            if phase in ("Succeeded", "Failed"):
                return node.kubectl("--namespace", namespace, "logs", name).stdout.strip().splitlines()[-1]
            time.sleep(1)
        raise AssertionError(f"probe pod {namespace}/{name} did not finish")
    finally:  # one with the app's labels would pass for an API pod that is not ready (status.py counts them)
        node.kubectl("--namespace", namespace, "delete", "pod", name, "--wait=false", check=False)


APP_LABELS = {"app.kubernetes.io/name": "state-hub", "app.kubernetes.io/component": "api"}
"""What the State Hub's pods are labelled: the database's policy admits them, from the app namespace only."""


def pod_ip(node: NodeCluster, namespace: str, selector: str) -> str:
    """The address of a running pod: probes go to the pod itself, so a Service without ready endpoints (the
    API after the rollback froze its database) cannot pass for a policy that blocks."""
    found = node.kubectl(
        "--namespace",
        namespace,
        "get",
        "pods",
        "-l",
        selector,
        "--field-selector=status.phase=Running",
        "-o",
        "jsonpath={.items[0].status.podIP}",
    ).stdout.strip()
    assert found, f"no running pod {selector} in {namespace}"
    return found


@pytest.fixture(scope="module")
def database(rehearsed_on_pods: Rehearsed) -> str:
    return pod_ip(rehearsed_on_pods.node, "databases", "cnpg.io/cluster=state-hub-db,cnpg.io/instanceRole=primary")


@pytest.fixture(scope="module")
def api(rehearsed_on_pods: Rehearsed) -> str:
    return pod_ip(rehearsed_on_pods.node, "railiance-apps", "app.kubernetes.io/component=api")


def test_the_database_admits_the_app_and_no_other_namespace(rehearsed_on_pods: Rehearsed, database: str) -> None:
    node = rehearsed_on_pods.node
    assert probe(node, "railiance-apps", database, 5432, APP_LABELS) == REACHED
    assert probe(node, "intruder", database, 5432) == BLOCKED
    assert probe(node, "intruder", database, 5432, APP_LABELS) == BLOCKED  # the app's labels, elsewhere
    assert probe(node, "state-hub-clients", database, 5432) == BLOCKED  # an access namespace is for the API


def test_the_metrics_port_admits_the_monitoring_namespace_only(rehearsed_on_pods: Rehearsed, database: str) -> None:
    """cnpg's exporter (9187) answers Prometheus in monitoringNamespace, and no other namespace, not even the app."""
    node = rehearsed_on_pods.node
    assert probe(node, "monitoring", database, 9187) == REACHED
    assert probe(node, "intruder", database, 9187) == BLOCKED
    assert probe(node, "railiance-apps", database, 9187, APP_LABELS) == BLOCKED


def test_the_api_admits_an_access_namespace_and_no_other(rehearsed_on_pods: Rehearsed, api: str) -> None:
    node = rehearsed_on_pods.node
    assert probe(node, "state-hub-clients", api, 8000) == REACHED
    assert probe(node, "intruder", api, 8000) == BLOCKED
    assert probe(node, "railiance-apps", api, 8000) == BLOCKED  # not even a neighbour in its own namespace
