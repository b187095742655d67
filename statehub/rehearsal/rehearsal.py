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

from standins.state_hub.serving import migrate, serving_each
from statehub.data.api_checks import get_json, probe_health
from statehub.data.approval_packet import Packet, build_packet
from statehub.data.archive import read_manifest
from statehub.data.comparing import ApiCheck, compare_databases
from statehub.data.drilling import DRILL_REPORT, DUMP_DIR, drill
from statehub.data.dsn import Dsn, connect
from statehub.data.dumping import dump
from statehub.data.ephemeral import EphemeralServer, ephemeral_server
from statehub.data.fingerprint import fingerprint
from statehub.data.freezing import freeze, frozen_fingerprint, unfreeze
from statehub.data.report_files import write_report
from statehub.data.resetting import reset_for_copy
from statehub.data.restoring import load_archive, restore
from statehub.data.syncing import sync_back
from statehub.data.synthetic import seed
from statehub.data.tcp_relay import TcpRelay, relaying
from statehub.policy.api_contract import HEALTH_PATH, SUMMARY_PATH
from statehub.policy.evidence import FINAL_COMPARE, FREEZE, RESTORE_COMPARE
from statehub.policy.evidence_settings import API_CHECK_EXCEPTION_KEY
from statehub.policy.fingerprints import fingerprint_digest
from statehub.policy.refusal import GateRefusal
from statehub.policy.report import Report
from statehub.rehearsal.gate_runs import GateRun, Gates, MockGates
from statehub.rehearsal.stand_ins import (
    APP_ROLE,
    CLUSTER_OWNER,
    DATABASE,
    bare_copy_seconds,
    checkpoint,
    create_app_role,
    create_cluster_owner,
    grant_app,
    simulate_writes,
)
from statehub.rehearsal.timeline import GateStopped, StepResult, Summary, T, Timeline, report_verdict

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
    apis: StateHubs | None = None
    """The stand-in State Hubs and the front door (the synthetic rehearsal; a real source's schema is not
    the stand-in's, so its rehearsal records an API check exception instead)."""
    evidence: dict[str, Path] = field(default_factory=dict)
    approval: dict[str, str] | None = None
    front_door_summaries: dict[str, Any] = field(default_factory=dict)


@dataclass
class StateHubs:
    workstation: str
    """The workstation's State Hub (the application role): locked out while WSL2 is frozen."""
    frozen_reader: str
    """A State Hub on the operator's login to WSL2: reads the frozen database for the final compare."""
    cluster: str
    front_door: TcpRelay
    """127.0.0.1:PORT, moved between the workstation's and the cluster's State Hub like the endpoint toggle."""

    def point_front_door_at(self, base: str) -> None:
        self.front_door.destination = _address(base)

    @property
    def front_door_url(self) -> str:
        return f"http://127.0.0.1:{self.front_door.port}"


Injection = Callable[[str, Rehearsal], None]
"""Called with each step's name before the step runs (tests inject failures with it)."""


API_CHECK_EXCEPTION = {
    "by": "rehearsal",
    "at": "2026-01-01T00:00:00Z",
    "reference": "scripts/rehearse.py --source",
    "reason": "the stand-in State Hub serves the synthetic schema only, not a copy of a real source",
}


