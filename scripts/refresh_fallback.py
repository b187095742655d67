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

from pathlib import Path

from statehub.cli.entry import FAIL, PASS, ScriptParser, console, run_cli
from statehub.data.dsn import Dsn
from statehub.data.refreshing import refresh_fallback
from statehub.data.report_files import check_report_path, write_report


def main() -> int:
    parser = ScriptParser(__doc__)
    parser.add_argument("--cluster", required=True, help="DSN of state-hub-db (read only)")
    parser.add_argument("--wsl2", required=True, help="superuser DSN of the frozen WSL2 database (not touched)")
    parser.add_argument("--into", required=True, help="name of the new database for the copy")
    parser.add_argument("--report", required=True, type=Path, help="refresh report to write")
    args = parser.parse_args()
    check_report_path(args.report)  # before anything is touched
    wsl2 = Dsn.parse(args.wsl2).with_password_from("PGWSL2PASSWORD")
    report = refresh_fallback(Dsn.parse(args.cluster), wsl2, args.into)
    write_report(report, args.report)
    rows = sum(t["source_rows"] for t in report.details["tables"].values())
    if report.result == "pass":
        console.print(f"[green]refresh PASS[/]: {rows} rows in {args.into}; {wsl2.dbname} untouched")
        return PASS
    console.print(f"[red]refresh FAIL[/]: {len(report.details['differences'])} differences; {args.into} dropped")
    return FAIL


if __name__ == "__main__":
    run_cli(main)
