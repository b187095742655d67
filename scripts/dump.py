"""Dump the State Hub database inside an exported snapshot, with its fingerprint from that same snapshot.

    uv run scripts/dump.py --source postgresql://operator@localhost:5432/state_hub --out dumps/2026-11-27

Writes DIR/state-hub.dump and DIR/manifest.json (archive sha256 and size, server and pg_dump
versions, the fingerprint, timings). The source is only read. Give the password through
PGPASSWORD or ~/.pgpass, not in the DSN.

The final copy inside the write-freeze window pipes instead (uncompressed, restored while it is
written, the archive still kept as evidence), then compares the cluster with the manifest. Given
the freeze's report, it does not read the frozen database a second time for its fingerprint when
nothing can have changed since the freeze read it (no transaction ended since, same server run:
the manifest's fingerprint_read says which):

    PGPASSWORD=... PGTARGETPASSWORD=... uv run scripts/dump.py --source "$WSL2_DSN" \
        --out evidence/final --target "$CLUSTER_DSN" --unchanged-since evidence/freeze.json
    uv run scripts/compare.py --manifest evidence/final/manifest.json --target "$CLUSTER_DSN" \
        --report evidence/final-compare.json

Exit 0 done, 2 refused (nothing written to the source; --target must be empty).
"""

from __future__ import annotations

from statehub.cli.early import quiet_interrupts

quiet_interrupts()  # first: a Ctrl-C while the rest imports is one line too

from pathlib import Path

from statehub.cli.entry import PASS, ScriptParser, console, run_cli, step
from statehub.cli.flags import add_database, database
from statehub.data.dumping import dump
from statehub.data.freezing import frozen_fingerprint


def main() -> int:
    parser = ScriptParser(__doc__)
    add_database(parser, "--source", "the database to dump (read only)")
    parser.add_argument("--out", required=True, type=Path, help="new, empty folder for the archive and manifest")
    parser.add_argument("--jobs", type=int, default=1, help="parallel pg_dump jobs (>1 writes directory format)")
    parser.add_argument(
        "--docker-container",
        metavar="NAME",
        help="run pg_dump inside this container (the workstation's Postgres), e.g. infra-postgres-1",
    )
    add_database(parser, "--target", "an empty database to restore into while dumping (uncompressed)", required=False)
    parser.add_argument("--pg-bin", type=Path, help="folder of the pg_dump to use (default: PG_BIN, pgserver's, PATH)")
    parser.add_argument(
        "--unchanged-since",
        metavar="FREEZE_REPORT",
        type=Path,
        help="the freeze's report: its fingerprint is the manifest's when the source provably did not change since",
    )
    args = parser.parse_args()
    if args.jobs < 1:
        parser.error(f"--jobs {args.jobs}: give 1 or more")
    target = database(args.target, "--target") if args.target else None
    frozen = frozen_fingerprint(args.unchanged_since) if args.unchanged_since else None
    report = dump(
        database(args.source, "--source"),
        args.out,
        jobs=args.jobs,
        docker_container=args.docker_container,
        pg_bin=args.pg_bin,
        compress=target is None,
        restore_into=target,
        unchanged_since=frozen,
        progress=step,
    )
    archive = report.details["archive"]
    console().print(
        f"dumped {report.details['source']}: {archive['size_bytes']} bytes, sha256 {archive['sha256'][:16]}…,"
        f" {len(report.details['fingerprint']['tables'])} tables fingerprinted -> {args.out}"
    )
    console().print(f"fingerprint read {report.details['fingerprint_read']}")
    return PASS


if __name__ == "__main__":
    run_cli(main)
