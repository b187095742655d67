"""Empty the target of a copy (state-hub-db before a restore or the final copy), as its owner can.

    uv run scripts/reset_target.py --target "$CLUSTER_DSN" --manifest evidence/drill/dump/manifest.json
    uv run scripts/reset_target.py --target "$CLUSTER_DSN" --manifest evidence/drill/dump/manifest.json --drop

Without --drop it only lists what it would drop: every user schema of the target (`public` is made
again, empty) and every large object. It refuses the copy's own source (the database the manifest's
fingerprint was read from). The owner of a cnpg database can do all of it; no superuser needed.
Exit 0 done (or listed), 1 something was left, 2 refused (nothing touched).
"""

from __future__ import annotations

from statehub.cli.early import quiet_interrupts

quiet_interrupts()  # first: a Ctrl-C while the rest imports is one line too

from pathlib import Path

from statehub.cli.entry import FAIL, PASS, ScriptParser, console, run_cli
from statehub.cli.flags import add_database, add_report, database
from statehub.data.archive import read_manifest
from statehub.data.report_files import check_report_path, write_report
from statehub.data.resetting import reset_for_copy


def main() -> int:
    parser = ScriptParser(__doc__)
    add_database(parser, "--target", "the copy's target, as its owner (emptied)")
    parser.add_argument("--manifest", type=Path, required=True, help="manifest.json of the dump to be copied in")
    parser.add_argument("--drop", action="store_true", help="drop; without it, only list what would be dropped")
    add_report(parser, "reset report to write", required=False)
    args = parser.parse_args()
    if args.report:
        check_report_path(args.report)
    manifest = read_manifest(args.manifest)
    report = reset_for_copy(database(args.target, "--target"), manifest.details["fingerprint"], drop=args.drop)
    if args.report:
        write_report(report, args.report)
    details = report.details
    verb = "dropped" if args.drop else "would drop (run again with --drop)"
    console().print(
        f"{details['target']}: {verb}: schemas {', '.join(details['schemas']) or 'none'}; "
        f"{len(details['objects'])} objects" + (f", e.g. {details['objects'][0]}" if details["objects"] else "")
    )
    if details["left"]:
        console().print(f"[red]still there:[/] {', '.join(details['left'][:5])}")
    return PASS if report.result == "pass" else FAIL


if __name__ == "__main__":
    run_cli(main)
