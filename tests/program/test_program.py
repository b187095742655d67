"""The real __main__.py under mocks: resources, their key properties and their options."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pulumi
import pytest

from components.app import WAIT_FOR_DATABASE
from statehub.offline.manifests import is_secret, kubernetes_manifests
from statehub.rehearsal.gate_runs import STAND_IN_DECISIONS
from tests.program.conftest import PRIVATE_INGRESS, Render, by_kind, checkout_repo, manifest, one

DIGEST = "sha256:" + "ab" * 32


def test_every_kubernetes_resource_uses_the_explicit_provider(render: Render) -> None:
    run = render("dev")
    providers = run.of_type("pulumi:providers:kubernetes")
    assert [p.name for p in providers] == ["k8s-k3d-state-hub"]
    assert providers[0].inputs["context"] == "k3d-state-hub"
    # Secrets and ConfigMaps updated in place: a replaced retained Secret conflicts (engine tier: rotation)
    assert providers[0].inputs["enableSecretMutable"] in (True, "true")
    assert providers[0].inputs["enableConfigMapMutable"] in (True, "true")
    kube = list(run.of_type("kubernetes:"))
    assert len(kube) >= 10
    for resource in kube:
        assert resource.provider.startswith(providers[0].urn), resource.name


def test_database_cluster(render: Render) -> None:
    run = render("railiance01")
    cluster = one(run, "Cluster")
    assert cluster["apiVersion"] == "postgresql.cnpg.io/v1"
    assert cluster["metadata"]["name"] == "state-hub-db"
    assert cluster["metadata"]["namespace"] == "databases"
    assert cluster["metadata"]["annotations"]["pulumi.com/waitFor"] == "condition=Ready"
    assert cluster["metadata"]["labels"]["railiance.io/owner"] == "railiance-platform"
    spec = cluster["spec"]
    assert spec["instances"] == 1
    assert spec["imageName"].startswith("ghcr.io/cloudnative-pg/postgresql:17.6-standard-trixie@sha256:")
    assert spec["enableSuperuserAccess"] is False
    assert spec["storage"] == {"size": "20Gi", "storageClass": "local-path-retain"}
    assert spec["postgresql"]["parameters"] == {"max_connections": "100", "shared_buffers": "256MB"}
    # before cnpg's default `host all all all`: no client over the network without TLS (port-forwards are local)
    assert spec["postgresql"]["pg_hba"][-1] == "hostnossl all all all reject"
    assert all(" 127.0.0.1/32 " in rule or " ::1/128 " in rule for rule in spec["postgresql"]["pg_hba"][:-1])
    initdb = spec["bootstrap"]["initdb"]
    assert initdb == {
        "database": "state_hub",
        "owner": "state_hub",
        "secret": {"name": "state-hub-db-owner"},
        "dataChecksums": True,
        "encoding": "UTF8",
        "localeCollate": "en_US.utf8",  # the workstation's (dbLocale): cnpg's own default is C
        "localeCType": "en_US.utf8",
    }
    owner = manifest(run, "Secret", "state-hub-db-owner")
    assert owner["type"] == "kubernetes.io/basic-auth"
    assert owner["metadata"]["namespace"] == "databases"
    assert owner["stringData"] == {"username": "********", "password": "********"}
    assert not run.named("state-hub-db-cluster").protect
    assert run.named("state-hub-db-cluster").retain_on_delete  # dropping it from the stack leaves it running
    assert spec["enablePDB"] is False  # one instance: cnpg's PDB would hang every node drain
    assert one(render("railiance01", "dbInstances=3"), "Cluster")["spec"]["enablePDB"] is True


def test_migration_waits_for_the_database_and_is_never_replaced_while_it_runs(render: Render) -> None:
    run = render("railiance01")
    job = one(run, "Job")
    assert run.named("state-hub-db-cluster").urn in run.named("state-hub-migrate").dependencies
    # replaceUnready would also replace a Job still running after an interrupted `up`: a migration cut mid-way
    assert "pulumi.com/replaceUnready" not in job["metadata"]["annotations"]
    pod = job["spec"]["template"]["spec"]
    (wait,) = pod["initContainers"]
    assert wait["command"][:2] == ["python", "-c"]
    assert "'state-hub-db-rw.databases.svc'" in wait["command"][2] and "5432" in wait["command"][2]
    assert wait["image"] == pod["containers"][0]["image"]
    assert wait["securityContext"]["runAsNonRoot"] is True


def test_database_password_is_generated_and_secret(render: Render) -> None:
    run = render("railiance01")
    password = run.named("state-hub-db-owner-password")
    assert password.type == "random:index/randomPassword:RandomPassword"
    assert password.inputs["length"] == 32
    url_secret = run.named("state-hub-database-url")
    wrapped = url_secret.inputs["stringData"]
    assert is_secret(wrapped)
    url = wrapped["value"]["DATABASE_URL"]
    assert url.startswith("postgresql+psycopg://state_hub:mock-")
    assert url.endswith("@state-hub-db-rw.databases.svc:5432/state_hub?sslmode=require")  # cnpg serves TLS


INSTANCES = {
    "matchExpressions": [
        {"key": "cnpg.io/cluster", "operator": "In", "values": ["state-hub-db", "state-hub-db-recovery-drill"]}
    ]
}
"""state-hub-db's instances and its recovery drill's: one set of policies for both."""


def test_database_network_policy(render: Render) -> None:
    run = render("railiance01")
    policies = {
        p["metadata"]["name"]: p for p in by_kind(run, "NetworkPolicy") if p["metadata"]["namespace"] == "databases"
    }
    assert set(policies) == {"state-hub-db-ingress", "state-hub-db-egress"}
    spec = policies["state-hub-db-ingress"]["spec"]
    assert spec["podSelector"] == INSTANCES
    rules = spec["ingress"]
    app_rule, operator_rule, peers_rule = rules
    assert app_rule["from"][0]["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "railiance-apps"}
    assert app_rule["from"][0]["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "state-hub"}
    assert [p["port"] for p in app_rule["ports"]] == [5432]
    assert operator_rule["from"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "cnpg-system"
    }
    assert operator_rule["from"][0]["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "cloudnative-pg"}
    assert [p["port"] for p in operator_rule["ports"]] == [5432, 8000]
    assert peers_rule["from"][0]["podSelector"] == INSTANCES
    assert all(p["port"] != 9187 for rule in rules for p in rule["ports"])  # the metrics port: nobody unless named


def test_the_platforms_prometheus_may_scrape_the_metrics_port(render: Render) -> None:
    """monitoringNamespace opens cnpg's exporter (9187) to that namespace, and nothing else to it."""
    rules = manifest(render("railiance01", "monitoringNamespace=monitoring"), "NetworkPolicy", "state-hub-db-ingress")
    *_, scrape = rules["spec"]["ingress"]
    assert scrape["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]
    assert scrape["ports"] == [{"port": 9187, "protocol": "TCP"}]
    with pytest.raises(pulumi.RunError, match=r"monitoringNamespace is 'Monitoring!': it is not a valid namespace"):
        render("railiance01", "monitoringNamespace=Monitoring!")


def test_the_instances_egress_is_restricted_from_stage_empty(render: Render) -> None:
    """DNS, the API server and each other from the start (not unrestricted until stage stabilise adds the store)."""
    egress = manifest(render("railiance01"), "NetworkPolicy", "state-hub-db-egress")["spec"]
    assert egress["podSelector"] == INSTANCES and egress["policyTypes"] == ["Egress"]
    opened = sorted(p["port"] for rule in egress["egress"] for p in rule["ports"])
    assert opened == [53, 53, 443, 5432, 6443, 8000]


def test_app_deployment_is_restricted_and_waits_for_migration(render: Render) -> None:
    run = render("railiance01")
    deployment = one(run, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    assert container["image"] == STAND_IN_DECISIONS["image"]
    assert container["ports"] == [{"name": "http", "containerPort": 8000}]
    assert container["readinessProbe"]["httpGet"] == {"path": "/state/health", "port": 8000}  # checks the db
    assert container["livenessProbe"]["tcpSocket"] == {"port": 8000}  # a db restart must not restart the API
    assert container["startupProbe"]["tcpSocket"] == {"port": 8000}
    assert container["imagePullPolicy"] == "IfNotPresent"  # pinned by digest
    assert {"name": "HOME", "value": "/tmp"} in container["env"]
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["runAsUser"] >= 10000
    assert container["resources"]["limits"] == {"cpu": "500m", "memory": "512Mi"}
    job = run.named("state-hub-migrate")
    assert job.urn in run.named("state-hub-api").dependencies


def test_migration_job_name_follows_the_image_digest(render: Render) -> None:
    first = one(render("railiance01"), "Job")
    second = one(render("railiance01", f"image=registry.railiance.internal:5000/state-hub@{DIGEST}"), "Job")
    assert first["metadata"]["name"] == "state-hub-migrate-" + STAND_IN_DECISIONS["image"].split(":")[-1][:12]
    assert second["metadata"]["name"] == "state-hub-migrate-abababababab"
    (container,) = second["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["alembic", "upgrade", "head"]
    assert container["image"].endswith(DIGEST)
    assert second["spec"]["template"]["spec"]["restartPolicy"] == "Never"


def test_service_is_cluster_ip_on_8000(render: Render) -> None:
    service = manifest(render("railiance01"), "Service", "state-hub")
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["ports"] == [{"name": "http", "port": 8000, "targetPort": 8000, "protocol": "TCP"}]


def test_app_network_policies_follow_the_access_path(render: Render) -> None:
    closed = render("railiance01")
    api = manifest(closed, "NetworkPolicy", "state-hub-api-ingress")
    assert api["spec"]["ingress"] == []
    opened = render("railiance01", "accessNamespaces=['tailscale']")
    api = manifest(opened, "NetworkPolicy", "state-hub-api-ingress")
    (rule,) = api["spec"]["ingress"]
    assert rule["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "tailscale"}}}]
    assert rule["ports"] == [{"port": 8000, "protocol": "TCP"}]
    isolation = manifest(opened, "NetworkPolicy", "state-hub-isolation")
    egress_ports = [[p["port"] for p in rule["ports"]] for rule in isolation["spec"]["egress"]]
    assert egress_ports == [[5432], [53, 53]]


def test_no_ingress_unless_private_ingress(render: Render) -> None:
    assert by_kind(render("railiance01"), "Ingress") == []
    run = render("railiance01", *PRIVATE_INGRESS)
    ingress = one(run, "Ingress")
    assert ingress["spec"]["ingressClassName"] == "traefik-private"
    assert ingress["spec"]["rules"][0]["host"] == "state-hub.railiance.internal"
    middleware = one(run, "Middleware")
    assert middleware["spec"] == {"ipAllowList": {"sourceRange": ["100.64.0.0/10"]}}
    assert (
        ingress["metadata"]["annotations"]["traefik.ingress.kubernetes.io/router.middlewares"]
        == "railiance-apps-state-hub-allow-list@kubernetescrd"
    )


def test_no_config_produces_a_public_service(render: Render) -> None:
    for overrides in ((), PRIVATE_INGRESS):
        for rendered in kubernetes_manifests(render("railiance01", *overrides)):
            if rendered["kind"] == "Service":
                assert rendered["spec"]["type"] == "ClusterIP"


def test_namespaces_only_where_the_stack_owns_them(render: Render) -> None:
    assert by_kind(render("railiance01"), "Namespace") == []
    namespaces = by_kind(render("dev"), "Namespace")
    assert sorted(n["metadata"]["name"] for n in namespaces) == ["databases", "railiance-apps"]
    for namespace in namespaces:
        assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_ownership_labels(render: Render) -> None:
    for rendered in kubernetes_manifests(render("dev")):
        owner = rendered["metadata"]["labels"]["railiance.io/owner"]
        namespace = rendered["metadata"].get("namespace", rendered["metadata"]["name"])
        expected = "railiance-platform" if namespace == "databases" else "railiance-apps"
        assert owner == expected, rendered["metadata"]["name"]


@pytest.fixture
def checkout(tmp_path: Path) -> tuple[Path, str]:
    return checkout_repo(tmp_path)


def test_stage_image_builds_and_pushes_without_touching_the_cluster(render: Render, checkout: tuple[Path, str]) -> None:
    repo, head = checkout
    run = render("dev", "stage=image", "image=", f"imageContext={repo}", f"imageRevision={head}")
    (image,) = run.of_type("docker:index/image:Image")
    assert image.inputs["imageName"] == f"localhost:5001/state-hub:{head}"
    assert image.inputs["build"]["context"] == str(repo)
    assert image.inputs["skipPush"] is False
    assert run.of_type("kubernetes:") == []
    assert run.outputs["imageRef"].startswith("localhost:5001/state-hub@sha256:")
    labels = {
        "org.opencontainers.image.source": "https://git.example/state-hub.git",
        "org.opencontainers.image.revision": head,
        "org.opencontainers.image.created": "2026-11-20T08:00:00+00:00",
    }
    assert run.outputs["imageLabels"] == labels
    dockerfile = Path(image.inputs["build"]["dockerfile"]).read_text()
    assert dockerfile.startswith("FROM python:3.12-slim\n")
    assert dockerfile.rstrip().endswith(
        f'org.opencontainers.image.created="{labels["org.opencontainers.image.created"]}"'
    )


def test_stage_image_refuses_a_revision_that_is_not_a_commit(render: Render, checkout: tuple[Path, str]) -> None:
    repo, _ = checkout
    with pytest.raises(pulumi.RunError, match="state-hub-infra:imageRevision is 'v9': it is not a commit"):
        render("dev", "stage=image", "image=", f"imageContext={repo}", "imageRevision=v9")


def test_stage_image_with_a_prebuilt_image_builds_nothing(render: Render) -> None:
    run = render("railiance01", "stage=image")
    assert run.of_type("docker:") == []
    assert run.of_type("kubernetes:") == []
    assert run.outputs["imageRef"] == STAND_IN_DECISIONS["image"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["stage=image", "image=", "registry="], "state-hub-infra:registry is unset"),
        (["stage=image", "image=", "imageContext="], "state-hub-infra:imageContext is unset"),
        (["stage=image", "image=", "imageContext=../state-hub"], "state-hub-infra:imageRevision is unset"),
        (["image="], "state-hub-infra:image is unset: stage empty deploys the image pinned by digest"),
        (["image=localhost:5001/state-hub:v1"], "refuses an image that is not pinned by digest"),
    ],
)
def test_refusals_surface_as_run_errors(render: Render, overrides: list[str], message: str) -> None:
    with pytest.raises(pulumi.RunError, match=message):
        render("dev", *overrides)


def test_the_wait_for_the_database_really_waits_and_gives_up() -> None:
    """The init container's program, run here: it returns once the port answers, and fails after its deadline."""

    def wait(port: int, seconds: int) -> subprocess.CompletedProcess[str]:
        program = WAIT_FOR_DATABASE.format(host="127.0.0.1", port=port, seconds=seconds)
        return subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=30, check=False)

    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        port = listening.getsockname()[1]
        ok = wait(port, 5)
    assert ok.returncode == 0, ok.stderr
    gave_up = wait(port, 1)
    assert gave_up.returncode == 1
    assert f"database 127.0.0.1:{port} not reachable after 1 s" in gave_up.stderr


def test_an_api_only_cluster_skips_awaits_and_never_replaces_the_unready_job(render: Render) -> None:
    """Found by the engine tier: without nodes no Job completes, and nothing may replace it on every up."""
    run = render("railiance01", "apiOnlyCluster=true")
    for found in kubernetes_manifests(run):
        annotations = found["metadata"]["annotations"]
        assert annotations["pulumi.com/skipAwait"] == "true", found["kind"]
        assert annotations["pulumi.com/deletionPropagationPolicy"] == "background", found["kind"]
    assert "pulumi.com/replaceUnready" not in one(run, "Job")["metadata"]["annotations"]
