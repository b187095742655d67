"""What would break on railiance01 as an operator of cnpg on single-node k3s reads the stack (issue 10)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pulumi
import pytest

from statehub.policy.settings import IPV4_CARRYING_RANGES
from tests.program.conftest import PRIVATE_INGRESS, RAILIANCE01_DECIDED, Render, checkout_repo, manifest, one
from tests.program.evidence_set import EvidenceSet
from tests.script_runner import run_script, script_env

DEPLOYED = {"dbRwService": "state-hub-db-rw.databases.svc"}


def test_stage_image_after_a_deployment_is_refused_instead_of_deleting_the_app(render: Render) -> None:
    with pytest.raises(pulumi.RunError, match="stage image after stage empty or later is refused") as refused:
        render("railiance01", "stage=image", previous_outputs=DEPLOYED)
    assert "set state-hub-infra:imageContext and imageRevision" in str(refused.value)
    first = render("railiance01", "stage=image", previous_outputs={"stage": "image", "imageRef": "x"})
    assert first.of_type("kubernetes:") == []


def test_a_new_image_is_built_at_a_later_stage_while_the_app_keeps_running_the_pinned_one(
    render: Render, tmp_path: Path
) -> None:
    repo, head = checkout_repo(tmp_path)
    before = render("dev")
    after = render("dev", f"imageContext={repo}", f"imageRevision={head}", previous_outputs=DEPLOYED)
    (build,) = after.of_type("docker:index/image:Image")
    assert build.inputs["build"]["platform"] == "linux/amd64"
    assert after.outputs["imageRef"] != before.outputs["imageRef"]  # the new build, to copy into `image`
    deployed = manifest(after, "Deployment", "state-hub")["spec"]["template"]["spec"]["containers"][0]["image"]
    assert deployed == manifest(before, "Deployment", "state-hub")["spec"]["template"]["spec"]["containers"][0]["image"]
    assert {r.name for r in before.of_type("kubernetes:")} == {r.name for r in after.of_type("kubernetes:")}
    arm = render("dev", f"imageContext={repo}", f"imageRevision={head}", "imagePlatform=linux/arm64")
    assert arm.of_type("docker:index/image:Image")[0].inputs["build"]["platform"] == "linux/arm64"


def test_endpoint_cluster_needs_a_way_in_for_the_workstation(render: Render, evidence: EvidenceSet) -> None:
    files = evidence.standard()
    cutover = ("stage=cutover", "endpoint=cluster", *evidence.overrides(files))
    with pytest.raises(pulumi.RunError, match="leaves the workstation's clients") as refused:
        render("railiance01", *cutover, "clientPortForward=false")
    assert "pulumi config set state-hub-infra:clientPortForward true" in str(refused.value)
    forwarded = render("railiance01", *cutover)
    assert forwarded.outputs["clientAccess"] == {
        "portForward": "kubectl -n railiance-apps port-forward svc/state-hub-api 8000:8000"
    }
    through_namespace = render("railiance01", *cutover, "clientPortForward=false", "accessNamespaces=['tailscale']")
    assert through_namespace.outputs["clientAccess"] == {"namespaces": ["tailscale"]}
    ingress = render("railiance01", *cutover, "clientPortForward=false", *PRIVATE_INGRESS)
    assert ingress.outputs["clientAccess"]["privateIngress"].startswith("http://state-hub.railiance.internal")
    # endpoint wsl2: the front door has no pod behind it (a port-forward to it would fail): the workstation serves
    wsl2 = {"workstation": "http://127.0.0.1:8000 (the workstation's State Hub: endpoint is wsl2)"}
    assert render("railiance01").outputs["clientAccess"] == wsl2
    rolled_back = render("railiance01", "stage=cutover", "endpoint=wsl2", *evidence.overrides(files))
    assert rolled_back.outputs["clientAccess"] == wsl2


def test_railiance01_database_is_pinned_by_digest_with_guaranteed_qos(render: Render) -> None:
    spec = one(render("railiance01"), "Cluster")["spec"]
    assert "-standard-" in spec["imageName"] and "@sha256:" in spec["imageName"]
    assert spec["resources"]["requests"] == spec["resources"]["limits"]


@pytest.mark.parametrize(
    ("image", "problem"),
    [
        ("ghcr.io/cloudnative-pg/postgresql:17.6-standard-trixie", "pin it by digest too"),
        ("ghcr.io/cloudnative-pg/postgresql:17.6-system-trixie@sha256:" + "a" * 64, "the system flavour"),
    ],
)
def test_a_moving_or_deprecated_database_image_is_refused(render: Render, image: str, problem: str) -> None:
    with pytest.raises(pulumi.RunError, match=problem):
        render("railiance01", f"dbImageName={image}")


def test_the_rollback_window_can_turn_on_superuser_access(render: Render) -> None:
    run = render("railiance01", "dbSuperuserAccess=true")
    assert one(run, "Cluster")["spec"]["enableSuperuserAccess"] is True
    assert run.outputs["dbSuperuserSecret"] == "state-hub-db-superuser"
    assert "dbSuperuserSecret" not in render("railiance01").outputs


def test_railiance01_keeps_its_volumes_on_a_retain_class_created_before_the_cluster(render: Render) -> None:
    run = render("railiance01")
    storage_class = manifest(run, "StorageClass", "local-path-retain")
    assert storage_class["reclaimPolicy"] == "Retain"
    assert storage_class["provisioner"] == "rancher.io/local-path"
    assert storage_class["volumeBindingMode"] == "WaitForFirstConsumer"
    assert one(run, "Cluster")["spec"]["storage"]["storageClass"] == "local-path-retain"
    created = run.named("state-hub-db-storage-class")
    assert created.retain_on_delete
    assert created.urn in run.named("state-hub-db-cluster").dependencies
    platform_class = render("railiance01", "dbRetainStorageClass=false", "dbStorageClass=local-path")
    assert platform_class.of_type("kubernetes:storage.k8s.io") == []


DEPLOYED_20GI = {"dbRwService": "state-hub-db-rw.databases.svc", "dbStorageSize": "20Gi"}


def test_a_bigger_volume_on_a_class_that_cannot_expand_is_refused(render: Render) -> None:
    """cnpg would wait on a resize local-path never makes, reconcile nothing else, and refuse to shrink back."""
    with pytest.raises(pulumi.RunError) as refused:
        render("railiance01", "dbStorageSize=30Gi", previous_outputs=DEPLOYED_20GI)
    assert str(refused.value).startswith(
        "state-hub-infra:dbStorageSize 20Gi -> 30Gi is refused: the class local-path-retain cannot expand"
    )
    assert "pulumi config set state-hub-infra:dbStorageSize 20Gi" in str(refused.value)
    with pytest.raises(pulumi.RunError, match="10Gi is refused"):
        render("railiance01", "dbStorageSize=10Gi", previous_outputs=DEPLOYED_20GI)  # nor smaller


@pytest.mark.parametrize(
    ("override", "previous"),
    [
        ("dbStorageSize=20480Mi", DEPLOYED_20GI),  # the same size, written otherwise
        ("dbStorageSize=30Gi", {}),  # the first update: nothing is bound yet
        ("dbStorageExpandable=true", DEPLOYED_20GI | {"dbStorageSize": "10Gi"}),  # the class grows volumes
    ],
)
def test_an_unchanged_or_growable_volume_size_is_accepted(
    render: Render, override: str, previous: dict[str, object]
) -> None:
    run = render("railiance01", override, previous_outputs=previous)
    assert one(run, "Cluster")["spec"]["storage"]["size"] in ("20Gi", "20480Mi", "30Gi")


def test_pods_pull_with_the_configured_secrets(render: Render) -> None:
    run = render("railiance01", "imagePullSecrets=['state-hub-registry']")
    for kind, name in (("Deployment", "state-hub"), ("Job", None)):
        found = one(run, kind) if name is None else manifest(run, kind, name)
        assert found["spec"]["template"]["spec"]["imagePullSecrets"] == [{"name": "state-hub-registry"}]
    assert (
        "imagePullSecrets" not in manifest(render("railiance01"), "Deployment", "state-hub")["spec"]["template"]["spec"]
    )


@pytest.mark.parametrize(
    ("override", "problem"),
    [
        ("ingressAllowCidrs=['10.42.3.0/24']", "overlaps the cluster's own clusterPodCidr 10.42.0.0/16"),
        ("ingressAllowCidrs=['10.0.0.0/8']", "overlaps the cluster's own clusterPodCidr"),
        ("ingressAllowCidrs=['10.43.0.10/32']", "overlaps the cluster's own clusterServiceCidr 10.43.0.0/16"),
        *[(f"ingressAllowCidrs=['{cidr}']", what) for cidr, what in IPV4_CARRYING_RANGES.items()],
        ("ingressAllowCidrs=['::ffff:10.1.0.0/112']", "IPv4-mapped"),
        ("ingressAllowCidrs=['2002:c0a8::/32']", "6to4"),
        ("hostname=State_Hub.internal", "not an RFC 1123 host name"),
        ("hostname=state-hub..internal", "not an RFC 1123 host name"),
        ("hostname=-state.internal", "not an RFC 1123 host name"),
        ("hostname=10.1.2.3", "not an RFC 1123 host name"),
        ("hostname=" + "a" * 64 + ".internal", "not an RFC 1123 host name"),
        ("clusterPodCidr=10.42.0.0/33", "clusterPodCidr is '10.42.0.0/33': it is not a CIDR"),
    ],
)
def test_allow_lists_and_names_that_would_admit_too_much_are_refused(
    render: Render, override: str, problem: str
) -> None:
    with pytest.raises(pulumi.RunError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        render("railiance01", *PRIVATE_INGRESS, override)


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("imagePullSecrets=['Bad_Name']", "imagePullSecrets"),
        ("dbStorageClass=Local Path", "dbStorageClass"),
        ("imagePlatform=amd64", "imagePlatform"),
        ("accessNamespaces=['Not-A-Label']", "accessNamespaces"),
    ],
)
def test_names_kubernetes_would_reject_are_refused_by_key(render: Render, override: str, key: str) -> None:
    with pytest.raises(pulumi.RunError, match=f"state-hub-infra:{key} is"):
        render("railiance01", override)


def test_a_private_cluster_range_of_ones_own_is_honoured(render: Render) -> None:
    """A cluster on other ranges: the k3s defaults are not assumed."""
    run = render(
        "railiance01", *PRIVATE_INGRESS[:-1], "ingressAllowCidrs=['10.42.0.0/24']", "clusterPodCidr=10.10.0.0/16"
    )
    assert one(run, "Ingress")


def test_render_writes_a_readable_plan_and_never_cuts_a_line(tmp_path: Path) -> None:
    out = tmp_path / "plan"
    printed = run_script(
        "render.py",
        "--stack",
        "railiance01",
        *(f"--set={setting}" for setting in RAILIANCE01_DECIDED),
        "--out",
        str(out),
        env={**script_env(), "COLUMNS": "40"},
        timeout=120,
    )
    assert printed.returncode == 0, printed.stderr
    plan = json.loads((out / "resources.json").read_text())
    by_name = {entry["name"]: entry for entry in plan}
    cluster, job = by_name["state-hub-db-cluster"], by_name["state-hub-migrate"]
    assert set(cluster) == {"urn", "type", "name", "parent", "provider", "protect", "retainOnDelete", "dependsOn"}
    assert cluster["retainOnDelete"] is True and cluster["protect"] is False
    assert cluster["provider"].endswith("pulumi:providers:kubernetes::k8s-railiance01")
    assert cluster["parent"] == by_name["state-hub-db"]["urn"]
    assert cluster["urn"] in job["dependsOn"]  # the migration waits for the database
    assert all(dep in {e["urn"] for e in plan} for entry in plan for dep in entry["dependsOn"])
    tree = [line for line in printed.stdout.splitlines() if line.lstrip().startswith("- ")]
    assert len(tree) == len(plan)
    job_line = next(line for line in tree if " state-hub-migrate " in line)
    assert job_line.endswith("depends-on: state-hub-config, state-hub-database-url, state-hub-db-cluster)")


PG18 = "ghcr.io/cloudnative-pg/postgresql:18.1-standard-trixie@sha256:" + "8" * 64
DEPLOYED_17 = {**DEPLOYED_20GI, "dbMajor": 17}


def test_a_new_postgresql_major_needs_its_decision_and_a_fresh_backup(render: Render, evidence: EvidenceSet) -> None:
    """cnpg upgrades the only instance in place (pg_upgrade --link): one-way, so it is never one config change."""
    with pytest.raises(pulumi.RunError) as undecided:
        render("railiance01", f"dbImageName={PG18}", previous_outputs=DEPLOYED_17)
    assert str(undecided.value).startswith("state-hub-infra:dbImageName moves PostgreSQL 17 to 18")
    assert "pulumi config set state-hub-infra:dbMajorUpgrade 17->18" in str(undecided.value)
    with pytest.raises(pulumi.RunError, match="dbMajorUpgrade 17->18"):  # a decision for another move is none
        render("railiance01", f"dbImageName={PG18}", "dbMajorUpgrade=16->17", previous_outputs=DEPLOYED_17)
    with pytest.raises(pulumi.RunError, match=r"\(a major upgrade\) needs a passing status report"):
        render("railiance01", f"dbImageName={PG18}", "dbMajorUpgrade=17->18", previous_outputs=DEPLOYED_17)
    stale = evidence.status("status-old.json", age=timedelta(hours=30))
    with pytest.raises(pulumi.RunError, match="old"):
        render(
            "railiance01",
            f"dbImageName={PG18}",
            "dbMajorUpgrade=17->18",
            f"statusReport={stale}",
            previous_outputs=DEPLOYED_17,
        )
    fresh = evidence.status("status.json", age=timedelta(minutes=5))
    run = render(
        "railiance01",
        f"dbImageName={PG18}",
        "dbMajorUpgrade=17->18",
        f"statusReport={fresh}",
        previous_outputs=DEPLOYED_17,
    )
    assert one(run, "Cluster")["spec"]["imageName"] == PG18
    assert run.outputs["dbMajor"] == 18


def test_no_major_goes_back_and_a_first_update_takes_any(render: Render) -> None:
    pg16 = "ghcr.io/cloudnative-pg/postgresql:16.9-standard-trixie@sha256:" + "6" * 64
    with pytest.raises(pulumi.RunError, match="from PostgreSQL 17 to 16: no major goes back"):
        render("railiance01", f"dbImageName={pg16}", "dbMajorUpgrade=17->16", previous_outputs=DEPLOYED_17)
    assert one(render("railiance01", f"dbImageName={PG18}"), "Cluster")["spec"]["imageName"] == PG18
