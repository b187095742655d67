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
import secrets
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pulumi
from psycopg import sql

from statehub.archive import read_manifest
from statehub.comparing import compare_databases
from statehub.drilling import DRILL_REPORT, DUMP_DIR, drill
from statehub.dsn import Dsn, connect
from statehub.dumping import dump
from statehub.ephemeral import EphemeralServer, ephemeral_server
from statehub.fingerprint import fingerprint, fingerprint_digest
from statehub.freezing import freeze, unfreeze
from statehub.offline_program import ProgramRun, run_program
from statehub.pgtools import find_tool
from statehub.reports import Report, write_report
from statehub.restoring import load_archive, restore
from statehub.stack_config import load_stack_config
from statehub.syncing import sync_back
from statehub.synthetic import seed

PROJECT_DIR = Path(__file__).resolve().parents[2]
STACK = "railiance01"
DATABASE = "state_hub"
APP_ROLE = "state_hub_app"

T = TypeVar("T")


@dataclass
class StepResult:
    name: str
    seconds: float
    result: str
    """pass, fail (evidence that does not pass), stopped (a gate refused) or error."""
    detail: str = ""


@dataclass
class Rehearsal:
    """What a step (and a failure injected before it) can reach."""

    out: Path
    workstation: Dsn
    workstation_app: Dsn
    cluster: Dsn
    cluster_app: Dsn
    cluster_server: EphemeralServer
    synthetic: bool
    """Seeded synthetic State Hub (writes go to its tables) or a copy of a real source (writes go to
    an added `rehearsal_writes` table, since the real tables' columns are not ours to guess)."""
    evidence: dict[str, Path] = field(default_factory=dict)
    approval: dict[str, str] | None = None


Injection = Callable[[str, Rehearsal], None]
"""Called with each step's name before the step runs (tests inject failures with it)."""


class GateStopped(Exception):
    def __init__(self, stage: str, endpoint: str, message: str) -> None:
        super().__init__(f"gate {stage} (endpoint {endpoint}) refused: {message}")
        self.stage = stage
        self.message = message


@dataclass
class Timeline:
    steps: list[StepResult] = field(default_factory=list)
    echo: Callable[[StepResult], None] = lambda _: None

    def run(self, name: str, action: Callable[[], T], *, verdict: Callable[[T], tuple[str, str]] | None = None) -> T:
        started = time.monotonic()
        try:
            value = action()
        except GateStopped as stopped:
            self._record(StepResult(name, time.monotonic() - started, "stopped", stopped.message))
            raise
        except BaseException as error:
            self._record(StepResult(name, time.monotonic() - started, "error", str(error) or type(error).__name__))
            raise
        result, detail = verdict(value) if verdict else ("pass", "")
        self._record(StepResult(name, time.monotonic() - started, result, detail))
        return value

    def _record(self, step: StepResult) -> None:
        step.seconds = round(step.seconds, 3)
        self.steps.append(step)
        self.echo(step)

    def seconds(self, first: str, last: str) -> float:
        names = [s.name for s in self.steps]
        window = self.steps[names.index(first) : names.index(last) + 1]
        return round(sum(s.seconds for s in window), 3)


def report_verdict(report: Report) -> tuple[str, str]:
    differences = report.details.get("differences") or []
    detail = "; ".join(f"{d['kind']} {d['where']}" for d in differences[:3])
    return report.result, detail


def _grant_app(dsn: Dsn) -> None:
    with connect(dsn, autocommit=True) as conn:
        conn.execute(
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(dsn.dbname), sql.Identifier(APP_ROLE))
        )
        for statement in (
            "GRANT USAGE ON SCHEMA public TO {}",
            "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {}",
            "GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {}",
        ):
            conn.execute(sql.SQL(statement).format(sql.Identifier(APP_ROLE)))