def gate(context: Rehearsal, stage: str, endpoint: str, superuser_access: bool = False) -> GateRun:
    """The real program (under mocks or the real engine), with this rehearsal's evidence in the stack config."""
    overrides = [f"stage={stage}", f"endpoint={endpoint}", f"dbSuperuserAccess={str(superuser_access).lower()}"]
    overrides += [f"{key}={path}" for key, path in context.evidence.items()]
    if context.apis is None:
        overrides.append(f"{API_CHECK_EXCEPTION_KEY}={json.dumps(API_CHECK_EXCEPTION)}")
    if context.approval:
        overrides.append(f"approval={json.dumps(context.approval)}")
    try:
        return context.gates(overrides)
    except GateRefusal as refusal:
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
    front_door: dict[str, Any] = {}
    window = bare = None
    unchanged: bool | None = None

    def summary(
        result: str, stopped: str | None, window_s: float | None, bare_s: float | None, same: bool | None
    ) -> Summary:
        """What the timeline says so far, with this rehearsal's scale, rows, engine and front door."""
        scaled = None if source else scale
        return Summary(
            result, stopped, timeline.steps, window_s, bare_s, same, scaled, _rows(out), gates.name, front_door
        )

    try:
        with _stand_ins(timeline) as (ws_server, cl_server), ExitStack() as state_hubs:
            context = _prepare(out, ws_server, cl_server, gates, source=source, scale=scale, timeline=timeline)
            context.front_door_summaries = front_door
            timeline.run(
                "migration Job: alembic upgrade head on the empty cluster database",
                lambda: migrate(context.cluster.url()),
            )
            if source is None:
                context.apis = timeline.run(
                    "start the State Hub stand-ins (workstation, frozen-WSL2 reader, cluster) and the front door",
                    lambda: _start_state_hubs(context, state_hubs),
                )
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
        _write_summary(out, summary("fail", f"error at {last}", None, None, None))
        raise
    result = "pass" if stopped_at is None and all(s.result == "pass" for s in timeline.steps) else "fail"
    return _write_summary(out, summary(result, stopped_at, window, bare, unchanged))


def _write_summary(out: Path, summary: Summary) -> Summary:
    (out / "summary.json").write_text(json.dumps(summary.as_dict(), indent=2) + "\n")
    (out / "summary.md").write_text(summary.markdown())
    return summary


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


def _start_state_hubs(context: Rehearsal, stack: ExitStack) -> StateHubs:
    """Three stand-ins, started at once (each takes seconds to import), and the front door on the workstation's."""
    dsns = (context.workstation_app, context.workstation, context.cluster)
    workstation, reader, cluster = stack.enter_context(serving_each([dsn.url() for dsn in dsns]))
    front_door = stack.enter_context(relaying(_address(workstation)))
    return StateHubs(workstation, reader, cluster, front_door)


def _address(base: str) -> tuple[str, int]:
    """(host, port) of a stand-in's base URL (http://127.0.0.1:PORT)."""
    host, port = base.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


def _compare_step(
    context: Rehearsal,
    step: Callable[..., Any],
    name: str,
    *,
    dump_dir: Path,
    label: str,
    source_api: Callable[[StateHubs], str],
    report_name: str,
) -> Path:
    """The cluster compared with a dump's fingerprint (and both State Hubs); returns the written report."""
    report = step(
        name,
        lambda: compare_databases(
            read_manifest(dump_dir).details["fingerprint"],
            context.cluster,
            source_label=label,
            api=_api_check(context, source_api),
        ),
        report_verdict,
    )
    return write_report(report, context.out / report_name)


def _api_check(context: Rehearsal, source_api: Callable[[StateHubs], str]) -> ApiCheck | None:
    """Both sides' State Hubs for a compare's API part, when this rehearsal runs them."""
    return ApiCheck(source_api(context.apis), context.apis.cluster) if context.apis else None


def _front_door_step(context: Rehearsal, step: Callable[..., Any], moment: str) -> None:
    if context.apis is not None:
        step(f"the summary through the front door, {moment}", lambda: _through_the_front_door(context, moment), _as_is)


def _through_the_front_door(context: Rehearsal, moment: str) -> tuple[str, str]:
    """Record /state/summary as a client sees it through the front door at `moment`."""
    assert context.apis is not None
    healthy, health = probe_health(context.apis.front_door_url)
    summary = get_json(context.apis.front_door_url + SUMMARY_PATH)
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


def _flip_front_door(context: Rehearsal, to: Callable[[StateHubs], str]) -> None:
    if context.apis is not None:
        context.apis.point_front_door_at(to(context.apis))


