"""Freeze the source database for the final copy (or --unfreeze it), and prove it.

    PGPASSWORD=... uv run scripts/freeze.py --target postgresql://postgres@localhost:5432/state_hub \
        --probe postgresql://state_hub@localhost:5432/state_hub --report evidence/freeze.json

Run it as a superuser (the operator's session stays able to write). Sets the database read-only
by default, sets every application role's connection limit to 0 (default: all non-superuser
login roles; or --app-role NAME) and ends their sessions; warns when the application connects as
a superuser, which no setting can freeze. With --probe (the application's own credentials,
password via PGPROBEPASSWORD) it proves that a new session turning read-only off still cannot
write. Records the fingerprint at freeze time. --unfreeze reverts exactly what freeze changed and
proves a write works again. Both are idempotent. Exit 0 proven, 1 not proven, 2 refused.
"""

from __future__ import annotations

from statehub.cli.early import quiet_interrupts

quiet_interrupts()  # first: a Ctrl-C while the rest imports is one line too

from statehub.cli.entry import FAIL, PASS, ScriptParser, console, run_cli
from statehub.cli.flags import add_database, add_report, database
from statehub.cli.record_flags import add_progress_flags, record_if_asked
from statehub.data.freezing import freeze, unfreeze
from statehub.data.report_files import check_report_path, write_report


def main() -> int:
    parser = ScriptParser(__doc__)
    add_database(parser, "--target", "the database to freeze, as a superuser")
    add_report(parser, "freeze (or unfreeze) report to write")
    parser.add_argument("--unfreeze", action="store_true", help="revert the freeze")
    parser.add_argument("--app-role", action="append", default=[], help="application role to lock out (repeatable)")
    add_database(parser, "--probe", "the application's own login, to prove the freeze", required=False)
    add_progress_flags(parser)
    args = parser.parse_args()
    if args.record_progress and not args.unfreeze:
        parser.error(
            "--record-progress with a freeze: the freeze makes the live State Hub read-only, and nothing is written "
            "to a frozen side; record it after cutover with scripts/record_progress.py --evidence REPORT"
        )
    check_report_path(args.report)  # before anything is touched
    probe = database(args.probe, "--probe") if args.probe else None
    dsn = database(args.target, "--target")
    report = unfreeze(dsn, probe=probe) if args.unfreeze else freeze(dsn, app_roles=args.app_role, probe=probe)
    write_report(report, args.report)
    record_if_asked(args, "unfreeze" if args.unfreeze else "freeze", report, args.report)
    for warning in report.details.get("warnings", []):
        console().print(f"[bold red]WARNING[/] {warning}")
    proof = report.details["proof"]
    console().print(f"{report.kind}: {report.result.upper()} (probe: {proof['write_attempt'] or 'not run'})")
    return PASS if report.result == "pass" else FAIL


if __name__ == "__main__":
    run_cli(main)
