"""The workplan's steps, in order, as the rehearsal runs them: T01 (drill), T06 (restore, verify), T07 (freeze,
final copy, approval, cutover) and the rollback. Each step is the real scripts' code; each gate is the real
program, whose decisions (the endpoint, the app's replicas) the cluster side follows.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from statehub.data.api_checks import get_json, probe_health
from statehub.data.approval_packet import Packet, build_packet
from statehub.data.archive import read_manifest
from statehub.data.comparing import ApiCheck, compare_databases
from statehub.data.drilling import DRILL_REPORT, DUMP_DIR, drill
from statehub.data.dsn import Dsn, connect
from statehub.data.dumping import dump
from statehub.data.freezing import freeze, frozen_fingerprint, unfreeze
from statehub.data.report_files import write_report
from statehub.data.resetting import reset_for_copy
from statehub.data.restoring import load_archive
from statehub.data.syncing import sync_back
from statehub.policy.api_contract import HEALTH_PATH, SUMMARY_PATH
from statehub.policy.evidence import FINAL_COMPARE, FREEZE, RESTORE_COMPARE
from statehub.policy.evidence_settings import API_CHECK_EXCEPTION_KEY
from statehub.policy.refusal import GateRefusal
from statehub.policy.report import Report
from statehub.rehearsal.agents_view import AgentsView
from statehub.rehearsal.cluster_side import ClusterSide, StateHubs
from statehub.rehearsal.gate_runs import GateRun, Gates
from statehub.rehearsal.stand_ins import APP_ROLE, CLUSTER_OWNER, simulate_writes
from statehub.rehearsal.timeline import GateStopped, report_verdict

DRILL_DIR = "drill"
"""Under the rehearsal's folder: the drill's dump and reports (the cluster restore reuses the dump)."""
WINDOW = ("freeze WSL2", "gate cutover, endpoint cluster")
BARE_COPY = "reference: bare pg_dump -Fc -Z0 | pg_restore of the frozen WSL2"
APPROVAL_PACKET = "approval.html"
API_CHECK_EXCEPTION = {
    "by": "rehearsal",
    "at": "2026-01-01T00:00:00Z",
    "reference": "scripts/rehearse.py --source",
    "reason": "the stand-in State Hub serves the synthetic schema only, not a copy of a real source",
}

Step = Callable[..., Any]


@dataclass
class Rehearsal:
    """What a step (and a failure injected before it) can reach."""

    out: Path
    workstation: Dsn
    workstation_app: Dsn
    cluster: ClusterSide
    gates: Gates
    decisions: list[str]
    """Config every gate carries: what the operator decides once for the stack (the database's locale)."""
    synthetic: bool
    """Seeded synthetic State Hub (writes go to its tables) or a copy of a real source (writes go to
    an added `rehearsal_writes` table, since the real tables' columns are not ours to guess)."""
    apis: StateHubs | None = None
    """The State Hubs (the synthetic rehearsal; a real source's schema is not the stand-in's, so its
    rehearsal records an API check exception instead)."""
    agents: AgentsView | None = None
    """Progress records, the agents' MCP path and the workplan files (with the State Hubs only)."""
    evidence: dict[str, Path] = field(default_factory=dict)
    approval: dict[str, str] | None = None
    front_door_summaries: dict[str, Any] = field(default_factory=dict)


def gate(
    context: Rehearsal, stage: str, endpoint: str, superuser_access: bool = False, *, final_copy: bool = False
) -> GateRun:
    """The real program (under mocks or the real engine), with this rehearsal's evidence in the stack config;
    the cluster side then follows what it decided."""
    overrides = [f"stage={stage}", f"endpoint={endpoint}", f"dbSuperuserAccess={str(superuser_access).lower()}"]
    overrides.append(f"finalCopy={str(final_copy).lower()}")
    overrides += context.decisions
    overrides += [f"{key}={path}" for key, path in context.evidence.items()]
    if context.apis is None:
        overrides.append(f"{API_CHECK_EXCEPTION_KEY}={json.dumps(API_CHECK_EXCEPTION)}")
    if context.approval:
        overrides.append(f"approval={json.dumps(context.approval)}")
    try:
        run = context.gates(overrides)
    except GateRefusal as refusal:
        raise GateStopped(stage, endpoint, str(refusal)) from None
    context.cluster.after_gate(run)
    return run


def run_workplan(context: Rehearsal, step: Step) -> float:
    """Every step in order; returns the seconds of the bare reference copy."""
    restore_and_verify(context, step)
    freeze_and_copy(context, step)
    bare = cut_over(context, step)
    roll_back(context, step)
    return bare


def restore_and_verify(context: Rehearsal, step: Step) -> None:
    """T01 and T06: the drill, stage restore, the restore and its compare (data and APIs), stage verify."""
    out, evidence = context.out, context.evidence
    drill_dir = out / DRILL_DIR
    # the workstation stand-in (a copy of --source, if given): the freeze and the final compare are about it too
    step("drill", lambda: drill(context.workstation, drill_dir), report_verdict)
    evidence["drillReport"] = drill_dir / DRILL_REPORT
    run = step("gate restore", lambda: gate(context, "restore", "wsl2"))
    if run.outputs.get("appReplicas") != 0:
        raise RuntimeError("stage restore did not scale the app to 0")
    # what the restoreTarget export says: the migration Job's empty tables go, the restore brings them back
    drilled = read_manifest(drill_dir / DUMP_DIR).details["fingerprint"]
    owner = context.cluster.owner
    step("empty the cluster database for the restore", lambda: reset_for_copy(owner, drilled, drop=True))
    step("restore into the cluster", lambda: load_archive(drill_dir / DUMP_DIR, owner))
    evidence["restoreCompareReport"] = _compare_step(
        context,
        step,
        "compare the restore",
        dump_dir=drill_dir / DUMP_DIR,
        label="drill dump",
        apis=lambda apis: (apis.workstation, apis.restore_target),
        report_name=RESTORE_COMPARE.file,
    )
    if context.agents:  # recorded after the compare: a record is a write, and WSL2's API is compared with the copy
        context.agents.record(step, "T01", "drill", evidence["drillReport"])
        context.agents.record(step, "T06", "compare", evidence["restoreCompareReport"])
    step("gate verify", lambda: gate(context, "verify", "wsl2"))
    _front_door_step(context, step, "before cutover")
    if context.agents:
        context.agents.check_clients(step, "before cutover", context.workstation)


def freeze_and_copy(context: Rehearsal, step: Step) -> None:
    """T07's window opens: WSL2 frozen with proof, the final copy and its compare (data and APIs). The cluster's
    app is held at 0 from the reset to the end of the copy (nothing runs against a database being refilled)."""
    out, evidence, cluster = context.out, context.evidence, context.cluster
    step("gate verify, app held for the final copy", lambda: gate(context, "verify", "wsl2", final_copy=True))
    # the cluster is not live yet: emptying it for the final copy stays outside the write-freeze window
    drilled = read_manifest(out / DRILL_DIR / DUMP_DIR).details["fingerprint"]
    step("reset the cluster database for the final copy", lambda: reset_for_copy(cluster.owner, drilled, drop=True))
    step("checkpoint both servers", lambda: _checkpoint(context))
    step(
        "writes continue on WSL2",
        lambda: simulate_writes(context.workstation_app, "workstation", 25, synthetic=context.synthetic),
        _count,
    )
    if context.agents and context.apis:  # the files as the sync left them, checked before WSL2 stops taking writes
        context.agents.sync_workplan_files(context.workstation)
        context.agents.check_workplan_files(step, context.apis.workstation, "wsl2")
    evidence["freezeReport"] = _freeze_step(
        step, "freeze WSL2", context.workstation, context.workstation_app, out / FREEZE.file
    )
    final_dir = out / "final"
    step(
        "final copy (pg_dump | pg_restore, archive kept)",
        lambda: dump(
            context.workstation,
            final_dir / DUMP_DIR,
            compress=False,
            restore_into=cluster.owner,
            unchanged_since=frozen_fingerprint(evidence["freezeReport"]),
        ),
        _copy_verdict,
    )
    step("gate verify, app back on the final copy", lambda: gate(context, "verify", "wsl2"))
    evidence["finalCompareReport"] = _compare_step(
        context,
        step,
        "final compare (cluster vs the frozen WSL2's snapshot)",
        dump_dir=final_dir / DUMP_DIR,
        label="final dump of the frozen WSL2",
        apis=lambda apis: (apis.frozen_reader, apis.cluster),
        report_name=FINAL_COMPARE.file,
    )


def cut_over(context: Rehearsal, step: Step) -> float:
    """The approval packet, the approval, stage cutover with endpoint cluster (the front door follows), and
    the bare reference copy; returns its seconds."""
    step("write the approval packet", lambda: _write_packet(context), _packet_verdict)
    step("record the approval", lambda: _approve(context))
    step("gate cutover, endpoint cluster", lambda: gate(context, "cutover", "cluster"))
    # the reference, measured on the same frozen database the final copy read, under the same conditions
    step("checkpoint both servers", lambda: _checkpoint(context))
    bare: float = step(BARE_COPY, lambda: context.cluster.bare_copy_seconds(context.workstation))
    _front_door_step(context, step, "after cutover")
    if context.agents and context.apis:
        # the agents see the cluster: the cutover's done-check, recorded with the freeze (WSL2 took no record then)
        seen = context.agents.check_clients(step, "after cutover", context.cluster.owner)
        context.agents.check_workplan_files(step, context.apis.cluster, "cluster")
        context.agents.record(step, "T07", "freeze", context.evidence["freezeReport"])
        context.agents.record(step, "T07", "client-check", seen)
    step(
        "writes on the cluster after cutover",
        lambda: simulate_writes(context.cluster.owner, "cluster", 10, synthetic=context.synthetic),
        _count,
    )
    return bare


def roll_back(context: Rehearsal, step: Step) -> None:
    """The rollback: superuser access on, the cluster frozen, its rows brought back, WSL2 unfrozen, endpoint wsl2."""
    out, cluster = context.out, context.cluster
    # cnpg has no superuser login until the rollback turns superuser access on (state-hub-db-superuser)
    step("gate cutover, endpoint wsl2, superuser access on (rollback)", lambda: gate(context, "cutover", "wsl2", True))
    _freeze_step(
        step,
        "rollback: freeze the cluster",
        cluster.superuser(),
        cluster.owner,
        out / "cluster-freeze.json",
        app_role=CLUSTER_OWNER,
    )
    synced = step(
        "rollback: bring the cluster's rows back to WSL2",
        lambda: sync_back(cluster.superuser(), context.workstation),
        report_verdict,
    )
    write_report(synced, out / "sync-back.json")
    thawed = step(
        "rollback: unfreeze WSL2", lambda: unfreeze(context.workstation, probe=context.workstation_app), report_verdict
    )
    write_report(thawed, out / "unfreeze.json")
    rollback = step("gate cutover, endpoint wsl2 (rollback)", lambda: gate(context, "cutover", "wsl2"))
    if not any(w.startswith("endpoint wsl2 after cutover") for w in rollback.warnings):
        raise RuntimeError("the rollback gate printed no reminder")
    _front_door_step(context, step, "after rollback")
    if context.agents:
        context.agents.check_clients(step, "after rollback", context.workstation)


def _checkpoint(context: Rehearsal) -> None:
    """Flush both servers before a timed copy, so a checkpoint the earlier steps made due does not land inside
    one measurement and not the other."""
    with connect(context.workstation, autocommit=True) as conn:
        conn.execute("CHECKPOINT")
    context.cluster.checkpoint()


def _compare_step(
    context: Rehearsal,
    step: Step,
    name: str,
    *,
    dump_dir: Path,
    label: str,
    apis: Callable[[StateHubs], tuple[str, str]],
    report_name: str,
) -> Path:
    """The cluster compared with a dump's fingerprint (and both State Hubs); returns the written report."""

    def compare() -> Report:
        check = ApiCheck(*apis(context.apis)) if context.apis else None  # as they are when the step runs
        source = read_manifest(dump_dir).details["fingerprint"]
        return compare_databases(source, context.cluster.owner, source_label=label, api=check)

    report = step(name, compare, report_verdict)
    return write_report(report, context.out / report_name)


def _front_door_step(context: Rehearsal, step: Step, moment: str) -> None:
    if context.apis is not None:
        step(f"the summary through the front door, {moment}", lambda: _through_the_front_door(context, moment), _as_is)


def _through_the_front_door(context: Rehearsal, moment: str) -> tuple[str, str]:
    """Record /state/summary as a client sees it through the front door at `moment`."""
    assert context.apis is not None
    healthy, health = probe_health(context.apis.front_door)
    summary = get_json(context.apis.front_door + SUMMARY_PATH)
    body = summary.body if summary.status == 200 and isinstance(summary.body, dict) else {}
    context.front_door_summaries[moment] = {
        "health": health.as_dict(),
        "counts": body.get("counts"),
        "tasks_by_status": body.get("tasks_by_status"),
        "schema_revision": body.get("schema_revision"),
    }
    if not healthy or summary.status != 200:
        return "fail", f"front door: {HEALTH_PATH} HTTP {health.status}, {SUMMARY_PATH} HTTP {summary.status}"
    return "pass", f"{sum((body.get('counts') or {}).values())} items counted"


def _freeze_step(step: Step, name: str, admin: Dsn, app: Dsn, report: Path, *, app_role: str = APP_ROLE) -> Path:
    """Freeze with the application role's write proof; returns the written report."""
    frozen = step(name, lambda: freeze(admin, app_roles=[app_role], probe=app), report_verdict)
    return write_report(frozen, report)


def _as_is(verdict: tuple[str, str]) -> tuple[str, str]:
    return verdict


def _copy_verdict(manifest: Report) -> tuple[str, str]:
    carried = str(manifest.details.get("fingerprint_read", "")).startswith("carried")
    return manifest.result, "fingerprint carried from the freeze" if carried else "fingerprint read in its snapshot"


def _count(written: int) -> tuple[str, str]:
    return "pass", f"{written} writes"


def _write_packet(context: Rehearsal) -> Packet:
    """What the approver reads before the approval is recorded (the runbook's folder layout)."""
    packet = build_packet(context.out, api_check_exception=None if context.apis else API_CHECK_EXCEPTION)
    (context.out / APPROVAL_PACKET).write_text(packet.html)
    return packet


def _packet_verdict(packet: Packet) -> tuple[str, str]:
    return ("pass", APPROVAL_PACKET) if packet.ready else ("fail", f"{APPROVAL_PACKET}: the cutover gate would refuse")


def _approve(context: Rehearsal) -> None:
    files = context.evidence
    context.approval = {
        "by": "rehearsal",
        "at": datetime.now(UTC).isoformat(),
        "reference": f"rehearsal in {context.out}",
        "freezeReportSha256": hashlib.sha256(files["freezeReport"].read_bytes()).hexdigest(),
        "finalCompareReportSha256": hashlib.sha256(files["finalCompareReport"].read_bytes()).hexdigest(),
    }
