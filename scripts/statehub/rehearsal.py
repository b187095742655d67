"""The whole migration, rehearsed on this machine: every step of the workplan, in order, for real.

A "workstation" PostgreSQL (seeded synthetic State Hub, or a copy of a real source that is only
read), a "cluster" PostgreSQL standing in for state-hub-db, the real scripts' code for the data
work, and the real Pulumi program under mocks for every gate. Evidence failures do not stop the
rehearsal by themselves: the next gate reads the evidence and refuses, exactly as `pulumi
preview` would, and the rehearsal stops there with the gate's message.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from components.evidence import fingerprint_digest
from statehub.archive import read_manifest
from statehub.comparing import compare_databases
from statehub.drilling import DRILL_REPORT, DUMP_DIR, drill
from statehub.dsn import Dsn, connect
from statehub.dumping import dump
from statehub.ephemeral import EphemeralServer, ephemeral_server
from statehub.fingerprint import fingerprint
from statehub.freezing import freeze, unfreeze
from statehub.gate_runs import GateRefused, GateRun, Gates, MockGates
from statehub.reports import write_report
from statehub.restoring import load_archive, restore
from statehub.stand_ins import (
    APP_ROLE,
    CLUSTER_OWNER,
    DATABASE,
    bare_copy_seconds,
    checkpoint,
    create_app_role,
    create_cluster_owner,
    grant_app,
    reset_database,
    simulate_writes,
)
from statehub.syncing import sync_back
from statehub.synthetic import seed
from statehub.timeline import GateStopped, StepResult, Summary, T, Timeline, report_verdict

DRILL_DIR = "drill"
"""Under the rehearsal's folder: the drill's dump and reports (the cluster restore reuses the dump)."""


@dataclass
class Rehearsal:
    """What a step (and a failure injected before it) can reach."""

    out: Path
    workstation: Dsn
    workstation_app: Dsn
    cluster: Dsn
    """state-hub-db as cnpg gives it: its owner, not a superuser (restore, compare, the app)."""
    cluster_superuser: Dsn
    """`state-hub-db-superuser`, there only while dbSuperuserAccess is on: the rollback's freeze."""
    cluster_server: EphemeralServer
    gates: Gates
    synthetic: bool
    """Seeded synthetic State Hub (writes go to its tables) or a copy of a real source (writes go to
    an added `rehearsal_writes` table, since the real tables' columns are not ours to guess)."""
    evidence: dict[str, Path] = field(default_factory=dict)
    approval: dict[str, str] | None = None


Injection = Callable[[str, Rehearsal], None]
"""Called with each step's name before the step runs (tests inject failures with it)."""


def gate(context: Rehearsal, stage: str, endpoint: str, superuser_access: bool = False) -> GateRun:
    """The real program (under mocks or the real engine), with this rehearsal's evidence in the stack config."""
    overrides = [f"stage={stage}", f"endpoint={endpoint}", f"dbSuperuserAccess={str(superuser_access).lower()}"]
    overrides += [f"{key}={path}" for key, path in context.evidence.items()]
    if context.approval:
        overrides.append(f"approval={json.dumps(context.approval)}")
    try:
        return context.gates(overrides)
    except GateRefused as refusal:
        raise GateStopped(stage, endpoint, str(refusal)) from None


WINDOW = ("freeze WSL2", "gate cutover, endpoint cluster")
BARE_COPY = "reference: bare pg_dump -Fc -Z0 | pg_restore of the frozen WSL2"


@contextmanager
def _stand_ins(timeline: Timeline) -> Iterator[tuple[EphemeralServer, EphemeralServer]]:
    """The workstation and cluster servers; stopped and removed however the rehearsal ends (Ctrl-C too)."""
    with ExitStack() as servers:
        started = timeline.run(
            "start the workstation and cluster stand-ins",
            lambda: (servers.enter_context(ephemeral_server()), servers.enter_context(ephemeral_server())),
        )
        yield started


