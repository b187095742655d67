"""Stage stabilise: backups of state-hub-db with the Barman Cloud plugin, refused while undecided."""

from __future__ import annotations

from datetime import timedelta

import pulumi
import pytest

from components.backups import BARMAN_PLUGIN
from statehub.policy.settings import OBJECT_STORE_NAME, RECOVERY_DRILL_NAME
from tests.program.conftest import BACKUP_DECIDED, Render, by_kind, crd_validator, manifest, one
from tests.program.evidence_set import EvidenceSet


def stabilise(evidence: EvidenceSet) -> list[str]:
    return ["stage=stabilise", "endpoint=cluster", *evidence.overrides(evidence.standard())]


def test_an_undecided_store_refuses_stage_stabilise_by_name(render: Render, evidence: EvidenceSet) -> None:
    with pytest.raises(pulumi.RunError, match="state-hub-infra:backupDestinationPath is unset: it is needed for stage"):
        render("railiance01", *stabilise(evidence))
    assert by_kind(render("railiance01"), "ObjectStore") == []  # no backup objects before stabilise


@pytest.mark.parametrize(
    ("override", "problem"),
    [
        ("backupSchedule=0 3 * * *", "would run every hour, not once a day"),
        ("backupSchedule=daily", "six fields, seconds first"),
        ("backupRetention=30", "a number and d, w or m"),
        ("backupDestinationPath=/backups", "s3://bucket"),
        ("backupEndpointUrl=minio:9000", "http(s) URL"),
        ("backupCredentialsSecret=", "backupCredentialsSecret is unset"),
    ],
)
def test_bad_backup_settings_are_refused(render: Render, evidence: EvidenceSet, override: str, problem: str) -> None:
    with pytest.raises(pulumi.RunError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        render("railiance01", *stabilise(evidence), *BACKUP_DECIDED, override)


def test_stabilise_renders_the_store_the_schedule_the_archiver_and_the_egress(
    render: Render, evidence: EvidenceSet
) -> None:
    run = render("railiance01", *stabilise(evidence), *BACKUP_DECIDED)
    store = one(run, "ObjectStore")
    assert store["apiVersion"] == "barmancloud.cnpg.io/v1" and store["metadata"]["name"] == OBJECT_STORE_NAME
    configuration = store["spec"]["configuration"]
    assert configuration["destinationPath"] == "s3://state-hub-backups/railiance01"
    assert configuration["endpointURL"] == "https://minio.railiance.internal"
    assert configuration["s3Credentials"]["accessKeyId"] == {
        "name": "state-hub-backup-credentials",
        "key": "ACCESS_KEY_ID",
    }
    assert store["spec"]["retentionPolicy"] == "30d"
    schedule = one(run, "ScheduledBackup")["spec"]
    assert schedule == {
        "schedule": "0 0 3 * * *",
        "cluster": {"name": "state-hub-db"},
        "method": "plugin",
        "pluginConfiguration": {"name": BARMAN_PLUGIN},
        "backupOwnerReference": "self",
        "immediate": False,  # the first backup is a Backup of its own, which the stage waits for
    }
    first = one(run, "Backup")
    assert first["spec"] == {
        "cluster": {"name": "state-hub-db"},
        "method": "plugin",
        "pluginConfiguration": {"name": BARMAN_PLUGIN},
    }
    assert first["metadata"]["annotations"]["pulumi.com/waitFor"] == "jsonpath={.status.phase}=completed"
    cluster = manifest(run, "Cluster", "state-hub-db")
    # its status is stale right after the update (the backup waits for the sidecar on the pods instead)
    assert cluster["metadata"]["annotations"]["pulumi.com/waitFor"] == "condition=Ready"
    assert cluster["spec"]["plugins"] == [
        {"name": BARMAN_PLUGIN, "isWALArchiver": True, "parameters": {"barmanObjectName": OBJECT_STORE_NAME}}
    ]
    egress = manifest(run, "NetworkPolicy", "state-hub-db-egress")
    assert egress["spec"]["policyTypes"] == ["Egress"]
    opened = {p["port"] for rule in egress["spec"]["egress"] for p in rule["ports"]}
    assert {53, 443, 6443, 5432, 8000} <= opened  # the store is https://minio.railiance.internal: 443, from its URL
    sidecar = store["spec"]["instanceSidecarConfiguration"]["resources"]
    assert sidecar["requests"] == sidecar["limits"] == {"cpu": "200m", "memory": "256Mi"}  # Guaranteed QoS stays
    assert "backupOwnerReference" not in cluster["spec"]  # the in-tree barmanObjectStore is not used either
    assert "backup" not in cluster["spec"]
    crd_validator("barmancloud.cnpg.io_objectstores.yaml").validate(store)
    crd_validator("postgresql.cnpg.io_scheduledbackups.yaml").validate(one(run, "ScheduledBackup"))
    crd_validator("postgresql.cnpg.io_backups.yaml").validate(first)
    crd_validator("postgresql.cnpg.io_clusters.yaml").validate(cluster)


def test_the_recovery_drill_is_a_cluster_of_its_own(render: Render, evidence: EvidenceSet) -> None:
    status = evidence.status("status", age=timedelta(hours=1))
    run = render("railiance01", *stabilise(evidence), *BACKUP_DECIDED, "recoveryDrill=true", f"statusReport={status}")
    drill = manifest(run, "Cluster", RECOVERY_DRILL_NAME)
    assert drill["metadata"]["name"] != "state-hub-db"
    assert drill["spec"]["bootstrap"] == {
        # the live owner's Secret: the drill compares with the live database as the same user (pods tier)
        "recovery": {
            "source": OBJECT_STORE_NAME,
            "database": "state_hub",
            "owner": "state_hub",
            "secret": {"name": "state-hub-db-owner"},
        }
    }
    live = manifest(run, "Cluster", "state-hub-db")
    assert drill["spec"]["postgresql"] == live["spec"]["postgresql"]  # the live parameters
    assert drill["spec"]["resources"]["requests"] == {
        "cpu": "100m",
        "memory": "256Mi",
    }  # Burstable, beside the live one
    (external,) = drill["spec"]["externalClusters"]
    assert external["plugin"]["parameters"] == {"barmanObjectName": OBJECT_STORE_NAME, "serverName": "state-hub-db"}
    assert "plugins" not in drill["spec"]  # it archives nothing into the live store
    assert not run.named("state-hub-backups-recovery-drill").protect
    crd_validator("postgresql.cnpg.io_clusters.yaml").validate(drill)


def test_the_recovery_drill_needs_room_on_the_node(render: Render, evidence: EvidenceSet) -> None:
    """Its volume is as large as the live one, on the same disk: a fresh status report must show that much free."""
    drill = ["recoveryDrill=true", *stabilise(evidence), *BACKUP_DECIDED]
    with pytest.raises(pulumi.RunError, match=r"a recovery drill\) needs a passing status report"):
        render("railiance01", *drill)
    tight = evidence.status("tight", age=timedelta(hours=1), node_disks={"n": {"available_bytes": 5 * 2**30}})
    with pytest.raises(
        pulumi.RunError, match=r"needs 20Gi of disk on the node, and the status report shows at most 5\.0"
    ):
        render("railiance01", *drill, f"statusReport={tight}")
    old = evidence.status("old", age=timedelta(hours=1), node_disks=None)
    with pytest.raises(pulumi.RunError, match=r"has no node disk figures"):
        render("railiance01", *drill, f"statusReport={old}")
    hostile = evidence.status("hostile", age=timedelta(hours=1), node_disks={"n": {"available_bytes": "lots"}})
    with pytest.raises(pulumi.RunError, match=r"has no node disk figures"):
        render("railiance01", *drill, f"statusReport={hostile}")


def test_the_store_port_comes_from_its_url(render: Render, evidence: EvidenceSet) -> None:
    """The egress opens the store's own port (the MinIO API's 9000 here), not a separate key that could say 443."""
    decided = [o for o in BACKUP_DECIDED if not o.startswith("backupEndpointUrl=")]
    run = render(
        "railiance01", *stabilise(evidence), *decided, "backupEndpointUrl=http://minio.railiance.internal:9000"
    )
    egress = manifest(run, "NetworkPolicy", "state-hub-db-egress")
    opened = {p["port"] for rule in egress["spec"]["egress"] for p in rule["ports"]}
    assert 9000 in opened and 80 not in opened
    with pytest.raises(pulumi.RunError, match="backupStorePort"):
        render("railiance01", *stabilise(evidence), *BACKUP_DECIDED, "backupStorePort=443")  # no longer a key


def test_a_lost_database_is_rebuilt_from_the_store(render: Render, evidence: EvidenceSet) -> None:
    """rebuildFromBackup makes state-hub-db by cnpg's recovery from the store (with the live owner's Secret), and
    it archives into another folder; the recovery drill then recovers from that new folder."""
    status = evidence.status("status", age=timedelta(hours=1))
    rebuild = ["rebuildFromBackup=state-hub-db", "backupServerName=state-hub-db-2"]
    run = render(
        "railiance01", *stabilise(evidence), *BACKUP_DECIDED, *rebuild, "recoveryDrill=true", f"statusReport={status}"
    )
    live = manifest(run, "Cluster", "state-hub-db")["spec"]
    assert live["bootstrap"] == {
        "recovery": {
            "source": OBJECT_STORE_NAME,
            "database": "state_hub",
            "owner": "state_hub",
            "secret": {"name": "state-hub-db-owner"},
        }
    }
    (source,) = live["externalClusters"]
    assert source["plugin"]["parameters"] == {"barmanObjectName": OBJECT_STORE_NAME, "serverName": "state-hub-db"}
    (archiver,) = live["plugins"]
    assert archiver["parameters"] == {"barmanObjectName": OBJECT_STORE_NAME, "serverName": "state-hub-db-2"}
    crd_validator("postgresql.cnpg.io_clusters.yaml").validate(manifest(run, "Cluster", "state-hub-db"))
    drill = manifest(run, "Cluster", RECOVERY_DRILL_NAME)["spec"]
    assert drill["externalClusters"][0]["plugin"]["parameters"]["serverName"] == "state-hub-db-2"
    plain = manifest(render("railiance01", *stabilise(evidence), *BACKUP_DECIDED), "Cluster", "state-hub-db")["spec"]
    assert "initdb" in plain["bootstrap"] and "externalClusters" not in plain
    assert plain["plugins"][0]["parameters"] == {"barmanObjectName": OBJECT_STORE_NAME}  # no roll of the instance


def test_a_rebuild_needs_the_store_and_a_new_folder(render: Render, evidence: EvidenceSet) -> None:
    with pytest.raises(pulumi.RunError, match=r"backupServerName is 'state-hub-db': rebuilding from 'state-hub-db'"):
        render("railiance01", *stabilise(evidence), *BACKUP_DECIDED, "rebuildFromBackup=state-hub-db")
    with pytest.raises(pulumi.RunError, match=r"rebuildFromBackup is 'state-hub-db': a rebuild from the store needs"):
        render("railiance01", "rebuildFromBackup=state-hub-db")
    with pytest.raises(pulumi.RunError, match=r"it is not a folder name of the store"):
        render("railiance01", *stabilise(evidence), *BACKUP_DECIDED, "backupServerName=../x")
