"""The whole migration with the real engine: the rehearsal's evidence, made by the real scripts on real
PostgreSQL, drives `pulumi preview --diff` and `pulumi up` of every stage against a real API server.

Each gate's preview must show only the changes that stage is for: restore scales the app to 0 and
removes the migration Job, verify brings both back, the endpoint toggle changes only the front door, and the Cluster is never
replaced or deleted. After cutover `pulumi destroy` is refused (the Cluster is protected).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pulumi import automation as auto

from statehub.rehearsal.gate_runs import Change, GateRun, engine_gates
from statehub.rehearsal.rehearsal import local_cluster, rehearse
from tests.program.conftest import BACKUP_DECIDED
from tests.rehearsal_evidence import rehearsal_evidence

CLUSTER = "state-hub-db-cluster"
FRONT_DOOR = {"state-hub-front-door", "state-hub-front-door-wsl2", "state-hub-front-door-service"}


def changed(run: GateRun) -> dict[str, str]:
    """Logical name -> operation, for every resource the preview would touch (not the stack itself)."""
    return {c.name: c.op for c in run.changes if c.type != "pulumi:pulumi:Stack"}


def never_replaces_the_cluster(changes: list[Change]) -> None:
    for change in changes:
        if change.name == CLUSTER:
            assert change.op not in ("replace", "delete", "create-replacement", "delete-replaced"), change


def test_every_stage_with_the_real_engine(engine_bin: Path, tmp_path: Path) -> None:
    with engine_gates(tmp_path / "engine", engine_bin, lambda _: None) as gates:
        summary = rehearse(tmp_path / "rehearsal", cluster=local_cluster(gates))
        assert summary.result == "pass", (summary.stopped_at, [s for s in summary.steps if s.result != "pass"])
        assert summary.engine == "pulumi"
        by_stage = {f"{o[0]} {o[1]}": run for o, run in gates.history}
        for run in by_stage.values():
            never_replaces_the_cluster(run.changes)

        restore = changed(by_stage["stage=restore endpoint=wsl2"])
        # replicas 0 and no migration Job, nothing else
        assert restore == {"state-hub-api": "update", "state-hub-migrate": "delete"}, restore
        assert by_stage["stage=restore endpoint=wsl2"].outputs["appReplicas"] == 0
        verify = changed(by_stage["stage=verify endpoint=wsl2"])  # the app back, after the migration on the copy
        assert verify == {"state-hub-api": "update", "state-hub-migrate": "create"}, verify
        cutover = changed(by_stage["stage=cutover endpoint=cluster"])
        assert set(cutover) - {CLUSTER} <= FRONT_DOOR, cutover  # the toggle (and protect on the Cluster)
        assert by_stage["stage=cutover endpoint=cluster"].outputs["endpoint"] == "cluster"
        superuser_on, rollback = [run for o, run in gates.history if list(o[:2]) == ["stage=cutover", "endpoint=wsl2"]]
        # the rollback turns superuser access on (cnpg's state-hub-db-superuser freezes the cluster), then off
        assert changed(superuser_on).get(CLUSTER) == "update", changed(superuser_on)
        assert set(changed(superuser_on)) - {CLUSTER} <= FRONT_DOOR, changed(superuser_on)
        assert superuser_on.outputs["dbSuperuserSecret"] == "state-hub-db-superuser"
        assert changed(rollback) == {CLUSTER: "update"}, changed(rollback)
        assert rollback.outputs["endpoint"] == "wsl2"
        assert any(w.startswith("endpoint wsl2 after cutover") for w in rollback.warnings), rollback.warnings
        assert not any("from $PATH" in w for run in by_stage.values() for w in run.warnings)  # installed plugin

        evidence = rehearsal_evidence(
            tmp_path / "rehearsal", by="engine test", reference="tests/engine/test_stage_walk.py"
        )
        stabilise = gates(["stage=stabilise", "endpoint=cluster", *evidence, *BACKUP_DECIDED])
        never_replaces_the_cluster(stabilise.changes)
        backups = {
            "state-hub-backups",
            *(f"state-hub-backups-{part}" for part in ("object-store", "first", "schedule", "egress")),
            "state-hub-db-egress",  # the database's egress (there from stage empty) now lets WAL reach the store
        }
        assert set(changed(stabilise)) - {CLUSTER} <= FRONT_DOOR | backups, changed(stabilise)
        assert changed(stabilise).get(CLUSTER) == "update"  # the WAL archiver plugin
        applied = {
            r["type"].rsplit(":", 1)[-1]: r["outputs"]["metadata"]
            for r in (gates.engine.stack.export_stack().deployment or {})["resources"]
            if r["type"].endswith((":ObjectStore", ":Backup", ":ScheduledBackup"))
        }
        assert set(applied) == {
            "ObjectStore",
            "Backup",
            "ScheduledBackup",
        }  # accepted by the API server against the CRDs
        assert all(meta.get("uid") for meta in applied.values())

        with pytest.raises(auto.CommandError) as refused:
            gates.engine.stack.destroy()
        assert "protected" in str(refused.value)
        state = gates.engine.stack.export_stack().deployment or {}
        protected = [r["urn"].rsplit("::", 1)[-1] for r in state["resources"] if r.get("protect")]
        assert protected == [CLUSTER]