def rehearse(
    out: Path,
    *,
    source: Dsn | None = None,
    scale: int = 1,
    inject: Injection | None = None,
    echo: Callable[[StepResult], None] = lambda _: None,
    gates: Gates | None = None,
) -> Summary:
    """Run the rehearsal into `out` (evidence, summary.json, summary.md); servers always stopped."""
    out.mkdir(parents=True, exist_ok=True)
    gates = gates or MockGates()
    timeline = Timeline(echo=echo)
    stopped_at: str | None = None
    window = bare = None
    unchanged: bool | None = None
    try:
        with _stand_ins(timeline) as (ws_server, cl_server):
            context = _prepare(out, ws_server, cl_server, gates, source=source, scale=scale, timeline=timeline)
            original = fingerprint_digest(fingerprint(source)) if source else None

            def step(name: str, action: Callable[[], T], verdict: Callable[[T], tuple[str, str]] | None = None) -> T:
                if inject:
                    inject(name, context)
                return timeline.run(name, action, verdict=verdict)

            bare = _run_workplan(context, step)
            window = timeline.seconds(*WINDOW)
            if source is not None and original is not None:
                unchanged = timeline.run(
                    "the given source is unchanged",
                    lambda: fingerprint_digest(fingerprint(source)) == original,
                    verdict=lambda same: ("pass" if same else "fail", "" if same else "its fingerprint moved"),
                )
    except GateStopped as stopped:
        stopped_at = f"gate {stopped.stage}"
    except BaseException:  # an error or Ctrl-C: the servers are already stopped; keep the partial timeline
        last = timeline.steps[-1].name if timeline.steps else "start"
        _write_summary(
            out,
            Summary(
                "fail",
                f"error at {last}",
                timeline.steps,
                None,
                None,
                None,
                None if source else scale,
                _rows(out),
                gates.name,
            ),
        )
        raise
    result = "pass" if stopped_at is None and all(s.result == "pass" for s in timeline.steps) else "fail"
    summary = Summary(
        result, stopped_at, timeline.steps, window, bare, unchanged, None if source else scale, _rows(out), gates.name
    )
    _write_summary(out, summary)
    return summary


def _write_summary(out: Path, summary: Summary) -> None:
    (out / "summary.json").write_text(json.dumps(summary.as_dict(), indent=2) + "\n")
    (out / "summary.md").write_text(summary.markdown())


def _rows(out: Path) -> int:
    """Rows of the rehearsed database, as the drill counted them (0 when it did not get that far)."""
    drill_report = out / DRILL_DIR / DRILL_REPORT
    return int(json.loads(drill_report.read_text())["details"]["compare"]["rows"]) if drill_report.exists() else 0


def _prepare(
    out: Path,
    ws_server: EphemeralServer,
    cl_server: EphemeralServer,
    gates: Gates,
    *,
    source: Dsn | None,
    scale: int,
    timeline: Timeline,
) -> Rehearsal:
    workstation = ws_server.create_database(DATABASE)
    cluster = create_cluster_owner(cl_server)

    def fill() -> None:
        if source is None:
            with connect(workstation) as conn:
                seed(conn, scale)
        else:  # a copy of the real source: the source itself is only read (dumped); no copy stays behind
            with tempfile.TemporaryDirectory(prefix="state-hub-source-copy-") as copy:
                dump(source, Path(copy) / "dump", compress=False)
                restore(Path(copy) / "dump", workstation, target_role="workstation")

    timeline.run("seed the workstation" if source is None else "copy the given source (read only)", fill)
    if source is not None:
        with connect(workstation, autocommit=True) as conn:
            conn.execute(
                "CREATE TABLE rehearsal_writes (id bigserial PRIMARY KEY, label text NOT NULL, i int NOT NULL)"
            )
    context = Rehearsal(
        out,
        workstation,
        create_app_role(ws_server),
        cluster,
        cl_server.dsn(DATABASE),
        cluster_server=cl_server,
        gates=gates,
        synthetic=source is None,
    )
    grant_app(workstation)
    return context


