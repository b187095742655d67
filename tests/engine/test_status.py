"""status.py against a real API server: objects and statuses written as cnpg, the plugin, the kubelet
and the Job controller would write them; healthy, archiving failing, backup stale, app crash-looping."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from statehub.cluster.kube_api import KubeApi
from statehub.engine.control_plane import LocalCluster
from statehub.engine.pki import CONTEXT
from statehub.policy.names import selector
from tests.http_stub import serve_json
from tests.script_runner import run_script

DB, APP = "databases", "railiance-apps"
NOW = datetime.now(UTC)


def stamp(hours_ago: float) -> str:
    return (NOW - timedelta(hours=hours_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def create(api: KubeApi, collection: str, body: dict[str, Any], status: dict[str, Any] | None = None) -> None:
    created = api.create(collection, body)
    if status is not None:
        api.patch_status(f"{collection}/{created['metadata']['name']}", status)


def pod(name: str, labels: dict[str, str], resources: dict[str, Any] | None = None) -> dict[str, Any]:
    """A pod Pod Security "restricted" admits (it never runs: no nodes here); the API server sets its QoS class
    from `resources`."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [
                {
                    "name": "main",
                    "image": "registry.example/x@sha256:" + "a" * 64,
                    "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                    "resources": resources or {},
                }
            ],
        },
    }


GUARANTEED = {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}}
BURSTABLE = {"requests": {"cpu": "1", "memory": "512Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}


def running(restarts: int = 0, waiting: str | None = None) -> dict[str, Any]:
    state = {"waiting": {"reason": waiting}} if waiting else {"running": {"startedAt": stamp(1)}}
    return {
        "phase": "Running",
        "containerStatuses": [
            {
                "name": "main",
                "ready": waiting is None,
                "restartCount": restarts,
                "image": "x",
                "imageID": "",
                "state": state,
            }
        ],
    }


def world(
    api: KubeApi,
    *,
    archiving: bool = True,
    backup_hours_ago: float = 5,
    app_waiting: str | None = None,
    db_resources: dict[str, Any] = GUARANTEED,
) -> None:
    cluster_status = {
        "phase": "Cluster in healthy state",
        "readyInstances": 1,
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "ClusterIsReady",
                "message": "Cluster is Ready",
                "lastTransitionTime": stamp(9),
            },
            {
                "type": "ContinuousArchiving",
                "status": "True" if archiving else "False",
                "reason": "ContinuousArchivingSuccess" if archiving else "ContinuousArchivingFailing",
                "message": "Continuous archiving is working"
                if archiving
                else "unexpected failure invoking barman-cloud-wal-archive",
                "lastTransitionTime": stamp(2),
            },
        ],
    }
    create(
        api,
        f"/apis/postgresql.cnpg.io/v1/namespaces/{DB}/clusters",
        {
            "apiVersion": "postgresql.cnpg.io/v1",
            "kind": "Cluster",
            "metadata": {"name": "state-hub-db"},
            "spec": {
                "instances": 1,
                "storage": {"size": "1Gi"},
                "plugins": [{"name": "barman-cloud.cloudnative-pg.io", "isWALArchiver": True}],
            },
        },
        cluster_status,
    )
    create(
        api,
        f"/apis/postgresql.cnpg.io/v1/namespaces/{DB}/backups",
        {
            "apiVersion": "postgresql.cnpg.io/v1",
            "kind": "Backup",
            "metadata": {"name": "state-hub-db-daily-1"},
            "spec": {"cluster": {"name": "state-hub-db"}, "method": "plugin"},
        },
        {"phase": "completed", "startedAt": stamp(backup_hours_ago + 0.1), "stoppedAt": stamp(backup_hours_ago)},
    )
    create(
        api,
        f"/apis/barmancloud.cnpg.io/v1/namespaces/{DB}/objectstores",
        {
            "apiVersion": "barmancloud.cnpg.io/v1",
            "kind": "ObjectStore",
            "metadata": {"name": "state-hub-db-backups"},
            "spec": {"configuration": {"destinationPath": "s3://state-hub-backups/railiance01"}},
        },
        {
            "serverRecoveryWindow": {
                "state-hub-db": {
                    "firstRecoverabilityPoint": stamp(200),
                    "lastSuccessfulBackupTime": stamp(backup_hours_ago),
                }
            }
        },
    )
    instance = pod("state-hub-db-1", {"cnpg.io/cluster": "state-hub-db"}, db_resources)
    create(api, f"/api/v1/namespaces/{DB}/pods", instance, running())
    api_labels = {"app.kubernetes.io/name": "state-hub", "app.kubernetes.io/component": "api"}
    create(
        api,
        f"/api/v1/namespaces/{APP}/pods",
        pod("state-hub-api-1", api_labels),
        running(7 if app_waiting else 0, app_waiting),
    )
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "state-hub-migrate-abc", "labels": selector("migration")},  # the Job's own labels
        "spec": {"template": {"spec": {**pod("migrate", {})["spec"], "restartPolicy": "Never"}}},
    }
    create(
        api,
        f"/apis/batch/v1/namespaces/{APP}/jobs",
        job,
        {
            "succeeded": 1,
            "startTime": stamp(9),
            "completionTime": stamp(9),
            "conditions": [{"type": "SuccessCriteriaMet", "status": "True"}, {"type": "Complete", "status": "True"}],
        },
    )


