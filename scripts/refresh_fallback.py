"""Refresh the WSL2 fallback: copy state-hub-db into a fresh database on the workstation, compared.

    PGPASSWORD=... PGWSL2PASSWORD=... uv run scripts/refresh_fallback.py --cluster "$CLUSTER_DSN" \
        --wsl2 "$WSL2_DSN" --into state_hub_fallback_20261201 --report evidence/refresh-fallback.json

After cutover the frozen WSL2 database grows stale; run this on the runbook's cadence (weekly, and
before any planned risk to the cluster). The cluster is only read, in one snapshot; the copy goes
into the new database --into on the same server as --wsl2 (the frozen original, which is never
touched) and is compared with the snapshot. A failed compare or an interrupted refresh drops the
new database again. Exit 0 equal, 1 not equal (copy dropped), 2 refused (nothing changed).
"""

from __future__ import annotations

from statehub.cli.early import quiet_interrupts

quiet_interrupts()  # first: a Ctrl-C while the rest imports is one line too

from statehub.cli.entry import FAIL, PASS, ScriptParser, console, run_cli
from statehub.cli.flags import add_database, add_report, database
from statehub.cli.record_flags import add_progress_flags, record_if_asked
from statehub.data.refreshing import refresh_fallback
from statehub.data.report_files import check_report_path, write_report


def main() -> int:
    parser = ScriptParser(__doc__)
    add_database(parser, "--cluster", "state-hub-db (read only)")
    add_database(parser, "--wsl2", "the frozen WSL2 database, as a superuser (not touched)")
    parser.add_argument("--into", required=True, help="name of the new database for the copy")
    add_report(parser, "refresh report to write")
    add_progress_flags(parser)
    args = parser.parse_args()
    check_report_path(args.report)  # before anything is touched
    wsl2 = database(args.wsl2, "--wsl2")
    report = refresh_fallback(database(args.cluster, "--cluster"), wsl2, args.into)
    write_report(report, args.report)
    record_if_asked(args, "refresh-fallback", report, args.report)
    rows = sum(t["source_rows"] for t in report.details["tables"].values())
    if report.result == "pass":
        console().print(f"[green]refresh PASS[/]: {rows} rows in {args.into}; {wsl2.dbname} untouched")
        return PASS
    console().print(f"[red]refresh FAIL[/]: {len(report.details['differences'])} differences; {args.into} dropped")
    return FAIL


if __name__ == "__main__":
    run_cli(main)
