"""Stack outputs that tell the operator how to reach things, without a secret in clear."""

from __future__ import annotations

from statehub.policy.names import API_PORT, FRONT_DOOR_NAME, POSTGRES_PORT
from statehub.policy.settings import (
    CLUSTER_NAME,
    DATABASE_NAME,
    DATABASE_OWNER,
    Endpoint,
    Exposure,
    ExposureSettings,
)

LOCAL_PORT = 15432
"""Where `kubectl port-forward` puts state-hub-db-rw on the operator's machine."""


def api_base(exposure: ExposureSettings, front_door_host: str) -> str:
    """The base URL MCP clients use: the private hostname, else the front door Service."""
    if exposure.model is Exposure.PRIVATE_INGRESS and exposure.hostname:
        return f"http://{exposure.hostname}"
    return f"http://{front_door_host}:{API_PORT}"


def client_access(exposure: ExposureSettings, namespace: str, endpoint: Endpoint) -> dict[str, object]:
    """Every way a client outside the app namespace reaches the API, as commands or addresses. While the
    endpoint is wsl2 the front door has no pod behind it (it routes to the workstation), so a port-forward
    to it cannot work: the workstation's own State Hub is the way then."""
    ways: dict[str, object] = {}
    if endpoint is Endpoint.WSL2:
        ways["workstation"] = f"http://127.0.0.1:{API_PORT} (the workstation's State Hub: endpoint is wsl2)"
    if exposure.model is Exposure.PRIVATE_INGRESS and exposure.hostname:
        ways["privateIngress"] = f"http://{exposure.hostname} (from {', '.join(exposure.allow_cidrs)})"
    if exposure.port_forward and endpoint is Endpoint.CLUSTER:
        ways["portForward"] = f"kubectl -n {namespace} port-forward svc/{FRONT_DOOR_NAME} {API_PORT}:{API_PORT}"
    if exposure.access_namespaces:
        ways["namespaces"] = list(exposure.access_namespaces)
    return ways


def restore_target(namespace: str, owner_secret: str) -> dict[str, str]:
    """How `restore.py` reaches state-hub-db in stage restore; the password stays in the Secret."""
    service = f"{CLUSTER_NAME}-rw"
    # sslmode=disable: the forward already rides TLS (to the API server, then the kubelet), and an SSL session
    # through `kubectl port-forward` ends with a reset that makes kubectl end the whole forward
    target = f"host=127.0.0.1 port={LOCAL_PORT} dbname={DATABASE_NAME} user={DATABASE_OWNER} sslmode=disable"
    return {
        "namespace": namespace,
        "service": service,
        "secret": owner_secret,
        "database": DATABASE_NAME,
        "user": DATABASE_OWNER,
        "1-port-forward": f"kubectl -n {namespace} port-forward svc/{service} {LOCAL_PORT}:{POSTGRES_PORT}",
        "2-password": (
            f'export PGPASSWORD="$(kubectl -n {namespace} get secret {owner_secret} '
            "-o jsonpath='{.data.password}' | base64 -d)\""
        ),
        "3-reset": (
            f"uv run scripts/reset_target.py --target '{target}' --manifest evidence/drill/dump/manifest.json "
            "--drop (stage empty's migration Job created empty tables; the restore brings them back with the data)"
        ),
        "4-restore": (
            f"uv run scripts/restore.py --dump evidence/drill/dump --target '{target}' "
            "--report evidence/restore-compare.json"
        ),
    }
