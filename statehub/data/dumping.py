"""A snapshot-consistent dump: pg_dump and the source fingerprint read the same exported snapshot."""

from __future__ import annotations

import copy
import re
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
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


def _pg_dump_argv(snapshot: str, out: Path | None, jobs: int, *, dbname: str, compress: bool) -> list[str]:
    """pg_dump's arguments; `out` None writes the archive to stdout (a piped copy)."""
    fmt = ["-Fd", "-j", str(jobs)] if jobs > 1 else ["-Fc"]
    level = [] if compress else ["-Z0"]
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
    """Dump `source` into `out_dir` and write its manifest; the source is only read.

    `compress=False` writes an uncompressed archive: faster where the archive is short-lived
    (the final copy inside the write-freeze window), larger on disk. `restore_into` (an empty
    database) streams the archive into pg_restore while it is written: the piped final copy.
    `unchanged_since` (a fingerprint of `source` read earlier: the freeze's) becomes the manifest's
    fingerprint when the dump's snapshot provably sees the same state (`statehub.data.unchanged`);
    otherwise the dump fingerprints its own snapshot, as without it.
    """
    check_out_dir(out_dir)
    if restore_into is not None:
        if jobs > 1 or docker_container:
            raise Refusal("a piped copy streams one custom-format archive: drop --jobs and --docker-container")
        with connect(source, autocommit=True) as conn:
            require_same_locale(database_locale(conn), restore_into)
        require_empty(restore_into)
    with output_folder(out_dir):  # a dump that fails or is interrupted leaves no half archive behind
        return _dump_into(
            source,
            out_dir,
            jobs=jobs,
            docker_container=docker_container,
            pg_bin=pg_bin,
            compress=compress,
            restore_into=restore_into,
            unchanged_since=unchanged_since,
            progress=progress,
        )


def _dump_into(
    source: Dsn,
    out_dir: Path,
    *,
    jobs: int,
    docker_container: str | None,
    pg_bin: Path | None,
    compress: bool,
    restore_into: Dsn | None,
    unchanged_since: Fingerprint | None,
    progress: Progress,
) -> Report:
    """The dump itself, into the checked, existing `out_dir`: archive and fingerprint in one snapshot."""
    started = time.monotonic()
    with connect(source, autocommit=True) as conn:
        server_major = int(str((conn.execute("SHOW server_version_num").fetchone() or ["0"])[0])) // 10000
        pg_dump = None if docker_container else find_tool("pg_dump", pg_bin, at_least=server_major)
        pg_dump_major = require_matching(pg_dump, server_major) if pg_dump else None
        archive = out_dir / ARCHIVE_NAME
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        snapshot = str((conn.execute("SELECT pg_export_snapshot()").fetchone() or [""])[0])
        carried = _carried(conn, unchanged_since)
        timings: dict[str, float] = {}

        def run_dump() -> tuple[str, tuple[str, int] | None]:
            """pg_dump's version, and the archive's sha256 and size when they were taken while streaming."""
            t = time.monotonic()
            streamed = None
            if docker_container:
                version = _docker_dump(docker_container, snapshot, archive, source)
            else:
                assert pg_dump is not None
                version = f"pg_dump (PostgreSQL) {pg_dump_major}"
                if restore_into is not None:
                    argv = [str(pg_dump), *_pg_dump_argv(snapshot, None, jobs, dbname=source.dbname, compress=compress)]
                    restore_tool = find_tool(
                        "pg_restore", pg_bin, at_least=pg_dump_major or 0, at_most=server_major_of(restore_into)
                    )
                    pg_restore = [str(restore_tool), *RESTORE_FLAGS, "-d", restore_into.dbname]
                    streamed = pipe_tools(argv, source, archive, pg_restore, restore_into)
                else:
                    argv = [
                        str(pg_dump),
                        *_pg_dump_argv(snapshot, archive, jobs, dbname=source.dbname, compress=compress),
                    ]
                    run_tool(argv, source)
            timings["pg_dump_s"] = round(time.monotonic() - t, 3)
            return version, streamed

        def run_fingerprint() -> Fingerprint:
            t = time.monotonic()
            fp = fingerprint(source, snapshot=snapshot)
            timings["fingerprint_s"] = round(time.monotonic() - t, 3)
            return fp

        into = f" into {restore_into.masked()}" if restore_into else ""
        with progress(f"dumping {source.masked()}{into} in snapshot {snapshot}"):
            if carried is not None:
                (pg_dump_version, streamed), fp = run_dump(), copy.deepcopy(carried[0])
            else:
                (pg_dump_version, streamed), fp = _side_by_side(run_dump, run_fingerprint)
        conn.execute("COMMIT")
    archived = archived_sequences(archive, pg_bin, dump_major_of(pg_dump_version))
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
                "format": "directory" if jobs > 1 else "custom",
                "sha256": sha256,
                "size_bytes": size,
            },
            "server_version": fp["server_version"],
            "pg_dump_version": pg_dump_version,
            "snapshot": snapshot,
            "restored_into": restore_into.masked() if restore_into else None,
            "fingerprint": fp,
            "fingerprint_sha256": fingerprint_digest(fp),
            "fingerprint_read": carried[1] if carried else "in the dump's snapshot, while pg_dump read it",
            "timings": timings,
        },
    )
    write_report(report, out_dir / MANIFEST_NAME)
    return report
