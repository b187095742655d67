"""Rollback: bring the cluster's writes since cutover back to the frozen WSL2 database, and prove it.

    PGPASSWORD=... uv run scripts/sync_back.py --cluster "$CLUSTER_DSN" --wsl2 "$WSL2_DSN" \
        --report evidence/sync-back.json

Run after freezing state-hub-db and before unfreezing WSL2 (the rollback reminder of the
program says when). Makes every WSL2 table equal to the cluster's in one transaction (deletes,
updates and inserts by primary key; tables without a key replaced whole; sequences moved), then
compares both sides. Refuses unless WSL2 is frozen and both schemas are equal. Give the cluster
password in PGPASSWORD and the WSL2 superuser password in PGWSL2PASSWORD (or ~/.pgpass).
Exit 0 equal afterwards, 1 not equal, 2 refused (nothing changed).
"""

from __future__ import annotations

from statehub.cli.early import quiet_interrupts

quiet_interrupts()  # first: a Ctrl-C while the rest imports is one line too

from statehub.cli.entry import FAIL, PASS, ScriptParser, console, run_cli, step
from statehub.cli.flags import add_database, add_report, database
from statehub.cli.record_flags import add_progress_flags, record_if_asked
from statehub.data.report_files import check_report_path, write_report
from statehub.data.syncing import sync_back


def main() -> int:
    parser = ScriptParser(__doc__)
    add_database(parser, "--cluster", "state-hub-db (read only)")
    add_database(parser, "--wsl2", "the frozen WSL2 database, as a superuser (written)")
    add_report(parser, "sync-back report to write")
    add_progress_flags(parser)
    args = parser.parse_args()
    check_report_path(args.report)  # before anything is touched
    wsl2 = database(args.wsl2, "--wsl2")
    report = sync_back(database(args.cluster, "--cluster"), wsl2, progress=step)
    write_report(report, args.report)
    record_if_asked(args, "sync-back", report, args.report)
    totals = report.details["totals"]
    if report.details["committed"]:
        console().print(
            f"sync-back PASS: {totals['inserted']} inserted, {totals['updated']} updated, "
            f"{totals['deleted']} deleted; WSL2 equals the cluster (compared before the commit)"
        )
    else:
        first = report.details["differences"][0]
        console().print(
            f"sync-back FAIL: WSL2 would still differ ({first['kind']} in {first['where']}): rolled back, "
            "nothing on WSL2 changed"
        )
    return PASS if report.result == "pass" else FAIL


if __name__ == "__main__":
    run_cli(main)
