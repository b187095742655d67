"""Restore a verified archive into an empty target, in one transaction, then prove it equals the source."""

from __future__ import annotations

import time
from pathlib import Path

from statehub.data.archive import archive_of, archive_sha256, read_manifest
from statehub.data.comparing import ApiCheck, compare_databases
from statehub.data.dsn import Dsn, connect
from statehub.data.errors import ToolError
from statehub.data.pgtools import dump_major_of, find_tool, run_tool, server_major_of
from statehub.data.progress import Progress, quietly
from statehub.data.schema_signature import USER_SCHEMAS
from statehub.policy.refusal import Refusal
from statehub.policy.report import Report


def verify_archive(dump_dir: Path, pg_bin: Path | None = None) -> tuple[Report, Path]:
    """The manifest is a passing dump, the archive hashes to it, and pg_restore can read it."""
    manifest = read_manifest(dump_dir)
    archive = archive_of(dump_dir, manifest)
    path: Path = archive["path"]
    if not path.exists():
        raise Refusal(f"archive {path} is missing: the dump folder is incomplete")
    sha256, size = archive_sha256(path)
    if (sha256, size) != (archive["sha256"], archive["size_bytes"]):
        raise Refusal(
            f"archive {path} does not match its manifest (sha256 {sha256[:16]}…, {size} bytes; manifest "
            f"says {archive['sha256'][:16]}…, {archive['size_bytes']} bytes): corrupt, truncated or the "
            "manifest of another dump"
        )
    try:
        reader = find_tool("pg_restore", pg_bin, at_least=dump_major_of(manifest.details.get("pg_dump_version", "")))
        run_tool([str(reader), "--list", str(path)], None)
    except ToolError as error:
        raise Refusal(f"archive {path} is unreadable: {error}") from None
    return manifest, path


RESTORE_FLAGS = ("--single-transaction", "--exit-on-error", "--no-owner", "--no-privileges")
"""One transaction (a failure leaves the target as it was); owners and grants are the cluster's own."""


_USER_OBJECTS = f"""SELECT format('%s %I.%I', CASE c.relkind WHEN 'S' THEN 'sequence' WHEN 'v' THEN 'view'
        WHEN 'm' THEN 'materialized view' WHEN 'f' THEN 'foreign table' ELSE 'table' END, n.nspname, c.relname)
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p', 'm', 'v', 'S', 'f') AND {USER_SCHEMAS} AND NOT c.relispartition
    UNION ALL SELECT format('%s large objects', count(*)) FROM pg_largeobject_metadata HAVING count(*) > 0
    ORDER BY 1"""


def user_objects(target: Dsn) -> list[str]:
    """Everything a restore would collide with: tables, sequences, views, materialized views, foreign
    tables and large objects (a database holding only a sequence is not empty)."""
    with connect(target, autocommit=True) as conn:
        return [str(row[0]) for row in conn.execute(_USER_OBJECTS)]


def load_archive(
    dump_dir: Path, target: Dsn, *, pg_bin: Path | None = None, progress: Progress = quietly
) -> tuple[Report, float]:
    """Verify the archive, refuse a non-empty target, restore in one transaction; no compare.

    Returns the dump's manifest and the seconds pg_restore took.
    """
    manifest, archive = verify_archive(dump_dir, pg_bin)
    require_empty(target)
    started = time.monotonic()
    with progress(f"restoring {archive.name} into {target.masked()}"):
        tool = find_tool(
            "pg_restore",
            pg_bin,
            at_least=dump_major_of(manifest.details.get("pg_dump_version", "")),
            at_most=server_major_of(target),
        )
        run_tool([str(tool), *RESTORE_FLAGS, "-d", target.dbname, str(archive)], target)
    return manifest, round(time.monotonic() - started, 3)


def require_empty(target: Dsn) -> None:
    """A restore goes only into an empty database: it never merges or overwrites."""
    existing = user_objects(target)
    if existing:
        raise Refusal(
            f"target {target.masked()} is not empty ({len(existing)} objects, e.g. {existing[0]}): restore only "
            f"into an empty database; reset it with DROP DATABASE {target.dbname}; CREATE DATABASE {target.dbname}; "
            "(for cnpg: DROP SCHEMA public CASCADE; CREATE SCHEMA public; as the owner, see the restoreTarget "
            "output of stage restore) or point --target at an empty one"
        )


def restore(
    dump_dir: Path,
    target: Dsn,
    *,
    pg_bin: Path | None = None,
    target_role: str = "cluster",
    api: ApiCheck | None = None,
    progress: Progress = quietly,
) -> Report:
    """Restore, then compare the restored copy with the fingerprint the dump recorded."""
    manifest, restore_s = load_archive(dump_dir, target, pg_bin=pg_bin, progress=progress)
    with progress("comparing the restored copy with the dump's fingerprint"):
        report = compare_databases(
            manifest.details["fingerprint"],
            target,
            source_label=f"manifest {dump_dir} ({manifest.details['source']})",
            target_role=target_role,
            api=api,
        )
    report.details["restore_s"] = restore_s
    report.details["archive_sha256"] = manifest.details["archive"]["sha256"]
    return report
