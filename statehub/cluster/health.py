"""The State Hub's health on the cluster, read through the Kubernetes API: one status report.

What it reads: the Cluster `state-hub-db` (phase, conditions, ready instances), its last completed
Backup against the schedule, the ObjectStore's recovery window, restarts of the database and API
pods, the migration Job, the volumes, and (when given a URL) the API's health and summary, the
file-backed workplans against it and what the agents see through their MCP server.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from statehub.cluster.kube_api import KubeApi, KubeApiError
from statehub.data.api_checks import get_json, probe_health
from statehub.data.client_check import McpServer, client_check
from statehub.data.workplan_check import check_workplans
from statehub.policy.api_contract import SUMMARY_PATH
from statehub.policy.names import CLUSTER_LABEL, selector
from statehub.policy.report import Report
from statehub.policy.settings import CLUSTER_NAME, OBJECT_STORE_NAME

HEALTHY_PHASE = "Cluster in healthy state"
RESTARTS_LIMIT = 3
"""More restarts than this of one container is a problem, not a blip."""


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail}


@dataclass(frozen=True)
class Scope:
    db_namespace: str
    app_namespace: str
    backup_max_age: timedelta
    """A completed backup older than this (the schedule's period and some grace) is stale."""
    api_url: str | None
    workplans: Path | None = None
    """Folder of file-backed workplans to check against the API."""
    mcp: McpServer | None = None
    """The agents' MCP server, asked for the summary as an agent asks."""
    ingress_service: tuple[str, str] | None = None
    """(namespace, name) of the ingress controller's Service (k3s: kube-system/traefik), with private-ingress."""


def _mapping(value: Any) -> dict[str, Any]:
    """An object's part as the API server would give it (a broken or hostile answer gives an empty one)."""
    return value if isinstance(value, dict) else {}


def _at(value: Any, *keys: str) -> Any:
    """`value[k1][k2]...` through mappings only: None where an answer breaks the path (a list, a number)."""
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _name(item: dict[str, Any]) -> str:
    name = _at(item, "metadata", "name")
    return name if isinstance(name, str) else "(unnamed)"


def _count(value: Any) -> int:
    """A count as the API gives it; -1 for anything that is not one (a string, a negative, a boolean)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else -1


def cluster_status(api: KubeApi, scope: Scope, now: datetime | None = None) -> Report:
    now = now or datetime.now(UTC)
    checks: list[Check] = []
    cluster = _get(api, f"/apis/postgresql.cnpg.io/v1/namespaces/{scope.db_namespace}/clusters/{CLUSTER_NAME}")
    if cluster is None:
        checks.append(Check("cluster", False, f"no Cluster {CLUSTER_NAME} in {scope.db_namespace}"))
        return _report(checks, {})
    status = _mapping(cluster.get("status"))
    spec = _mapping(cluster.get("spec"))
    listed = status.get("conditions")
    conditions = {c.get("type"): c for c in listed if isinstance(c, dict)} if isinstance(listed, list) else {}
    phase = str(status.get("phase", "unknown"))
    checks.append(Check("phase", phase == HEALTHY_PHASE, phase))
    wanted = _count(spec.get("instances", 1))
    ready = _count(status.get("readyInstances") or 0)
    checks.append(Check("ready instances", wanted >= 1 and ready == wanted, f"{ready} of {wanted}"))
    archiving = bool(spec.get("plugins"))
    for name in ("Ready", "ContinuousArchiving", "LastBackupSucceeded"):
        condition = conditions.get(name)
        if condition is None:
            if name == "Ready" or (archiving and name == "ContinuousArchiving"):
                checks.append(Check(name, False, "condition not reported"))
            continue
        good = condition.get("status") == "True"
        checks.append(
            Check(name, good, str(condition.get("message") or condition.get("reason") or condition["status"]))
        )
    facts: dict[str, Any] = {"phase": phase, "instances": wanted, "ready_instances": ready}
    if archiving:
        checks.append(_last_backup(api, scope, now, facts))
        checks.append(_recovery_window(api, scope, _archive_folder(spec), facts))
    checks += _pods(api, scope.db_namespace, DATABASE_PODS, "database", guaranteed=True)
    checks += _pods(api, scope.app_namespace, _label_selector(selector("api")), "API")
    checks.append(_migration(api, scope))
    facts["volumes"] = _volumes(api, scope)
    checks += _node_disks(api, facts)
    if scope.ingress_service:
        checks.append(_ingress_clients(api, *scope.ingress_service))
    if scope.api_url:
        checks += _api(scope.api_url, facts)
        checks += _agents_view(scope.api_url, scope, facts)
    return _report(checks, facts)


def _label_selector(labels: dict[str, str]) -> str:
    return ",".join(f"{key}={value}" for key, value in labels.items())


DATABASE_PODS = _label_selector({CLUSTER_LABEL: CLUSTER_NAME})
"""cnpg's label on the instance pods and their volumes."""


def _report(checks: list[Check], facts: dict[str, Any]) -> Report:
    failing = [c for c in checks if not c.ok]
    return Report(
        kind="status",
        result="fail" if failing else "pass",
        details={
            "cluster": CLUSTER_NAME,
            "checks": [c.as_dict() for c in checks],
            "problems": [f"{c.name}: {c.detail}" for c in failing],
            **facts,
        },
    )


def _get(api: KubeApi, path: str) -> dict[str, Any] | None:
    try:
        return api.get(path)
    except KubeApiError as error:
        if error.status == 404:
            return None
        raise


def _items(api: KubeApi, path: str) -> list[dict[str, Any]]:
    """The objects of a list (anything in `items` that is not an object is no object)."""
    items = _at(_get(api, path), "items")
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


def _time(text: Any) -> datetime | None:
    """An RFC 3339 time with its zone, else None."""
    if not isinstance(text, str):
        return None
    try:
        found = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return found if found.tzinfo is not None else None


def _last_backup(api: KubeApi, scope: Scope, now: datetime, facts: dict[str, Any]) -> Check:
    backups = _items(api, f"/apis/postgresql.cnpg.io/v1/namespaces/{scope.db_namespace}/backups")
    completed = [
        (stopped, _name(b))
        for b in backups
        if _at(b, "spec", "cluster", "name") == CLUSTER_NAME
        and _at(b, "status", "phase") == "completed"
        and (stopped := _time(_at(b, "status", "stoppedAt"))) is not None
    ]
    if not completed:
        return Check("last backup", False, "no completed backup")
    stopped, name = max(completed)
    age = now - stopped
    hours = round(age / timedelta(hours=1), 1)
    facts["last_backup"] = {"name": name, "completed_at": stopped.isoformat(), "age_hours": hours}
    fresh = age <= scope.backup_max_age
    limit = round(scope.backup_max_age / timedelta(hours=1), 1)
    return Check("last backup", fresh, f"{name} completed {hours} h ago (limit {limit} h)")


def _archive_folder(spec: dict[str, Any]) -> str:
    """The store's folder the Cluster archives to: its WAL archiver's `serverName`, else the Cluster's name."""
    listed = spec.get("plugins")
    for plugin in listed if isinstance(listed, list) else []:
        name = _at(plugin, "parameters", "serverName")
        if _at(plugin, "isWALArchiver") is True and isinstance(name, str) and name:
            return name
    return CLUSTER_NAME


def _recovery_window(api: KubeApi, scope: Scope, folder: str, facts: dict[str, Any]) -> Check:
    store = _get(api, f"/apis/barmancloud.cnpg.io/v1/namespaces/{scope.db_namespace}/objectstores/{OBJECT_STORE_NAME}")
    window = _mapping(_at(store, "status", "serverRecoveryWindow", folder))
    first = window.get("firstRecoverabilityPoint")
    facts["recovery_window"] = window or None
    if store is None:
        return Check("recovery window", False, f"no ObjectStore {OBJECT_STORE_NAME}")
    if not first:
        return Check("recovery window", False, "the store reports no recoverability point yet")
    return Check("recovery window", True, f"from {first} to {window.get('lastSuccessfulBackupTime', 'unknown')}")


def _pods(api: KubeApi, namespace: str, selector: str, what: str, *, guaranteed: bool = False) -> list[Check]:
    """Each pod ready, not crash-looping, not restarting; with `guaranteed`, of QoS class Guaranteed (requests =
    limits for every container, the Barman Cloud sidecar included): under memory pressure the kubelet evicts
    Burstable pods first, and the only instance of the State Hub's database must not be the first to go."""
    pods = _items(api, f"/api/v1/namespaces/{namespace}/pods?labelSelector={selector}")
    if not pods:
        return [Check(f"{what} pods", False, f"no {what} pod in {namespace}")]
    checks = []
    for pod in pods:
        name = _name(pod)
        listed = _at(pod, "status", "containerStatuses")
        statuses = [s for s in listed if isinstance(s, dict)] if isinstance(listed, list) else []
        restarts = sum(max(_count(s.get("restartCount") or 0), 0) for s in statuses)
        waiting = [_at(s, "state", "waiting", "reason") for s in statuses]
        crashing = "CrashLoopBackOff" in waiting
        ready = bool(statuses) and all(s.get("ready") for s in statuses)
        good = ready and not crashing and restarts <= RESTARTS_LIMIT
        state = "crash-looping" if crashing else ("ready" if ready else "not ready")
        checks.append(Check(f"{what} pod {name}", good, f"{state}, {restarts} restarts"))
        if guaranteed:
            qos = str(_at(pod, "status", "qosClass") or "unknown")
            said = "requests = limits in every container" if qos == "Guaranteed" else "evicted before Guaranteed pods"
            checks.append(Check(f"{what} pod {name} QoS", qos == "Guaranteed", f"{qos}: {said}"))
    return checks


def _migration(api: KubeApi, scope: Scope) -> Check:
    migrations = _label_selector(selector("migration"))
    jobs = _items(api, f"/apis/batch/v1/namespaces/{scope.app_namespace}/jobs?labelSelector={migrations}")
    if not jobs:
        return Check("migration job", False, "no migration Job")
    job = max(jobs, key=lambda j: str(_at(j, "metadata", "creationTimestamp") or ""))
    status = _mapping(job.get("status"))
    if _count(status.get("succeeded")) > 0:
        return Check("migration job", True, f"{_name(job)} succeeded")
    return Check("migration job", False, f"{_name(job)}: {status.get('failed', 0)} failed, not succeeded")


def _volumes(api: KubeApi, scope: Scope) -> dict[str, str | None]:
    claims = _items(
        api,
        f"/api/v1/namespaces/{scope.db_namespace}/persistentvolumeclaims?labelSelector={DATABASE_PODS}",
    )
    return {_name(c): str(size) if (size := _at(c, "status", "capacity", "storage")) else None for c in claims}


def _api(url: str, facts: dict[str, Any]) -> list[Check]:
    healthy, health = probe_health(url)
    checks = [Check("API health", healthy, f"HTTP {health.status}: {health.body}")]
    summary = get_json(url.rstrip("/") + SUMMARY_PATH)
    facts["summary"] = summary.body if summary.status == 200 else None
    checks.append(Check("API summary", summary.status == 200, f"HTTP {summary.status}"))
    return checks


def _agents_view(url: str, scope: Scope, facts: dict[str, Any]) -> list[Check]:
    """The workplans' consistency and the agents' path, where the status was asked for them."""
    checks = []
    if scope.workplans is not None:
        found = check_workplans(scope.workplans, url)
        facts["workplans"] = found.details
        items, unreadable = found.details["items"], found.details["unreadable"]
        detail = f"{found.details['tasks']} tasks, {len(items)} differ, {len(unreadable)} unreadable"
        checks.append(Check("workplans", found.result == "pass", detail))
    if scope.mcp is not None:
        seen = client_check(scope.mcp, url, None)
        facts["client_check"] = seen.details
        differences = seen.details["differences"]
        checks.append(Check("agents' path", seen.result == "pass", "; ".join(differences) or "the API's counts"))
    return checks


def _ingress_clients(api: KubeApi, namespace: str, name: str) -> Check:
    """The private Ingress's allow-list sees the clients' own addresses only when the controller's Service keeps
    them: k3s's ServiceLB with `externalTrafficPolicy: Cluster` (k3s's Traefik default) rewrites every client to
    the node's address, so the allow-list answers 403 to everyone (or, allowing that address, to no one)."""
    service = _get(api, f"/api/v1/namespaces/{namespace}/services/{name}")
    if service is None:
        return Check("ingress client addresses", False, f"no Service {namespace}/{name}: give the controller's")
    policy = _at(service, "spec", "externalTrafficPolicy")
    if policy == "Local":
        return Check("ingress client addresses", True, "externalTrafficPolicy Local: clients keep their addresses")
    return Check(
        "ingress client addresses",
        False,
        f"externalTrafficPolicy {policy or 'unset'} on {namespace}/{name}: every client arrives as the node, and "
        "the allow-list cannot tell them apart; the platform sets it to Local (k3s: a HelmChartConfig for traefik)",
    )


DISK_FLOOR = 0.10
"""Less free than this share of a node's disk is a problem: local-path volumes grow on it until it is full."""


def _node_disks(api: KubeApi, facts: dict[str, Any]) -> list[Check]:
    """Each node's free disk, as its kubelet counts it (the local-path volumes, the recovery drill's too, live
    there); `facts["node_disks"]` is what the recovery drill's gate reads."""
    disks: dict[str, dict[str, int]] = {}
    checks = []
    for item in _items(api, "/api/v1/nodes"):
        name = _name(item)
        summary = _get(api, f"/api/v1/nodes/{quote(name, safe='')}/proxy/stats/summary")  # a name is no path
        available, capacity = (_count(_at(summary, "node", "fs", key)) for key in ("availableBytes", "capacityBytes"))
        if available < 0 or capacity <= 0:
            checks.append(Check(f"node disk {name}", False, "its kubelet reports no filesystem figures"))
            continue
        disks[name] = {"available_bytes": available, "capacity_bytes": capacity}
        detail = f"{available / 2**30:.1f} GiB free of {capacity / 2**30:.1f} GiB"
        checks.append(Check(f"node disk {name}", available >= DISK_FLOOR * capacity, detail))
    facts["node_disks"] = disks
    return checks
