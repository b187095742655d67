"""Rehearse the whole migration on this machine, end to end, before touching production.

    uv run scripts/rehearse.py [--out rehearsal] [--scale N]
    uv run scripts/rehearse.py --cluster pods            # the stack on a local node that runs pods (root)
    PGPASSWORD=... uv run scripts/rehearse.py --source postgresql://operator@localhost:5432/state_hub

Starts a "workstation" PostgreSQL made as the official postgres image makes it (en_US.utf8; a synthetic
State Hub at --scale times the real size, or a copy of --source, which is only read: the freeze then
applies to the copy) and a cluster side standing in for railiance01 (--cluster local: a second
PostgreSQL made as cnpg's initdb makes state-hub-db; --cluster pods: the stack applied by the real
Pulumi CLI to a local node that runs pods, with cnpg's own state-hub-db), then runs the workplan in
order: drill -> gate restore -> restore -> compare -> gate verify -> writes continue on WSL2 -> freeze
-> final dump/restore/compare -> approval -> gate cutover (endpoint cluster) -> writes on the cluster ->
rollback (freeze the cluster, bring its rows back, unfreeze WSL2) -> gate with endpoint wsl2. Every gate
is the real Pulumi program with the rehearsal's evidence in its config: with --engine pulumi (the
default when `scripts/engine_tools.py build` has run) the real Pulumi CLI applies each stage (`pulumi
preview --diff`, then `pulumi up`) to a local API server (or the node); with --engine mocks the program
runs in-process under Pulumi's mocks. Prints the timeline and the write-freeze window (freeze to toggle
ready) against a bare `pg_dump -Fc -Z0 | pg_restore` of the same database; writes every evidence file
and summary.json/summary.md (which says what ran) into --out. --pin-cores runs the workstation's and the
local cluster's servers on separate CPUs, as two machines would. Every server it started is stopped
when it ends, also on Ctrl-C or failure.
Exit 0 every step passed, 1 a step failed or a gate refused, 2 refused (bad input).
"""

from __future__ import annotations

from statehub.cli.early import quiet_interrupts

quiet_interrupts()  # first: a Ctrl-C while the rest imports is one line too

import os
import shutil
import tempfile
from contextlib import ExitStack
from pathlib import Path

from statehub.cli.entry import FAIL, PASS, ScriptParser, console, run_cli
from statehub.cli.flags import add_database, database
from statehub.data.report_files import check_out_dir
from statehub.engine import node
from statehub.engine.engine_build import EngineBuildError, bin_dir, missing
from statehub.engine.pod_images import images_dir
from statehub.policy.refusal import Refusal
from statehub.rehearsal.cluster_side import ClusterChoice
from statehub.rehearsal.gate_runs import MockGates
from statehub.rehearsal.pods_side import pods_cluster
from statehub.rehearsal.rehearsal import engine_cluster, local_cluster, rehearse
from statehub.rehearsal.timeline import StepResult

_COLOURS = {"pass": "green", "fail": "red", "stopped": "red", "error": "red"}


def _echo(step: StepResult) -> None:
    colour = _COLOURS.get(step.result, "white")
    detail = f"  {step.detail}" if step.detail else ""
    console().print(f"[{colour}]{step.result:>7}[/] {step.seconds:7.3f} s  {step.name}{detail}")


