"""The restore drill (T01): dump the live source, restore it into an isolated PostgreSQL, compare.

    PGPASSWORD=... uv run scripts/drill.py --source postgresql://operator@localhost:5432/state_hub \
        --out evidence/drill

Dumps inside an exported snapshot (as dump.py), restores into a throwaway PostgreSQL that the
drill starts on a private socket and removes afterwards (or into --scratch DSN, an empty
isolated database), compares the copy with the dump's fingerprint and, with --source-api (the live
State Hub) and --target-api (a State Hub wired to the --scratch copy), compares the two APIs as
compare.py does. Writes
OUT/dump/ (the archive the cluster restore can reuse), OUT/restore-compare.json and
OUT/drill-report.json, which stage restore consumes. The source is only read.
Exit 0 pass, 1 fail, 2 refused.
"""

from __future__ import annotations

from statehub.cli.early import quiet_interrupts

quiet_interrupts()  # first: a Ctrl-C while the rest imports is one line too

from pathlib import Path

from statehub.cli.entry import FAIL, PASS, ScriptParser, console, run_cli, step
from statehub.cli.flags import add_apis, add_database, apis, database
from statehub.cli.record_flags import add_progress_flags, record_if_asked
from statehub.data.drilling import DRILL_REPORT, drill


def main() -> int:
    parser = ScriptParser(__doc__)
    add_database(parser, "--source", "the live database (read only)")
    parser.add_argument("--out", required=True, type=Path, help="new, empty folder for the dump and the reports")
    add_database(
        parser, "--scratch", "an empty, isolated database to restore into (default: throwaway)", required=False
    )
    add_apis(parser, "the live database", "the --scratch copy")
    parser.add_argument("--docker-container", metavar="NAME", help="run pg_dump inside the source's container")
    parser.add_argument("--pg-bin", type=Path, help="folder of the PostgreSQL tools (and initdb for the throwaway)")
    add_progress_flags(parser)
    args = parser.parse_args()
    both_apis = apis(args)
    report = drill(
        database(args.source, "--source"),
        args.out,
        scratch=database(args.scratch, "--scratch") if args.scratch else None,
        apis=both_apis,
        pg_bin=args.pg_bin,
        docker_container=args.docker_container,
        progress=step,
    )
    record_if_asked(args, "drill", report, args.out / DRILL_REPORT)
    details = report.details
    for difference in details["differences"]:
        console().print(f"[red]DIFF[/] {difference['kind']} {difference['where']}: {difference['detail']}")
    console().print(
        f"drill {report.result.upper()}: {details['compare']['rows']} rows in {details['compare']['tables']} tables, "
        f"dump sha256 {details['dump']['sha256'][:16]}…, {details['seconds']} s -> {args.out / DRILL_REPORT}"
    )
    return PASS if report.result == "pass" else FAIL


if __name__ == "__main__":
    run_cli(main)
