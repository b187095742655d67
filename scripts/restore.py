"""Restore a dump into an empty target in one transaction, then compare it with the dump's fingerprint.

    uv run scripts/restore.py --dump dumps/2026-11-27 --target postgresql://state_hub@localhost:15432/state_hub \
        --report evidence/restore-compare.json

Verifies the archive against its manifest (sha256, pg_restore --list) before touching the target,
refuses a target that is not empty (tables, sequences, views, large objects), restores with --single-transaction
--exit-on-error (a failure leaves the target as it was), no owners or privileges. Exit 0 equal,
1 different, 2 refused (target untouched).
"""

from __future__ import annotations

from statehub.cli.early import quiet_interrupts

quiet_interrupts()  # first: a Ctrl-C while the rest imports is one line too

from pathlib import Path

from statehub.cli.compare_table import show_compare
from statehub.cli.entry import FAIL, PASS, ScriptParser, run_cli, step
from statehub.cli.flags import add_database, add_report, database
from statehub.cli.record_flags import add_progress_flags, record_if_asked
from statehub.data.archive import ARCHIVE_NAME, MANIFEST_NAME
from statehub.data.report_files import check_report_path, write_report
from statehub.data.restoring import restore


def main() -> int:
    parser = ScriptParser(__doc__)
    parser.add_argument("--dump", required=True, type=Path, help="folder written by scripts/dump.py")
    add_database(parser, "--target", "the empty target database")
    add_report(parser, "compare report to write (default: DUMP/restore-compare.json)", required=False)
    parser.add_argument("--pg-bin", type=Path, help="folder of the pg_restore to use")
    add_progress_flags(parser)
    args = parser.parse_args()
    evidence = (args.dump / MANIFEST_NAME, args.dump / ARCHIVE_NAME)  # what the report is about
    report_path = check_report_path(args.report, keep_out_of=evidence) if args.report else None
    report = restore(args.dump, database(args.target, "--target"), pg_bin=args.pg_bin, progress=step)
    written = write_report(report, report_path or args.dump / "restore-compare.json")
    record_if_asked(args, "restore", report, written)
    show_compare(report)
    return PASS if report.result == "pass" else FAIL


if __name__ == "__main__":
    run_cli(main)
