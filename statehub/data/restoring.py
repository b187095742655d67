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
from statehub.data.schema_signature import USER_SCHEMAS, database_locale
from statehub.policy.fingerprints import Fingerprint
from statehub.policy.refusal import Refusal
from statehub.policy.report import Report
from statehub.policy.settings import TargetRole


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


def source_locale(fp: Fingerprint) -> str:
    """The encoding and locale line a fingerprint recorded for its database ('' in an older one)."""
    return next(iter(fp["schema"].get("database", [])), "")


def source_extensions(fp: Fingerprint) -> list[str]:
    """The extensions (plpgsql aside) a fingerprint recorded for its database, by name."""
    return sorted(line.split(" ", 1)[0].strip('"') for line in fp["schema"].get("extensions", []))


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
    require_same_locale(source_locale(manifest.details["fingerprint"]), target)
    require_lock_room(manifest.details["fingerprint"], target)
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


def require_same_locale(source_locale: str, target: Dsn) -> None:
    """The target's encoding and locale are the source's: no setting changes them after the database was
    made, a compare would fail on them after the whole copy, and an SQL_ASCII target cannot even be read
    back as text. Checked before anything is written."""
    with connect(target, autocommit=True) as conn:
        target_locale = database_locale(conn)
    if source_locale and target_locale != source_locale:
        raise Refusal(
            f"target {target.masked()} was made with {target_locale}, the source with {source_locale}: a copy "
            "would differ in sort order and text handling, and no setting changes it now. Make the target with the "
            "source's encoding and locale (cnpg: state-hub-infra:dbLocale, which stage empty renders into "
            "bootstrap.initdb; elsewhere CREATE DATABASE ... ENCODING ... LOCALE ... TEMPLATE template0); "
            "nothing was changed"
        )


LOCK_ROOM = """SELECT current_setting('max_locks_per_transaction')::int
    * (current_setting('max_connections')::int + current_setting('max_prepared_transactions')::int)"""


def require_lock_room(fp: Fingerprint, target: Dsn) -> None:
    """A single-transaction restore holds a lock on every relation it creates (each table, its TOAST table and
    TOAST index, each index and sequence) until it commits: refuse before starting when that cannot fit in
    the target's shared lock table, which would end the restore with "out of shared memory"."""
    tables = [name for name, info in fp["tables"].items() if "schema" in info]
    needed = 3 * len(tables) + len(fp["schema"].get("indexes", [])) + len(fp["schema"].get("sequences", []))
    with connect(target, autocommit=True) as conn:
        room = int(str((conn.execute(LOCK_ROOM).fetchone() or [0])[0]))
    if needed > room * 0.8:
        raise Refusal(
            f"the restore creates {len(tables)} tables and their indexes and sequences in one transaction: about "
            f"{needed} locks, more than target {target.masked()} has room for ({room}: max_locks_per_transaction x "
            "(max_connections + max_prepared_transactions)). Raise max_locks_per_transaction on the target for the "
            f"restore (to at least {-(-needed * 5 // 4 // max(1, room // 64))}; on cnpg: postgresql.parameters, "
            "which restarts the instance); nothing was changed"
        )


def require_empty(target: Dsn) -> None:
    """A restore goes only into an empty database: it never merges or overwrites."""
    existing = user_objects(target)
    if existing:
        raise Refusal(
            f"target {target.masked()} is not empty ({len(existing)} objects, e.g. {existing[0]}): restore only "
            "into an empty database; empty it with scripts/reset_target.py --target ... --manifest MANIFEST "
            "(it lists what it would drop; --drop drops it, as the owner can on cnpg) or point --target at an "
            "empty one"
        )


def restore(
    dump_dir: Path,
    target: Dsn,
    *,
    pg_bin: Path | None = None,
    target_role: TargetRole = TargetRole.CLUSTER,
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
