"""The whole migration on real pods: the rehearsal's cluster side is the stack itself, applied by the real Pulumi CLI
to a node with the real cnpg operator (no apiOnlyCluster: the normal awaits)."""

from __future__ import annotations

import json

from statehub.policy.names import FRONT_DOOR_NAME
from tests.pods.conftest import PODS_TIER, Rehearsed

pytestmark = PODS_TIER


def test_the_rehearsal_walks_every_stage_on_real_pods(rehearsed_on_pods: Rehearsed) -> None:
    summary = rehearsed_on_pods.summary
    failed = [(s.name, s.result, s.detail) for s in summary.steps if s.result != "pass"]
    assert summary.result == "pass", failed
    written = json.loads((rehearsed_on_pods.out / "summary.json").read_text())
    assert written["cluster"] == "pods" and written["engine"] == "pulumi"
    seen = summary.front_door
    assert list(seen) == ["before cutover", "after cutover", "after rollback"]
    final = json.loads((rehearsed_on_pods.out / "final-compare.json").read_text())["details"]
    assert seen["after cutover"]["counts"] == final["api"]["summary"]["target"]["counts"]  # the cluster's, live
    assert seen["before cutover"]["counts"]["progress_events"] < seen["after cutover"]["counts"]["progress_events"]
    assert seen["after rollback"]["counts"]["progress_events"] > seen["after cutover"]["counts"]["progress_events"]


def test_state_hub_db_is_cnpgs_own_with_the_workstations_locale(rehearsed_on_pods: Rehearsed) -> None:
    """Made by cnpg's initdb from the stack (dbLocale), reached through the port-forward as its owner."""
    node = rehearsed_on_pods.node
    cluster = node.api.get("/apis/postgresql.cnpg.io/v1/namespaces/databases/clusters/state-hub-db")
    assert cluster["status"]["phase"] == "Cluster in healthy state"
    assert cluster["spec"]["bootstrap"]["initdb"]["localeCollate"] == "en_US.utf8"
    restored = json.loads((rehearsed_on_pods.out / "restore-compare.json").read_text())
    assert restored["result"] == "pass" and not restored["details"]["differences"]
    drill = json.loads((rehearsed_on_pods.out / "drill" / "drill-report.json").read_text())["details"]
    assert drill["source_locale"].startswith("encoding=UTF8 collate=en_US.utf8 ctype=en_US.utf8")


def test_the_front_door_ends_on_wsl2_with_no_stale_endpoint(rehearsed_on_pods: Rehearsed) -> None:
    """After the rollback only the WSL2 endpoint is behind the front door (a Service whose selector is removed
    keeps the EndpointSlice controller's old slices, which kube-proxy would go on balancing over)."""
    node = rehearsed_on_pods.node
    slices = node.api.get(
        "/apis/discovery.k8s.io/v1/namespaces/railiance-apps/endpointslices"
        f"?labelSelector=kubernetes.io%2Fservice-name%3D{FRONT_DOOR_NAME}"
    )["items"]
    addresses = {a for s in slices for e in s.get("endpoints") or [] for a in e.get("addresses", [])}
    assert addresses == {node.netns.host_ip}


def test_the_app_ran_its_migration_and_serves_with_the_stacks_secret(rehearsed_on_pods: Rehearsed) -> None:
    node = rehearsed_on_pods.node
    jobs = node.api.get("/apis/batch/v1/namespaces/railiance-apps/jobs")["items"]
    assert jobs and all((job.get("status") or {}).get("succeeded") == 1 for job in jobs)
    deployment = node.api.get("/apis/apps/v1/namespaces/railiance-apps/deployments/state-hub")
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"].startswith(node.registry)
    final = json.loads((rehearsed_on_pods.out / "final-compare.json").read_text())["details"]
    assert final["api"]["summary"]["target"]["schema_revision"] == "8f2c1d9a4b7e"  # the Job's alembic upgrade head


def test_a_client_over_the_network_must_speak_tls(rehearsed_on_pods: Rehearsed) -> None:
    """The app reached state-hub-db with `sslmode=require` (it served the whole rehearsal); anyone else over the
    network without TLS is refused by pg_hba before authentication, and with TLS gets as far as the password."""
    node = rehearsed_on_pods.node
    address = node.api.get("/api/v1/namespaces/databases/pods/state-hub-db-1")["status"]["podIP"]

    def attempt(sslmode: str) -> str:
        target = f"host={address} dbname=state_hub user=state_hub sslmode={sslmode} connect_timeout=10"
        argv = ("exec", "state-hub-db-1", "-c", "postgres", "--", "psql", "-w", target, "-c", "SELECT 1")
        done = node.kubectl("--namespace", "databases", *argv, check=False)
        assert done.returncode != 0, done.stdout
        return done.stderr

    assert "pg_hba.conf rejects connection" in attempt("disable") and "no encryption" in attempt("disable")
    assert "no password supplied" in attempt("require")