def _app_role(server: EphemeralServer) -> Dsn:
    password = secrets.token_urlsafe(18)
    with connect(server.dsn("postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(APP_ROLE), sql.Literal(password))
        )
    return server.dsn(DATABASE).replace(user=APP_ROLE, password=password)


def simulate_writes(app: Dsn, label: str, count: int, *, synthetic: bool) -> int:
    """What the State Hub's clients do: new progress events, a task moving on, a token event."""
    with connect(app) as conn:
        if not synthetic:
            for i in range(count):
                conn.execute("INSERT INTO rehearsal_writes (label, i) VALUES (%s, %s)", (label, i))
            conn.commit()
            return count
        for i in range(count):
            conn.execute(
                "INSERT INTO progress_events (task_id, kind, payload) VALUES (1 + %s %% 900, 'note', %s)",
                (i, json.dumps({"by": label, "i": i})),
            )
        conn.execute("UPDATE tasks SET status = 'done', notes = %s WHERE id IN (2, 3)", (f"closed during {label}",))
        conn.execute("INSERT INTO token_events (agent, tokens, cost) VALUES (%s, 1234, 0.0123)", (label,))
        conn.commit()
    return count + 3


def reset_database(server_dsn: Dsn) -> None:
    """Drop and recreate the cluster stand-in's database (what recreating state-hub-db does)."""
    with connect(server_dsn.replace(dbname="postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(server_dsn.dbname)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(server_dsn.dbname)))


def checkpoint(*dsns: Dsn) -> None:
    """Flush both servers before a timed copy, so a checkpoint the earlier steps made due does not
    land inside one measurement and not the other."""
    for dsn in dsns:
        with connect(dsn, autocommit=True) as conn:
            conn.execute("CHECKPOINT")


def gate(context: Rehearsal, stage: str, endpoint: str) -> ProgramRun:
    """The real program under mocks, with this rehearsal's evidence in the stack config."""
    overrides = [f"stage={stage}", f"endpoint={endpoint}"]
    overrides += [f"{key}={path}" for key, path in context.evidence.items()]
    if context.approval:
        overrides.append(f"approval={json.dumps(context.approval)}")
    try:
        return run_program(PROJECT_DIR, load_stack_config(PROJECT_DIR, STACK, overrides))
    except pulumi.RunError as refusal:
        raise GateStopped(stage, endpoint, str(refusal)) from None


def bare_copy_seconds(source: Dsn, cluster_server: EphemeralServer) -> float:
    """`pg_dump -Fc -Z0 | pg_restore` of the same database into a fresh one: the reference cost."""
    target = cluster_server.create_database("bare_copy")
    started = time.monotonic()
    dumper = subprocess.Popen(
        [str(find_tool("pg_dump")), "-Fc", "-Z0", "-d", source.dbname],
        stdout=subprocess.PIPE,
        env=source.child_env(),
    )
    restored = subprocess.run(
        [str(find_tool("pg_restore")), "--no-owner", "-d", target.dbname],
        stdin=dumper.stdout,
        env=target.child_env(),
        capture_output=True,
        check=False,
    )
    if dumper.stdout:
        dumper.stdout.close()
    if dumper.wait() != 0 or restored.returncode != 0:
        raise RuntimeError(f"bare copy failed: {restored.stderr.decode(errors='replace')[-300:]}")
    return round(time.monotonic() - started, 3)


@dataclass
class Summary:
    result: str
    stopped_at: str | None
    steps: list[StepResult]
    window_seconds: float | None
    bare_copy_seconds: float | None
    source_unchanged: bool | None
    scale: int | None
    rows: int

    @property
    def window_ratio(self) -> float | None:
        if self.window_seconds is None or not self.bare_copy_seconds:
            return None
        return round(self.window_seconds / self.bare_copy_seconds, 2)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": "rehearsal",
            "created_at": datetime.now(UTC).isoformat(),
            "result": self.result,
            "stopped_at": self.stopped_at,
            "scale": self.scale,
            "rows": self.rows,
            "write_freeze_window_s": self.window_seconds,
            "bare_copy_s": self.bare_copy_seconds,
            "window_ratio": self.window_ratio,
            "source_unchanged": self.source_unchanged,
            "steps": [vars(s) for s in self.steps],
        }

    def markdown(self) -> str:
        lines = [
            f"# Rehearsal: {self.result}" + (f" (stopped at {self.stopped_at})" if self.stopped_at else ""),
            "",
            f"Scale: {self.scale or 'real source copy'}, {self.rows} rows. "
            f"Write-freeze window: {self.window_seconds} s; bare `pg_dump -Fc -Z0 | pg_restore`: "
            f"{self.bare_copy_seconds} s; ratio {self.window_ratio}.",
            "",
            "| step | seconds | result | detail |",
            "|---|---|---|---|",
        ]
        lines += [f"| {s.name} | {s.seconds:.3f} | {s.result} | {s.detail.replace('|', '/')} |" for s in self.steps]
        return "\n".join(lines) + "\n"


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
) -> Summary:
    """Run the rehearsal into `out` (evidence, summary.json, summary.md); servers always stopped."""
    out.mkdir(parents=True, exist_ok=True)
    timeline = Timeline(echo=echo)
    stopped_at: str | None = None
    window = bare = None
    unchanged: bool | None = None
    rows = 0
    try:
        with _stand_ins(timeline) as (ws_server, cl_server):
            context = _prepare(out, ws_server, cl_server, source=source, scale=scale, timeline=timeline)
            rows = _row_count(context.workstation)
            original = fingerprint_digest(fingerprint(source)) if source else None

            def step(name: str, action: Callable[[], T], verdict: Callable[[T], tuple[str, str]] | None = None) -> T:
                if inject:
                    inject(name, context)
                return timeline.run(name, action, verdict=verdict)

            bare = _run_workplan(context, step, source)
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
            out, Summary("fail", f"error at {last}", timeline.steps, None, None, None, None if source else scale, rows)
        )
        raise
    result = "pass" if stopped_at is None and all(s.result == "pass" for s in timeline.steps) else "fail"
    summary = Summary(result, stopped_at, timeline.steps, window, bare, unchanged, None if source else scale, rows)
    _write_summary(out, summary)
    return summary