def _run_workplan(context: Rehearsal, step: Callable[..., Any]) -> float:
    """Every step in order; returns the seconds of the bare reference copy."""
    out, evidence = context.out, context.evidence
    drill_dir = out / DRILL_DIR
    # the workstation stand-in (a copy of --source, if given): the freeze and the final compare are about it too
    step("drill", lambda: drill(context.workstation, drill_dir), report_verdict)
    evidence["drillReport"] = drill_dir / DRILL_REPORT
    run = step("gate restore", lambda: gate(context, "restore", "wsl2"))
    if run.outputs.get("appReplicas") != 0:
        raise RuntimeError("stage restore did not scale the app to 0")
    step("restore into the cluster", lambda: load_archive(drill_dir / DUMP_DIR, context.cluster))
    restore_compare = out / "restore-compare.json"

    report = step(
        "compare the restore",
        lambda: compare_databases(
            read_manifest(drill_dir / DUMP_DIR).details["fingerprint"], context.cluster, source_label="drill dump"
        ),
        report_verdict,
    )
    write_report(report, restore_compare)
    evidence["restoreCompareReport"] = restore_compare
    step("gate verify", lambda: gate(context, "verify", "wsl2"))
    # the cluster is not live yet: emptying it for the final copy stays outside the write-freeze window
    step("reset the cluster database for the final copy", lambda: reset_database(context.cluster))
    step("checkpoint both servers", lambda: checkpoint(context.workstation, context.cluster_superuser))
    step(
        "writes continue on WSL2",
        lambda: simulate_writes(context.workstation_app, "workstation", 25, synthetic=context.synthetic),
        _count,
    )
    evidence["freezeReport"] = _freeze_step(
        step, "freeze WSL2", context.workstation, context.workstation_app, out / "freeze.json"
    )
    final_dir = out / "final"
    step(
        "final copy (pg_dump | pg_restore, archive kept)",
        lambda: dump(context.workstation, final_dir / DUMP_DIR, compress=False, restore_into=context.cluster),
        report_verdict,
    )
    final = step(
        "final compare (cluster vs the frozen WSL2's snapshot)",
        lambda: compare_databases(
            read_manifest(final_dir / DUMP_DIR).details["fingerprint"],
            context.cluster,
            source_label="final dump of the frozen WSL2",
        ),
        report_verdict,
    )
    evidence["finalCompareReport"] = write_report(final, out / "final-compare.json")
    step("record the approval", lambda: _approve(context))
    step("gate cutover, endpoint cluster", lambda: gate(context, "cutover", "cluster"))
    # the reference, measured on the same frozen database the final copy read, under the same conditions
    step("checkpoint both servers", lambda: checkpoint(context.workstation, context.cluster_superuser))
    bare: float = step(BARE_COPY, lambda: bare_copy_seconds(context.workstation, context.cluster_server))
    step(
        "writes on the cluster after cutover",
        lambda: simulate_writes(context.cluster, "cluster", 10, synthetic=context.synthetic),
        _count,
    )
    # cnpg has no superuser login until the rollback turns superuser access on (state-hub-db-superuser)
    step("gate cutover, endpoint wsl2, superuser access on (rollback)", lambda: gate(context, "cutover", "wsl2", True))
    _freeze_step(
        step,
        "rollback: freeze the cluster",
        context.cluster_superuser,
        context.cluster,
        out / "cluster-freeze.json",
        app_role=CLUSTER_OWNER,
    )
    synced = step(
        "rollback: bring the cluster's rows back to WSL2",
        lambda: sync_back(context.cluster_superuser, context.workstation),
        report_verdict,
    )
    write_report(synced, out / "sync-back.json")
    thawed = step(
        "rollback: unfreeze WSL2", lambda: unfreeze(context.workstation, probe=context.workstation_app), report_verdict
    )
    write_report(thawed, out / "unfreeze.json")
    rollback = step("gate cutover, endpoint wsl2 (rollback)", lambda: gate(context, "cutover", "wsl2"))
    if not rollback.warnings:
        raise RuntimeError("the rollback gate printed no reminder")
    return bare


def _freeze_step(
    step: Callable[..., Any], name: str, admin: Dsn, app: Dsn, report: Path, *, app_role: str = APP_ROLE
) -> Path:
    """Freeze with the application role's write proof; returns the written report."""
    frozen = step(name, lambda: freeze(admin, app_roles=[app_role], probe=app), report_verdict)
    return write_report(frozen, report)


def _count(written: int) -> tuple[str, str]:
    return "pass", f"{written} writes"


def _approve(context: Rehearsal) -> None:
    files = context.evidence
    context.approval = {
        "by": "rehearsal",
        "at": datetime.now(UTC).isoformat(),
        "reference": f"rehearsal in {context.out}",
        "freezeReportSha256": hashlib.sha256(files["freezeReport"].read_bytes()).hexdigest(),
        "finalCompareReportSha256": hashlib.sha256(files["finalCompareReport"].read_bytes()).hexdigest(),
    }
