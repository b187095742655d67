"""The restore drill (T01): dump the live source, restore it into an isolated server, compare.

The source is only read. By default the restore goes into a throwaway PostgreSQL that the drill
starts on a private socket (no TCP port) and removes afterwards; `scratch` names an isolated
database instead (it must be empty and must not be the source).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from statehub.data.comparing import ApiCheck
from statehub.data.dsn import Dsn, connect
from statehub.data.dumping import dump
from statehub.data.ephemeral import ephemeral_server, flavour_of, pgserver_bin
from statehub.data.progress import Progress, quietly
from statehub.data.report_files import check_out_dir, output_folder, write_report
from statehub.data.restoring import require_empty, restore, source_extensions, source_locale
from statehub.data.schema_signature import database_locale
from statehub.policy.fingerprints import database_identity
from statehub.policy.refusal import Refusal
from statehub.policy.report import Report
from statehub.policy.settings import TargetRole

DUMP_DIR = "dump"
RESTORE_REPORT = "restore-compare.json"
DRILL_REPORT = "drill-report.json"


@contextmanager
def _isolated_target(scratch: Dsn | None, pg_bin: Path | None, source: Dsn) -> Iterator[tuple[Dsn, str]]:
    """Where the drill restores: `scratch`, or a throwaway server made with the source's encoding and locale
    (a copy into another locale would fail its compare, and so would state-hub-db's made without it)."""
    if scratch is not None:
        yield scratch, scratch.masked()
        return
    bin_dir = pg_bin if pg_bin and (pg_bin / "initdb").exists() else pgserver_bin()
    with connect(source, autocommit=True) as conn:
        flavour = flavour_of(database_locale(conn))
        used = [str(row[0]) for row in conn.execute("SELECT extname FROM pg_extension WHERE extname <> 'plpgsql'")]
    with ephemeral_server(bin_dir, flavour=flavour) as server:
        target = server.create_database("state_hub")
        _require_extensions(target, used, f"the throwaway PostgreSQL from {bin_dir}")
        yield target, f"throwaway PostgreSQL from {bin_dir}, locale {flavour.collate} (removed afterwards)"


def _require_extensions(target: Dsn, used: list[str], what: str) -> None:
    """The restore would stop at CREATE EXTENSION half-way: refuse first, naming the missing extensions."""
    with connect(target, autocommit=True) as conn:
        available = {str(row[0]) for row in conn.execute("SELECT name FROM pg_available_extensions")}
    missing = sorted(set(used) - available)
    if missing:
        raise Refusal(
            f"the source uses the extension(s) {', '.join(missing)}, which {what} does not have: give --pg-bin "
            "of a PostgreSQL with them (Debian: /usr/lib/postgresql/<major>/bin, contrib included), or --scratch"
        )


def drill(
    source: Dsn,
    out: Path,
    *,
    scratch: Dsn | None = None,
    apis: tuple[str, str] | None = None,
    pg_bin: Path | None = None,
    docker_container: str | None = None,
    progress: Progress = quietly,
) -> Report:
    """Run the drill and write `out/drill-report.json`; returns the report."""
    check_out_dir(out, what="a drill never overwrites evidence")
    if scratch is not None and source.same_database(scratch):
        raise Refusal(
            f"--scratch {scratch.masked()} is the source itself: the drill restores into an isolated database"
        )
    if apis and scratch is None:
        raise Refusal(
            "--target-api needs --scratch: the throwaway server is removed when the drill ends, so no State Hub can "
            "be wired to it; point a State Hub at a --scratch database and pass its URL"
        )
    if scratch is not None:
        require_empty(scratch)  # before the dump: a refused drill reads nothing
    started = time.monotonic()
    # the server first: one that cannot start reads nothing; the folder is emptied again if the drill breaks
    # before its last report is written (an interrupted drill leaves no half evidence)
    with (
        _isolated_target(scratch, pg_bin, source) as (target, target_label),
        output_folder(out, what="a drill never overwrites evidence"),
    ):
        manifest = dump(source, out / DUMP_DIR, pg_bin=pg_bin, docker_container=docker_container, progress=progress)
        api = ApiCheck(*apis) if apis else None
        compare = restore(
            out / DUMP_DIR, target, pg_bin=pg_bin, target_role=TargetRole.THROWAWAY, api=api, progress=progress
        )
        write_report(compare, out / RESTORE_REPORT)
        archive = manifest.details["archive"]
        details: dict[str, Any] = {
            "source": source.masked(),
            "source_database": database_identity(manifest.details["fingerprint"]),
            "source_locale": source_locale(manifest.details["fingerprint"]),
            "source_extensions": source_extensions(manifest.details["fingerprint"]),
            "restored_into": target_label,
            "dump": {
                "folder": str(out / DUMP_DIR),
                "sha256": archive["sha256"],
                "size_bytes": archive["size_bytes"],
                "fingerprint_sha256": manifest.details["fingerprint_sha256"],
            },
            "compare": {
                "report": str(out / RESTORE_REPORT),
                "result": compare.result,
                "target_database": compare.details["target_database"],
                "tables": len(compare.details["tables"]),
                "rows": sum(t["source_rows"] for t in compare.details["tables"].values()),
            },
            "differences": compare.details["differences"],
            "api": compare.details.get("api"),
            "seconds": round(time.monotonic() - started, 3),
        }
        report = Report(kind="drill", result=compare.result, details=details)
        write_report(report, out / DRILL_REPORT)
    return report