def _write_summary(out: Path, summary: Summary) -> None:
    (out / "summary.json").write_text(json.dumps(summary.as_dict(), indent=2) + "\n")
    (out / "summary.md").write_text(summary.markdown())


def _row_count(dsn: Dsn) -> int:
    return sum(t["rows"] for t in fingerprint(dsn)["tables"].values())


def _prepare(
    out: Path,
    ws_server: EphemeralServer,
    cl_server: EphemeralServer,
    *,
    source: Dsn | None,
    scale: int,
    timeline: Timeline,
) -> Rehearsal:
    workstation = ws_server.create_database(DATABASE)
    cluster = cl_server.create_database(DATABASE)

    def fill() -> None:
        if source is None:
            with connect(workstation) as conn:
                seed(conn, scale)
        else:  # a copy of the real source: the source itself is only read (dumped)
            copy = out / "source-copy"
            dump(source, copy, compress=False)
            restore(copy, workstation)

    timeline.run("seed the workstation" if source is None else "copy the given source (read only)", fill)
    if source is not None:
        with connect(workstation, autocommit=True) as conn:
            conn.execute(
                "CREATE TABLE rehearsal_writes (id bigserial PRIMARY KEY, label text NOT NULL, i int NOT NULL)"
            )
    context = Rehearsal(
        out,
        workstation,
        _app_role(ws_server),
        cluster,
        _app_role(cl_server),
        cluster_server=cl_server,
        synthetic=source is None,
    )
    _grant_app(workstation)
    return context


def _run_workplan(context: Rehearsal, step: Callable[..., Any], source: Dsn | None) -> float:
    """Every step in order; returns the seconds of the bare reference copy."""
    out, evidence = context.out, context.evidence
    drill_dir = out / "drill"
    step("drill", lambda: drill(source or context.workstation, drill_dir), report_verdict)
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
    step("checkpoint both servers", lambda: checkpoint(context.workstation, context.cluster))
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
    step("checkpoint both servers", lambda: checkpoint(context.workstation, context.cluster))
    bare: float = step(BARE_COPY, lambda: bare_copy_seconds(context.workstation, context.cluster_server))
    _grant_app(context.cluster)
    step(
        "writes on the cluster after cutover",
        lambda: simulate_writes(context.cluster_app, "cluster", 10, synthetic=context.synthetic),
        _count,
    )
    _freeze_step(
        step, "rollback: freeze the cluster", context.cluster, context.cluster_app, out / "cluster-freeze.json"
    )
    synced = step(
        "rollback: bring the cluster's rows back to WSL2",
        lambda: sync_back(context.cluster, context.workstation),
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


def _freeze_step(step: Callable[..., Any], name: str, admin: Dsn, app: Dsn, report: Path) -> Path:
    """Freeze with the application role's write proof; returns the written report."""
    frozen = step(name, lambda: freeze(admin, app_roles=[APP_ROLE], probe=app), report_verdict)
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
