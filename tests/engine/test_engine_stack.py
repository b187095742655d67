"""`pulumi preview` and `pulumi up` of the committed railiance01 stack, for real, against a real API server.

What these prove that the offline tier cannot: the CLI accepts the project and stack files, the
provider's checks and the server's schemas (cnpg's CRD with its CEL rules included) accept every
object, the state file holds no secret in clear text, `protect` holds, and a refusal reaches the
operator as the CLI prints it.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from pulumi import automation as auto

from components.app import SETTINGS_VERSION
from statehub.engine.control_plane import LocalCluster
from statehub.engine.engine_program import create_engine_stack
from statehub.engine.pki import CONTEXT
from statehub.offline.stack_config import StackConfigError, load_stack_config
from statehub.policy.evidence_settings import REGISTRY_CHECK_EXCEPTION_KEY
from statehub.rehearsal.gate_runs import STAND_IN_DECISIONS, refusal_line
from tests.engine.conftest import PROJECT_DIR, NewStack

PREBUILT = "registry.railiance.internal:5000/state-hub@sha256:" + "5" * 64


def planned(preview: auto.PreviewResult) -> dict[str, int]:
    return {op.value if hasattr(op, "value") else str(op): n for op, n in preview.change_summary.items()}


@pytest.mark.parametrize("override", ["stage=", "dbInstances=two"], ids=["missing key", "wrong type"])
def test_cli_refuses_with_the_words_the_offline_runner_uses(new_stack: NewStack, override: str) -> None:
    key, _, value = override.partition("=")
    engine = new_stack(**({key: value} if value else {}))
    if not value:
        engine.stack.remove_config(f"state-hub-infra:{key}")
    with pytest.raises(auto.CommandError) as refused:
        engine.stack.preview()
    with pytest.raises(StackConfigError) as offline:
        load_stack_config(PROJECT_DIR, "railiance01", [override])
    assert str(offline.value) in str(refused.value)


def test_preview_at_stage_image_with_a_prebuilt_image(new_stack: NewStack) -> None:
    engine = new_stack(stage="image", image=PREBUILT)
    preview = engine.stack.preview()
    assert planned(preview).get("create", 0) >= 1  # the stack itself
    assert "error" not in preview.stderr.lower()


def test_preview_at_stage_empty_plans_every_object(new_stack: NewStack) -> None:
    engine = new_stack()
    preview = engine.stack.preview(diff=True)
    for name in (
        "state-hub-db-cluster",
        "state-hub-db-owner",
        "state-hub-api",
        "state-hub-migrate",
        "state-hub-front-door",
    ):
        assert name in preview.stdout, name
    assert planned(preview)["create"] >= 15


def test_up_at_stage_empty_creates_what_the_cluster_reads_back(new_stack: NewStack, cluster: LocalCluster) -> None:
    password = "s3cret-" + "x" * 20
    engine = new_stack(secret_config={"dbOwnerPassword": password})
    up = engine.stack.up()
    assert up.summary.result == "succeeded"
    api = cluster.api
    db = api.get("/apis/postgresql.cnpg.io/v1/namespaces/databases/clusters/state-hub-db")
    assert db["spec"]["bootstrap"]["initdb"]["owner"] == "state_hub"
    assert db["spec"]["enableSuperuserAccess"] is False
    assert db["metadata"]["labels"]["app.kubernetes.io/part-of"]
    owner = api.get("/api/v1/namespaces/databases/secrets/state-hub-db-owner")
    assert owner["type"] == "kubernetes.io/basic-auth"
    deployments = api.get("/apis/apps/v1/namespaces/railiance-apps/deployments")["items"]
    assert [d["metadata"]["name"] for d in deployments] == ["state-hub"]
    assert deployments[0]["spec"]["template"]["spec"]["containers"][0]["image"] == STAND_IN_DECISIONS["image"]
    jobs = api.get("/apis/batch/v1/namespaces/railiance-apps/jobs")["items"]
    assert len(jobs) == 1 and jobs[0]["spec"]["template"]["spec"]["containers"][0]["command"]
    services = {s["metadata"]["name"] for s in api.get("/api/v1/namespaces/railiance-apps/services")["items"]}
    assert {"state-hub", "state-hub-api"} <= services
    policies = api.get("/apis/networking.k8s.io/v1/namespaces/databases/networkpolicies")["items"]
    assert [p["metadata"]["name"] for p in policies] == ["state-hub-db-egress", "state-hub-db-ingress"]
    state = "".join(p.read_text() for p in engine.state_dir.rglob("*.json"))
    assert "state-hub-db-cluster" in state  # it is the state file
    assert password not in state
    assert "postgresql+psycopg://state_hub:" not in state

    # a rotated password rolls the app's pods in the same update: they read DATABASE_URL only when they start
    def settings_version() -> str:
        template = api.get("/apis/apps/v1/namespaces/railiance-apps/deployments/state-hub")["spec"]["template"]
        return str(template["metadata"]["annotations"][SETTINGS_VERSION])

    before = settings_version()
    assert before.count("/") == 1 and all(before.split("/"))  # the ConfigMap's and the Secret's versions
    rotated = "r0tated-" + "y" * 20
    engine.stack.set_config("state-hub-infra:dbOwnerPassword", auto.ConfigValue(rotated, secret=True))
    assert engine.stack.up().summary.result == "succeeded"
    assert settings_version() != before
    state = "".join(p.read_text() for p in engine.state_dir.rglob("*.json"))
    assert rotated not in state


def test_a_refusing_gate_is_one_error_line_and_a_non_zero_exit(new_stack: NewStack) -> None:
    engine = new_stack(stage="restore")
    with pytest.raises(auto.CommandError) as refused:
        engine.stack.preview()
    output = str(refused.value)
    assert "code: 255" in output or "code: 1" in output
    errors = [line.strip() for line in output.splitlines() if line.strip().startswith("error: stage restore")]
    assert len(errors) == 1, output
    assert refusal_line(output).startswith("stage restore needs a passing drill report")
    assert "Traceback" not in output


def test_what_the_last_update_forbids_is_refused_and_changes_nothing(
    new_stack: NewStack, cluster: LocalCluster
) -> None:
    """The program reads its own stack's last outputs through the real engine: a bigger volume on a class that
    cannot grow one (issue 24, item 4), and going back to stage image (issue 10, item 2)."""
    engine = new_stack()
    engine.stack.set_config("state-hub-infra:imagePullSecrets[0]", auto.ConfigValue("state-hub-registry"), path=True)
    assert engine.stack.up().summary.result == "succeeded"
    api = cluster.api
    storage_class = api.get("/apis/storage.k8s.io/v1/storageclasses/local-path-retain")
    assert storage_class["reclaimPolicy"] == "Retain"
    pod_spec = api.get("/apis/apps/v1/namespaces/railiance-apps/deployments/state-hub")["spec"]["template"]["spec"]
    assert pod_spec["imagePullSecrets"] == [{"name": "state-hub-registry"}]

    engine.stack.set_config("state-hub-infra:dbStorageSize", auto.ConfigValue("40Gi"))
    engine.stack.set_config("state-hub-infra:dbCpuLimit", auto.ConfigValue("2"))  # changed in the same update
    with pytest.raises(auto.CommandError) as refused:
        engine.stack.up()
    assert refusal_line(str(refused.value)).startswith("state-hub-infra:dbStorageSize 20Gi -> 40Gi is refused")
    assert "Traceback" not in str(refused.value)
    spec = api.get("/apis/postgresql.cnpg.io/v1/namespaces/databases/clusters/state-hub-db")["spec"]
    assert spec["storage"]["size"] == "20Gi" and spec["resources"]["limits"]["cpu"] == "1"  # the Cluster untouched
    engine.stack.set_config("state-hub-infra:dbStorageSize", auto.ConfigValue("20Gi"))
    engine.stack.set_config("state-hub-infra:dbCpuLimit", auto.ConfigValue("1"))
    pg18 = "ghcr.io/cloudnative-pg/postgresql:18.1-standard-trixie@sha256:" + "8" * 64
    pg17 = engine.stack.get_config("state-hub-infra:dbImageName").value
    engine.stack.set_config("state-hub-infra:dbImageName", auto.ConfigValue(pg18))
    with pytest.raises(auto.CommandError) as major:
        engine.stack.up()
    assert refusal_line(str(major.value)).startswith("state-hub-infra:dbImageName moves PostgreSQL 17 to 18")
    live_image = api.get("/apis/postgresql.cnpg.io/v1/namespaces/databases/clusters/state-hub-db")["spec"]["imageName"]
    assert live_image.startswith("ghcr.io/cloudnative-pg/postgresql:17.")
    engine.stack.set_config("state-hub-infra:dbImageName", auto.ConfigValue(pg17))
    assert engine.stack.up().summary.result == "succeeded"  # put back, it applies: the refusals recorded nothing

    engine.stack.set_config("state-hub-infra:stage", auto.ConfigValue("image"))
    for _ in range(2):  # the refused update recorded nothing that would let the second one through
        with pytest.raises(auto.CommandError) as refused:
            engine.stack.up()
        assert refusal_line(str(refused.value)).startswith("stage image after stage empty or later is refused")
    assert api.get("/apis/apps/v1/namespaces/railiance-apps/deployments/state-hub")["metadata"]["name"]
    assert api.get("/apis/postgresql.cnpg.io/v1/namespaces/databases/clusters/state-hub-db")["metadata"]["name"]


def test_the_dev_stack_previews_and_applies_with_its_own_namespaces(
    engine_bin: Path, cluster: LocalCluster, tmp_path: Path
) -> None:
    """dev creates its namespaces (Pod Security restricted, default-deny ingress): given names of their
    own here, since the local API server already has the platform's."""
    engine = create_engine_stack(
        PROJECT_DIR,
        "dev",
        tmp_path / "dev",
        engine_bin,
        config={
            "kubeconfig": str(cluster.kubeconfig),
            "kubeContext": CONTEXT,
            "apiOnlyCluster": "true",
            "dbNamespace": "dev-databases",
            "appNamespace": "dev-apps",
            # dev's image is a placeholder digest no registry holds: the stand-ins' recorded exception
            REGISTRY_CHECK_EXCEPTION_KEY: STAND_IN_DECISIONS[REGISTRY_CHECK_EXCEPTION_KEY],
        },
        secret_config={"dbOwnerPassword": secrets.token_urlsafe(24)},
    )
    assert engine.stack.preview().change_summary
    assert engine.stack.up().summary.result == "succeeded"
    namespace = cluster.api.get("/api/v1/namespaces/dev-databases")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert cluster.api.get("/apis/postgresql.cnpg.io/v1/namespaces/dev-databases/clusters/state-hub-db")["spec"]