def _run_workplan(context: Rehearsal, step: Callable[..., Any]) -> float:
    """Every step in order; returns the seconds of the bare reference copy."""
    _restore_and_verify(context, step)
    _freeze_and_copy(context, step)
    bare = _cut_over(context, step)
    _roll_back(context, step)
    return bare


def _restore_and_verify(context: Rehearsal, step: Callable[..., Any]) -> None:
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
    step("empty the cluster database for the restore", lambda: reset_for_copy(context.cluster, drilled, drop=True))
    step("restore into the cluster", lambda: load_archive(drill_dir / DUMP_DIR, context.cluster))
    evidence["restoreCompareReport"] = _compare_step(
        context,
        step,
        "compare the restore",
        dump_dir=drill_dir / DUMP_DIR,
        label="drill dump",
        source_api=lambda apis: apis.workstation,
        report_name=RESTORE_COMPARE.file,
    )
    step("gate verify", lambda: gate(context, "verify", "wsl2"))
    _front_door_step(context, step, "before cutover")


def _freeze_and_copy(context: Rehearsal, step: Callable[..., Any]) -> None:
    """T07's window opens: WSL2 frozen with proof, the final copy and its compare (data and APIs)."""
    out, evidence = context.out, context.evidence
    # the cluster is not live yet: emptying it for the final copy stays outside the write-freeze window
    drilled = read_manifest(out / DRILL_DIR / DUMP_DIR).details["fingerprint"]
    step("reset the cluster database for the final copy", lambda: reset_for_copy(context.cluster, drilled, drop=True))
    step("checkpoint both servers", lambda: checkpoint(context.workstation, context.cluster_superuser))
    step(
        "writes continue on WSL2",
        lambda: simulate_writes(context.workstation_app, "workstation", 25, synthetic=context.synthetic),
        _count,
    )
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
            restore_into=context.cluster,
            unchanged_since=frozen_fingerprint(evidence["freezeReport"]),
        ),
        _copy_verdict,
    )
    evidence["finalCompareReport"] = _compare_step(
        context,
        step,
        "final compare (cluster vs the frozen WSL2's snapshot)",
        dump_dir=final_dir / DUMP_DIR,
        label="final dump of the frozen WSL2",
        source_api=lambda apis: apis.frozen_reader,
        report_name=FINAL_COMPARE.file,
    )


def _cut_over(context: Rehearsal, step: Callable[..., Any]) -> float:
    """The approval packet, the approval, stage cutover with endpoint cluster (the front door flips), and
    the bare reference copy; returns its seconds."""
    step("write the approval packet", lambda: _write_packet(context), _packet_verdict)
    step("record the approval", lambda: _approve(context))
    step("gate cutover, endpoint cluster", lambda: gate(context, "cutover", "cluster"))
    _flip_front_door(context, lambda apis: apis.cluster)
    # the reference, measured on the same frozen database the final copy read, under the same conditions
    step("checkpoint both servers", lambda: checkpoint(context.workstation, context.cluster_superuser))
    bare: float = step(BARE_COPY, lambda: bare_copy_seconds(context.workstation, context.cluster_server))
    _front_door_step(context, step, "after cutover")
    step(
        "writes on the cluster after cutover",
        lambda: simulate_writes(context.cluster, "cluster", 10, synthetic=context.synthetic),
        _count,
    )
    return bare


def _roll_back(context: Rehearsal, step: Callable[..., Any]) -> None:
    """The rollback: superuser access on, the cluster frozen, its rows brought back, WSL2 unfrozen, endpoint wsl2."""
    out = context.out
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
    _flip_front_door(context, lambda apis: apis.workstation)
    _front_door_step(context, step, "after rollback")


def _freeze_step(
    step: Callable[..., Any], name: str, admin: Dsn, app: Dsn, report: Path, *, app_role: str = APP_ROLE
) -> Path:
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


APPROVAL_PACKET = "approval.html"


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
