"""A snapshot-consistent dump: pg_dump and the source fingerprint read the same exported snapshot."""

from __future__ import annotations

import copy
import re
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from statehub.data.archive import ARCHIVE_NAME, MANIFEST_NAME, archive_sha256
from statehub.data.dsn import Dsn, connect
from statehub.data.errors import ToolError
from statehub.data.fingerprint import database_identity_of, fingerprint
from statehub.data.pgtools import (
    dump_major_of,
    find_tool,
    pipe_tools,
    require_matching,
    run_tool,
    server_major_of,
)
from statehub.data.processes import interrupts_to_the_main_thread, stop_all_work
from statehub.data.progress import Progress, quietly
from statehub.data.report_files import check_out_dir, output_folder, write_report
from statehub.data.restoring import RESTORE_FLAGS, require_empty, require_same_locale
from statehub.data.schema_signature import database_locale
from statehub.data.unchanged import read_at, unchanged_proof
from statehub.policy.fingerprints import Fingerprint, database_identity, fingerprint_digest
from statehub.policy.refusal import Refusal
from statehub.policy.report import Report

_DOCKER_ENV = ("PGUSER", "PGDATABASE", "PGPASSWORD")


def _pg_dump_argv(snapshot: str, out: Path | None, plan: DumpPlan, *, dbname: str) -> list[str]:
    """pg_dump's arguments; `out` None writes the archive to stdout (a piped copy)."""
    fmt = ["-Fd", "-j", str(plan.jobs)] if plan.jobs > 1 else ["-Fc"]
    level = [] if plan.compress else ["-Z0"]
    target = ["-f", str(out)] if out else []
    return [*fmt, *level, "--snapshot", snapshot, "--no-sync", *target, "-d", dbname]


def _docker_dump(container: str, snapshot: str, out: Path, dsn: Dsn) -> str:
    """pg_dump inside the container that runs the source: its tools match the server by construction."""
    env = dsn.child_env()
    version = run_tool(["docker", "exec", container, "pg_dump", "--version"], None).stdout.strip()
    passed = [flag for name in _DOCKER_ENV if name in env for flag in ("-e", name)]
    argv = ["docker", "exec", "-i", *passed, container, "pg_dump", "-Fc", "--snapshot", snapshot]
    with out.open("wb") as archive:
        result = subprocess.run(argv, env=env, stdout=archive, stderr=subprocess.PIPE, check=False)
    if result.returncode != 0:
        last = (result.stderr.decode(errors="replace").strip().splitlines() or ["(no message)"])[-1]
        raise ToolError(f"pg_dump in container {container} failed (exit {result.returncode}): {last}")
    return version


_SETVAL = re.compile(r"setval\('(?P<name>(?:[^']|'')+)', (?P<value>-?\d+), (?P<called>true|false)\)")


def archived_sequences(archive: Path, pg_bin: Path | None, dump_major: int) -> dict[str, list[int | bool]]:
    """Sequence values as the archive will restore them.

    Sequences are not transactional: pg_dump reads them outside the snapshot, so the values a
    restore sets come from the archive itself, not from the snapshot fingerprint.
    """
    pg_restore = str(find_tool("pg_restore", pg_bin, at_least=dump_major))
    listing = run_tool([pg_restore, "-l", str(archive)], None).stdout
    wanted = "".join(line + "\n" for line in listing.splitlines() if " SEQUENCE SET " in line)
    list_file = archive.parent / ".sequence-set.list"
    list_file.write_text(wanted)
    try:
        script = run_tool([pg_restore, "-f", "-", "-L", str(list_file), str(archive)], None).stdout
    finally:
        list_file.unlink()
    # pg_dump names a sequence as format('%I.%I') does, the fingerprint's key; '' is a quote in the literal
    return {m["name"].replace("''", "'"): [int(m["value"]), m["called"] == "true"] for m in _SETVAL.finditer(script)}


def _carried(conn: psycopg.Connection[Any], earlier: Fingerprint | None) -> tuple[Fingerprint, str] | None:
    """`earlier` and why it is the fingerprint of this session's snapshot, or None (then read it)."""
    if earlier is None:
        return None
    now = {**read_at(conn), **database_identity_of(conn)}
    proof = unchanged_proof({**earlier.get("read_at", {}), **database_identity(earlier)}, now)
    return (earlier, f"carried from the fingerprint read before: {proof}") if proof else None


def _side_by_side(
    run_dump: Callable[[], tuple[str, tuple[str, int] | None]], run_fingerprint: Callable[[], Fingerprint]
) -> tuple[tuple[str, tuple[str, int] | None], Fingerprint]:
    """pg_dump and the fingerprint of its snapshot at once; when one fails, the other is stopped."""
    with ThreadPoolExecutor(2, initializer=interrupts_to_the_main_thread) as pool:
        dumped, fingerprinted = pool.submit(run_dump), pool.submit(run_fingerprint)
        halves: list[Future[Any]] = [dumped, fingerprinted]
        done, _ = wait(halves, return_when=FIRST_EXCEPTION)
        if any(future.exception() for future in done):
            stop_all_work()  # the other half would wait on (for a lock, say) with nothing to deliver to
        return dumped.result(), fingerprinted.result()


