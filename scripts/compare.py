"""Compare two State Hub databases by fingerprint (and optionally their APIs); write a compare report.

    uv run scripts/compare.py --source DSN --target DSN --report evidence/compare.json
    uv run scripts/compare.py --manifest dumps/X/manifest.json --target DSN --report FILE

Fingerprint: per table row count and content hash, sequences, schema signature, Alembic
revision; both sides are read at once. With --source-api/--target-api (the State Hubs serving each
side), the report's API part: /state/health healthy on both, /state/summary equal (minus the
--volatile-field fields) and representative reads (first and last workstream and repo, token
totals) answered alike; each failure names the side and the field. Stages verify and cutover need
that part (docs/compare.md).
Exit 0 equal, 1 different, 2 refused. Nothing is written to either database.
"""

from __future__ import annotations

from statehub.cli.early import quiet_interrupts

quiet_interrupts()  # first: a Ctrl-C while the rest imports is one line too

from pathlib import Path

from statehub.cli.compare_table import show_compare
from statehub.cli.entry import FAIL, PASS, ScriptParser, amount, run_cli
from statehub.cli.flags import add_apis, add_database, add_report, apis, database
from statehub.cli.record_flags import add_progress_flags, record_if_asked
from statehub.data.archive import read_manifest
from statehub.data.comparing import ApiCheck, compare_databases
from statehub.data.http_client import DEADLINE
from statehub.data.report_files import check_report_path, write_report
from statehub.policy.api_contract import VOLATILE_FIELDS


def main() -> int:
    parser = ScriptParser(__doc__)
    source = parser.add_mutually_exclusive_group(required=True)
    add_database(source, "--source", "the source database (read only)", required=False)
    source.add_argument("--manifest", type=Path, help="a dump manifest: compare with the dumped fingerprint")
    add_database(parser, "--target", "the target database (read only)")
    add_report(parser, "compare report to write")
    add_apis(parser, "the source", "the target")
    parser.add_argument(
        "--volatile-field",
        action="append",
        default=list(VOLATILE_FIELDS),
        help=f"answer field that may differ between the sides (repeatable; always: {', '.join(VOLATILE_FIELDS)})",
    )
    parser.add_argument(
        "--api-deadline",
        type=amount("seconds", 600, "20"),
        default=DEADLINE,
        metavar="SECONDS",
        help=f"seconds for each whole question to an API, however slowly it answers (default {DEADLINE:g})",
    )
    add_progress_flags(parser)
    args = parser.parse_args()
    check_report_path(args.report)  # before anything is touched
    both_apis = apis(args)
    api = ApiCheck(*both_apis, tuple(dict.fromkeys(args.volatile_field)), args.api_deadline) if both_apis else None
    target = database(args.target, "--target")
    if args.source:
        src = database(args.source, "--source")
        report = compare_databases(src, target, source_label=src.masked(), api=api)
    else:
        manifest = read_manifest(args.manifest)
        report = compare_databases(
            manifest.details["fingerprint"], target, source_label=f"manifest {args.manifest}", api=api
        )
    write_report(report, args.report)
    record_if_asked(args, "compare", report, args.report)
    show_compare(report)
    return PASS if report.result == "pass" else FAIL


if __name__ == "__main__":
    run_cli(main)