Status = Callable[..., tuple[int, str]]


@pytest.fixture
def status(cluster: LocalCluster, tmp_path: Path) -> Status:
    def run(*extra: str) -> tuple[int, str]:
        result = run_script(
            "status.py",
            "--kubeconfig",
            str(cluster.kubeconfig),
            "--context",
            CONTEXT,
            "--report",
            str(tmp_path / "s.json"),
            *extra,
        )
        return result.returncode, result.stderr

    return run


def test_healthy(cluster: LocalCluster, status: Status, tmp_path: Path) -> None:
    world(cluster.api)
    with serve_json({"/state/health": {"status": "ok", "db": "connected"}, "/state/summary": {"tasks": 3}}) as address:
        code, printed = status("--api", f"http://{address}")
    assert code == 0, printed
    assert "HEALTHY" in printed
    report = (tmp_path / "s.json").read_text()
    assert '"kind": "status"' in report and '"result": "pass"' in report and "firstRecoverabilityPoint" in report


@pytest.mark.parametrize(
    ("case", "problem"),
    [
        ({"archiving": False}, r"ContinuousArchiving: unexpected failure invoking barman-cloud-wal-archive"),
        ({"backup_hours_ago": 40}, r"last backup: state-hub-db-daily-1 completed 40\.\d h ago \(limit 26\.0 h\)"),
        ({"app_waiting": "CrashLoopBackOff"}, r"API pod state-hub-api-1: crash-looping, 7 restarts"),
        ({"db_resources": BURSTABLE}, r"database pod state-hub-db-1 QoS: Burstable: evicted before Guaranteed pods"),
    ],
    ids=["archiving failing", "backup stale", "app crash-looping", "database burstable"],
)
def test_unhealthy_names_the_reason(
    cluster: LocalCluster, status: Status, tmp_path: Path, case: dict[str, Any], problem: str
) -> None:
    world(cluster.api, **case)
    code, printed = status()
    assert code == 1, printed
    problems = json.loads((tmp_path / "s.json").read_text())["details"]["problems"]
    assert any(re.fullmatch(problem, p) for p in problems), problems  # a regex: the age moves while tests run


@pytest.mark.parametrize("policy", ["Cluster", "Local"])
def test_a_private_ingress_needs_the_clients_addresses(
    cluster: LocalCluster, status: Status, tmp_path: Path, policy: str
) -> None:
    """k3s's Traefik behind ServiceLB with externalTrafficPolicy Cluster sees every client as the node: the check
    names it; Local passes."""
    world(cluster.api)
    name = f"traefik-{policy.lower()}"
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {
            "type": "LoadBalancer",
            "externalTrafficPolicy": policy,
            "selector": {"app.kubernetes.io/name": "traefik"},
            "ports": [{"name": "websecure", "port": 443, "targetPort": 8443}],
        },
    }
    create(cluster.api, "/api/v1/namespaces/kube-system/services", service)
    code, printed = status("--ingress-service", f"kube-system/{name}")
    checks = {c["name"]: c for c in json.loads((tmp_path / "s.json").read_text())["details"]["checks"]}
    assert checks["ingress client addresses"]["ok"] is (policy == "Local"), checks["ingress client addresses"]
    assert code == (0 if policy == "Local" else 1), printed


def test_an_unknown_context_is_refused_in_one_line(cluster: LocalCluster, status: Status) -> None:
    code, printed = status("--context", "railiance99")
    assert code == 2
    assert printed.strip().splitlines() == [printed.strip().splitlines()[0]]
    assert "has no context 'railiance99'" in printed
