"""The whole migration, rehearsed on this machine: every step of the workplan, in order, for real.

A "workstation" PostgreSQL made as the official postgres image makes it (a seeded synthetic State Hub,
or a copy of a real source that is only read), a cluster side standing in for railiance01 (a second
local PostgreSQL made as cnpg's initdb makes state-hub-db, or the stack itself on a node that runs pods:
statehub/rehearsal/cluster_side.py), the real scripts' code for the data work (statehub/rehearsal/workplan.py)
and the real Pulumi program for every gate. Evidence failures do not stop the rehearsal by themselves: the
next gate reads the evidence and refuses, exactly as `pulumi preview` would, and the rehearsal stops there
with the gate's message.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from standins.state_hub.serving import migrate
from standins.state_hub.synthetic import seed
from statehub.data.drilling import DRILL_REPORT
from statehub.data.dsn import Dsn, connect
from statehub.data.dumping import dump
from statehub.data.ephemeral import OFFICIAL_IMAGE, EphemeralServer, ephemeral_server, flavour_of
from statehub.data.fingerprint import fingerprint
from statehub.data.restoring import restore
from statehub.data.schema_signature import database_locale
from statehub.policy.fingerprints import fingerprint_digest
from statehub.policy.settings import TargetRole
from statehub.rehearsal.agents_view import AgentsView, RecordedEvidence
from statehub.rehearsal.cluster_side import ClusterChoice, ClusterSide, local_side
from statehub.rehearsal.gate_runs import Gates, MockGates, engine_gates
from statehub.rehearsal.stand_ins import DATABASE, create_app_role, grant_app
from statehub.rehearsal.timeline import GateStopped, StepResult, Summary, T, Timeline
from statehub.rehearsal.workplan import DRILL_DIR, WINDOW, Rehearsal, run_workplan

Injection = Callable[[str, Rehearsal], None]
"""Called with each step's name before the step runs (tests inject failures with it)."""


def local_cluster(gates: Gates | None = None, cpus: str | None = None) -> ClusterChoice:
    """A second local PostgreSQL as state-hub-db (on `cpus` only, when given), gated by `gates` (the program
    under mocks by default)."""

    @contextmanager
    def open_side(locale: str) -> Iterator[tuple[ClusterSide, Gates]]:
        with local_side(locale, cpus) as side:
            yield side, gates or MockGates()

    return ClusterChoice("local", open_side)


def engine_cluster(
    work_dir: Path, bin_dir: Path, progress: Callable[[str], None], cpus: str | None = None
) -> ClusterChoice:
    """A local state-hub-db (on `cpus` only, when given) gated by the real Pulumi CLI applying the stack to an
    API server without nodes."""

    @contextmanager
    def open_side(locale: str) -> Iterator[tuple[ClusterSide, Gates]]:
        with engine_gates(work_dir, bin_dir, progress, locale=locale) as gates, local_side(locale, cpus) as side:
            yield side, gates

    return ClusterChoice("local", open_side)


def rehearse(
    out: Path,
    *,
    source: Dsn | None = None,
    scale: int = 1,
    inject: Injection | None = None,
    echo: Callable[[StepResult], None] = lambda _: None,
    cluster: ClusterChoice | None = None,
    workstation_cpus: str | None = None,
) -> Summary:
    """Run the rehearsal into `out` (evidence, summary.json, summary.md); servers always stopped.
    `workstation_cpus`: the workstation's server runs on these CPUs only (a taskset list), as on a machine of
    its own; give the cluster side the others (`local_cluster(cpus=...)`)."""
    out.mkdir(parents=True, exist_ok=True)
    cluster = cluster or local_cluster()
    timeline = Timeline(echo=echo)
    stopped_at: str | None = None
    front_door: dict[str, Any] = {}
    records: list[RecordedEvidence] = []
    window = bare = None
    unchanged: bool | None = None
    engine = "mocks"

    def summary(
        result: str, stopped: str | None, window_s: float | None, bare_s: float | None, same: bool | None
    ) -> Summary:
        """What the timeline says so far, with this rehearsal's scale, rows, engine and front door."""
        scaled = None if source else scale
        rows = _rows(out)
        return Summary(
            result,
            stopped,
            timeline.steps,
            window_s,
            bare_s,
            same,
            scaled,
            rows,
            engine,
            cluster.name,
            front_door,
            records,
        )

    try:
        with ExitStack() as resources:
            workstation_server = timeline.run(
                "start the workstation (as the official postgres image makes it)",
                lambda: resources.enter_context(_workstation_server(source, workstation_cpus)),
            )
            locale = _locale_of(workstation_server)
            side, gates = timeline.run(
                f"start the cluster side ({cluster.name}, state-hub-db with locale {locale})",
                lambda: resources.enter_context(cluster.open(locale)),
            )
            engine = gates.name
            context = _prepare(out, workstation_server, side, gates, source=source, scale=scale, timeline=timeline)
            context.decisions = [f"dbLocale={locale}"]
            context.front_door_summaries = front_door
            if not side.migrated_by_stack:
                timeline.run(
                    "migration Job: alembic upgrade head on the empty cluster database",
                    lambda: migrate(side.owner.url()),
                )
            if source is None:
                context.apis = timeline.run(
                    "start the State Hubs (workstation, frozen-WSL2 reader, cluster) and the front door",
                    lambda: side.state_hubs(context.workstation_app, context.workstation, resources),
                )
                context.agents = AgentsView(out, context.apis.front_door, records)
            original = fingerprint_digest(fingerprint(source)) if source else None

            def step(name: str, action: Callable[[], T], verdict: Callable[[T], tuple[str, str]] | None = None) -> T:
                if inject:
                    inject(name, context)
                return timeline.run(name, action, verdict=verdict)

            bare = run_workplan(context, step)
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


@contextmanager
def _workstation_server(source: Dsn | None, cpus: str | None) -> Iterator[EphemeralServer]:
    """The workstation: the official image's initdb (en_US.utf8), or a given source's own locale."""
    flavour = OFFICIAL_IMAGE
    if source is not None:
        with connect(source, autocommit=True) as conn:
            flavour = flavour_of(database_locale(conn))
    with ephemeral_server(flavour=flavour, cpus=cpus) as server:
        yield server


def _locale_of(server: EphemeralServer) -> str:
    with connect(server.dsn(), autocommit=True) as conn:
        row = conn.execute("SELECT datcollate FROM pg_database WHERE datname = 'postgres'").fetchone()
    return str(row[0]) if row else ""


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
    side: ClusterSide,
    gates: Gates,
    *,
    source: Dsn | None,
    scale: int,
    timeline: Timeline,
) -> Rehearsal:
    workstation = ws_server.create_database(DATABASE)

    def fill() -> None:
        if source is None:
            with connect(workstation) as conn:
                seed(conn, scale)
        else:  # a copy of the real source: the source itself is only read (dumped); no copy stays behind
            with tempfile.TemporaryDirectory(prefix="state-hub-source-copy-") as copy:
                dump(source, Path(copy) / "dump", compress=False)
                restore(Path(copy) / "dump", workstation, target_role=TargetRole.WORKSTATION)

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
        side,
        gates,
        decisions=[],
        synthetic=source is None,
    )
    grant_app(workstation)
    return context