def main() -> int:
    parser = ScriptParser(__doc__)
    add_database(parser, "--source", "a real State Hub database to rehearse with (read only)", required=False)
    parser.add_argument("--out", type=Path, help="new or empty folder for evidence and summary (default: a temp dir)")
    parser.add_argument("--scale", type=int, default=1, help="synthetic size as a multiple of the real one (default 1)")
    parser.add_argument(
        "--engine",
        choices=["auto", "mocks", "pulumi"],
        default="auto",
        help="what runs the gates: the real Pulumi CLI on a local API server, or the program under mocks "
        "(default auto: pulumi when its tools are built)",
    )
    parser.add_argument(
        "--cluster",
        choices=["local", "pods"],
        default="local",
        help="what stands for railiance01: a second local PostgreSQL made as cnpg makes state-hub-db (default), "
        "or the stack applied to a local node that runs pods (cnpg's own state-hub-db; needs root and "
        "`scripts/engine_tools.py build`; gates are the real Pulumi CLI)",
    )
    parser.add_argument(
        "--pin-cores",
        action="store_true",
        help="run the workstation's server on CPU 0 and the local cluster's on CPU 1 (taskset), as the two "
        "machines are in production, so the write-freeze window is not measured on shared cores",
    )
    args = parser.parse_args()
    if args.pin_cores and (args.cluster == "pods" or len(os.sched_getaffinity(0)) < 2 or not shutil.which("taskset")):
        raise Refusal("--pin-cores needs --cluster local, two CPUs this process may use and taskset (util-linux)")
    if args.scale < 1:
        raise Refusal(f"--scale {args.scale}: give 1 or more")
    if args.source and args.scale != 1:
        raise Refusal("--scale applies to the synthetic database; with --source the size is the source's")
    if args.out:
        check_out_dir(args.out, what="a rehearsal never overwrites evidence")
    out = args.out or Path(tempfile.mkdtemp(prefix="state-hub-rehearsal-"))
    source = database(args.source, "--source") if args.source else None
    with ExitStack() as resources:
        cpus = _PINNED if args.pin_cores else None
        cluster = _pods(resources) if args.cluster == "pods" else _local(args.engine, resources, cpus and cpus[1])
        workstation_cpus = cpus and cpus[0]
        summary = rehearse(
            out, source=source, scale=args.scale, echo=_echo, cluster=cluster, workstation_cpus=workstation_cpus
        )
    colour = "green" if summary.result == "pass" else "red"
    stopped = f" at {summary.stopped_at}" if summary.stopped_at else ""
    console().print(
        f"[{colour}]rehearsal {summary.result.upper()}{stopped}[/]: write-freeze window {summary.window_seconds} s, "
        f"bare copy {summary.bare_copy_seconds} s, ratio {summary.window_ratio}; evidence and summary in {out}"
    )
    return PASS if summary.result == "pass" else FAIL


_PINNED = ("0", "1")
"""--pin-cores: the workstation's CPU, the cluster's CPU (taskset lists)."""


def _local(engine: str, resources: ExitStack, cpus: str | None) -> ClusterChoice:
    try:
        tools = bin_dir()
        unavailable = [f"not built: {', '.join(missing(tools))}"] if missing(tools) else []
    except EngineBuildError as error:
        tools, unavailable = Path(), [str(error)]
    if engine == "mocks" or (engine == "auto" and unavailable):
        console().print("gates: mocks" + (f" (engine auto: {'; '.join(unavailable)})" if engine == "auto" else ""))
        return local_cluster(MockGates(), cpus)
    if unavailable:
        raise Refusal(f"--engine pulumi: {'; '.join(unavailable)}. Run: uv run scripts/engine_tools.py build")
    console().print("gates: the real Pulumi CLI on a local API server")
    work = Path(resources.enter_context(tempfile.TemporaryDirectory(prefix="state-hub-engine-")))
    return engine_cluster(work, tools, console().print, cpus)


def _pods(resources: ExitStack) -> ClusterChoice:
    """A node that runs pods, started for this rehearsal (about a minute) and stopped after it."""
    tools = bin_dir()
    absent = missing(tools, "engine") + missing(tools, "pods")
    if absent:
        raise Refusal(f"--cluster pods: not built: {', '.join(absent)}. Run: uv run scripts/engine_tools.py build")
    why = node.unavailable(tools, images_dir(tools))
    if why:
        raise Refusal(f"--cluster pods: {why}")
    work = Path(resources.enter_context(tempfile.TemporaryDirectory(prefix="state-hub-pods-")))
    console().print("cluster: a node that runs pods (statehub/engine/node.py); gates: the real Pulumi CLI")
    cluster = resources.enter_context(node.running(work / "node", tools, images_dir(tools), console().print))
    return pods_cluster(cluster, work, tools)


if __name__ == "__main__":
    run_cli(main)
