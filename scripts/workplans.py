"""Check file-backed workplans against a State Hub: does it hold every workstream and task they name, with the
same status, and no task of those workstreams that the files do not list?

    uv run scripts/workplans.py --workplans ~/src/state-hub/workplans --api http://127.0.0.1:8000 \
        --report evidence/workplans-cluster.json

Workplans are Markdown files with a front matter naming `state_hub_workstream_id` and fenced `task` blocks
(`id`, `status`, `state_hub_task_id`). Run it against WSL2 before the freeze and against the cluster after
cutover (T07), and during stabilise (T08; status.py --workplans runs it too): after cutover the sync writes
to the cluster, and a task it lacks is a loss nobody would notice. Each block or front matter that cannot
be read is one line of the report. Nothing is written to the State Hub (but a --record-progress record).
Exit 0 consistent, 1 items differ (or a file could not be read), 2 refused.
"""

from __future__ import annotations

from statehub.cli.early import quiet_interrupts

quiet_interrupts()  # first: a Ctrl-C while the rest imports is one line too

from pathlib import Path

from statehub.cli.entry import FAIL, PASS, ScriptParser, console, http_url, run_cli
from statehub.cli.flags import add_report
from statehub.cli.record_flags import add_progress_flags, record_if_asked
from statehub.data.report_files import check_report_path, write_report
from statehub.data.workplan_check import check_workplans
from statehub.policy.refusal import Refusal


def main() -> int:
    parser = ScriptParser(__doc__)
    parser.add_argument("--workplans", required=True, type=Path, metavar="DIR", help="folder of workplan files")
    parser.add_argument("--api", required=True, type=http_url, metavar="URL", help="the State Hub to check against")
    add_report(parser, "workplan check report to write")
    add_progress_flags(parser)
    args = parser.parse_args()
    if not args.workplans.is_dir():
        raise Refusal(f"--workplans {args.workplans}: no such folder: give the folder of the workplan files")
    check_report_path(args.report)  # before anything is asked
    report = check_workplans(args.workplans, args.api)
    write_report(report, args.report)
    record_if_asked(args, "workplans", report, args.report)
    details = report.details
    for line in details["unreadable"]:
        console().print(f"[red]UNREADABLE[/] {line}")
    for item in details["items"]:
        console().print(f"[red]{item['kind'].upper()}[/] {item['where']}: {item['detail']}")
    console().print(
        f"workplans {report.result.upper()}: {details['workplans']} files, {details['tasks']} tasks checked, "
        f"{len(details['items'])} differ -> {args.report}"
    )
    return PASS if report.result == "pass" else FAIL


if __name__ == "__main__":
    run_cli(main)
