"""Record an evidence file as a progress event of a workplan task, through the live State Hub.

    uv run scripts/record_progress.py --evidence evidence/freeze.json \
        --record-progress ff1de25e-c301-4b86-9420-84dfe72e565e [--progress-api http://127.0.0.1:8000]

For what a script could not record when it ran: the freeze (its side is frozen then; nothing is written to
a frozen side), a State Hub that was down. Sends what ran, its result, the file's name and sha256; never
its contents. Exit 0 recorded, 1 the State Hub did not take it, 2 refused (not an evidence report).
"""

from __future__ import annotations

from statehub.cli.early import quiet_interrupts

quiet_interrupts()  # first: a Ctrl-C while the rest imports is one line too

from pathlib import Path

from statehub.cli.entry import FAIL, PASS, ScriptParser, console, run_cli
from statehub.cli.record_flags import add_progress_flags
from statehub.data.progress_records import progress_payload, record_progress
from statehub.policy.refusal import Refusal
from statehub.policy.report import ReportError, parse_report, read_report_file


def main() -> int:
    parser = ScriptParser(__doc__)
    parser.add_argument("--evidence", required=True, type=Path, metavar="FILE", help="the evidence report to record")
    add_progress_flags(parser)
    args = parser.parse_args()
    if not args.record_progress:
        parser.error("--record-progress TASK_ID is required: the task's state_hub_task_id from the workplan")
    try:
        report = parse_report(read_report_file(args.evidence))
    except (OSError, ReportError) as error:
        raise Refusal(f"--evidence {args.evidence}: {error}") from None
    payload = progress_payload(report.kind, report, args.evidence)
    record = record_progress(args.progress_api, args.record_progress, payload, path_template=args.progress_path)
    console().print(f"task {record['task_id']}: {record['detail']}")
    return PASS if record["recorded"] else FAIL


if __name__ == "__main__":
    run_cli(main)