@dataclass(frozen=True)
class DumpPlan:
    """How one dump is taken: where pg_dump runs, the archive's format, and whether it streams into a database."""

    jobs: int = 1
    """Parallel pg_dump jobs; more than one writes the directory format."""
    docker_container: str | None = None
    """pg_dump runs inside the source's own container (its tools match its server by construction)."""
    pg_bin: Path | None = None
    compress: bool = True
    """False: `-Z0`, faster where the archive is short-lived (the final copy), larger on disk."""
    restore_into: Dsn | None = None
    """An empty database the archive streams into while it is written: the piped final copy."""
    unchanged_since: Fingerprint | None = None
    """A fingerprint of the source read earlier (the freeze's): the manifest's when provably unchanged."""

    @property
    def archive_format(self) -> str:
        return "directory" if self.jobs > 1 else "custom"

    def check(self, source: Dsn) -> None:
        """Refuse what cannot be done before anything is read: a piped copy is one custom archive into an
        empty database of the source's locale."""
        if self.restore_into is None:
            return
        if self.jobs > 1 or self.docker_container:
            raise Refusal("a piped copy streams one custom-format archive: drop --jobs and --docker-container")
        with connect(source, autocommit=True) as conn:
            require_same_locale(database_locale(conn), self.restore_into)
        require_empty(self.restore_into)


def dump(
    source: Dsn,
    out_dir: Path,
    *,
    jobs: int = 1,
    docker_container: str | None = None,
    pg_bin: Path | None = None,
    compress: bool = True,
    restore_into: Dsn | None = None,
    unchanged_since: Fingerprint | None = None,
    progress: Progress = quietly,
) -> Report:
    """Dump `source` into `out_dir` and write its manifest; the source is only read (`DumpPlan` says what each
    keyword does). Without `unchanged_since`, or when the dump's snapshot does not provably see the same state
    (`statehub.data.unchanged`), the dump fingerprints its own snapshot."""
    check_out_dir(out_dir)
    plan = DumpPlan(jobs, docker_container, pg_bin, compress, restore_into, unchanged_since)
    plan.check(source)
    with output_folder(out_dir):  # a dump that fails or is interrupted leaves no half archive behind
        return _dump_into(source, out_dir, plan, progress)


def _run_pg_dump(
    plan: DumpPlan, source: Dsn, snapshot: str, archive: Path, pg_dump: tuple[Path, int] | None
) -> tuple[str, tuple[str, int] | None]:
    """pg_dump of `snapshot` as the plan says: in the container, piped into the target, or to the archive file
    (`pg_dump`: the local tool and its major, None in the container). Its version, and the archive's sha256 and
    size when they were taken while streaming."""
    if pg_dump is None:
        assert plan.docker_container is not None
        return _docker_dump(plan.docker_container, snapshot, archive, source), None
    tool, dump_major = pg_dump
    version = f"pg_dump (PostgreSQL) {dump_major}"
    target = plan.restore_into
    argv = [str(tool), *_pg_dump_argv(snapshot, None if target else archive, plan, dbname=source.dbname)]
    if target is None:
        run_tool(argv, source)
        return version, None
    restore_tool = find_tool("pg_restore", plan.pg_bin, at_least=dump_major, at_most=server_major_of(target))
    pg_restore = [str(restore_tool), *RESTORE_FLAGS, "-d", target.dbname]
    return version, pipe_tools(argv, source, archive, pg_restore, target)


def _dump_into(source: Dsn, out_dir: Path, plan: DumpPlan, progress: Progress) -> Report:
    """The dump itself, into the checked, existing `out_dir`: archive and fingerprint in one snapshot."""
    started = time.monotonic()
    archive = out_dir / ARCHIVE_NAME
    with connect(source, autocommit=True) as conn:
        server_major = int(str((conn.execute("SHOW server_version_num").fetchone() or ["0"])[0])) // 10000
        pg_dump = None  # in the container; else the local tool, refused before the snapshot when missing or too old
        if not plan.docker_container:
            tool = find_tool("pg_dump", plan.pg_bin, at_least=server_major)
            pg_dump = (tool, require_matching(tool, server_major))
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        snapshot = str((conn.execute("SELECT pg_export_snapshot()").fetchone() or [""])[0])
        carried = _carried(conn, plan.unchanged_since)
        timings: dict[str, float] = {}

        def run_dump() -> tuple[str, tuple[str, int] | None]:
            t = time.monotonic()
            dumped = _run_pg_dump(plan, source, snapshot, archive, pg_dump)
            timings["pg_dump_s"] = round(time.monotonic() - t, 3)
            return dumped

        def run_fingerprint() -> Fingerprint:
            t = time.monotonic()
            fp = fingerprint(source, snapshot=snapshot)
            timings["fingerprint_s"] = round(time.monotonic() - t, 3)
            return fp

        into = f" into {plan.restore_into.masked()}" if plan.restore_into else ""
        with progress(f"dumping {source.masked()}{into} in snapshot {snapshot}"):
            if carried is not None:
                (pg_dump_version, streamed), fp = run_dump(), copy.deepcopy(carried[0])
            else:
                (pg_dump_version, streamed), fp = _side_by_side(run_dump, run_fingerprint)
        conn.execute("COMMIT")
    archived = archived_sequences(archive, plan.pg_bin, dump_major_of(pg_dump_version))
    fp["sequences"] = {name: archived.get(name, value) for name, value in fp["sequences"].items()}
    sha256, size = streamed or archive_sha256(archive)
    timings["total_s"] = round(time.monotonic() - started, 3)
    report = Report(
        kind="dump",
        result="pass",
        details={
            "source": source.masked(),
            "database": source.dbname,
            "archive": {
                "file": ARCHIVE_NAME,
                "format": plan.archive_format,
                "sha256": sha256,
                "size_bytes": size,
            },
            "server_version": fp["server_version"],
            "pg_dump_version": pg_dump_version,
            "snapshot": snapshot,
            "restored_into": plan.restore_into.masked() if plan.restore_into else None,
            "fingerprint": fp,
            "fingerprint_sha256": fingerprint_digest(fp),
            "fingerprint_read": carried[1] if carried else "in the dump's snapshot, while pg_dump read it",
            "timings": timings,
        },
    )
    write_report(report, out_dir / MANIFEST_NAME)
    return report
