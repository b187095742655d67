"""Benchmark (not part of the test suite): the data tools at 1x, 100x and 1000x the real size.

    uv run scripts/benchmark.py [--scales 1 100 1000] [--out docs/performance.md]

For each scale: seed a synthetic State Hub on a throwaway PostgreSQL 16, then time in one run
`pg_dump -Fc`, uncompressed `pg_dump -Fc -Z0`, a two-sided compare (both servers read at once),
and `restore.py` (verify + single-transaction restore + compare), with their ratios to the
uncompressed dump. Appends a Markdown table to --out.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from statehub.cli.entry import PASS, ScriptParser, run_cli
from statehub.data.comparing import compare_databases
from statehub.data.dsn import Dsn, connect
from statehub.data.dumping import dump
from statehub.data.ephemeral import ephemeral_server
from statehub.data.pgtools import find_tool, run_tool
from statehub.data.restoring import restore
from statehub.data.synthetic import seed

REPEATS = 3
"""The read-only measurements (pg_dump, the compares) are taken this many times; the median counts."""


def timed(action: Callable[[], object], repeats: int = 1) -> float:
    seconds = []
    for _ in range(repeats):
        started = time.monotonic()
        action()
        seconds.append(time.monotonic() - started)
    return statistics.median(seconds)


def database_size(dsn: Dsn) -> int:
    with connect(dsn) as conn:
        return int(str((conn.execute("SELECT pg_database_size(current_database())").fetchone() or [0])[0]))


def measure(scale: int, work: Path) -> dict[str, float]:
    with ephemeral_server() as source_server, ephemeral_server() as target_server:
        source = source_server.create_database("state_hub")
        with connect(source) as conn:
            seed(conn, scale)
        with connect(source, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
        pg_dump = str(find_tool("pg_dump"))
        row: dict[str, float] = {"scale": scale, "size_mb": database_size(source) / 1e6}
        row["pg_dump_fc"] = timed(
            lambda: run_tool([pg_dump, "-Fc", "-f", str(work / f"c{scale}.dump"), "-d", source.dbname], source)
        )
        row["pg_dump_z0"] = timed(
            lambda: run_tool([pg_dump, "-Fc", "-Z0", "-f", str(work / f"z{scale}.dump"), "-d", source.dbname], source),
            REPEATS,
        )
        restored = target_server.create_database("state_hub")
        row["dump_py"] = timed(lambda: dump(source, work / f"dump{scale}"))
        row["restore_py"] = timed(lambda: restore(work / f"dump{scale}", restored))
        row["compare_py"] = timed(lambda: compare_databases(source, restored, source_label="bench"), REPEATS)
        row["compare_cli"] = timed(lambda: _compare_command(source, restored, work / f"compare{scale}.json"), REPEATS)
        return row


def _compare_command(source: Dsn, target: Dsn, report: Path) -> None:
    """The whole `compare.py` command, process start included, passwords through a passfile."""
    passfile = report.with_suffix(".pgpass")
    passfile.write_text(
        "".join(f"{d.get('host')}:{d.get('port')}:*:{d.get('user')}:{d.get('password')}\n" for d in (source, target))
    )
    passfile.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if k != "PGPASSWORD"} | {"PGPASSFILE": str(passfile)}
    subprocess.run(
        [
            sys.executable,
            str(Path(__file__).parent / "compare.py"),
            "--source",
            _without_password(source),
            "--target",
            _without_password(target),
            "--report",
            str(report),
        ],
        env=env,
        check=True,
        capture_output=True,
    )


def _without_password(dsn: Dsn) -> str:
    return " ".join(f"{k}={v}" for k, v in dsn.params if k != "password")


def main() -> int:
    parser = ScriptParser(__doc__)
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 100, 1000])
    parser.add_argument("--out", type=Path, default=Path("docs/performance.md"))
    args = parser.parse_args()
    lines = [
        f"\n### Data tools, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC (2 cores; PostgreSQL 16, pgserver)\n",
        "| scale | db MB | pg_dump -Fc s | pg_dump -Fc -Z0 s | dump.py s | restore.py s | compare in-process s "
        "| compare.py command s | command / -Z0 | restore / -Z0 |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory() as work:
        for scale in args.scales:
            r = measure(scale, Path(work))
            lines.append(
                f"| {scale}x | {r['size_mb']:.0f} | {r['pg_dump_fc']:.2f} | {r['pg_dump_z0']:.2f} | "
                f"{r['dump_py']:.2f} | {r['restore_py']:.2f} | {r['compare_py']:.2f} | {r['compare_cli']:.2f} | "
                f"{r['compare_cli'] / r['pg_dump_z0']:.2f} | {r['restore_py'] / r['pg_dump_z0']:.2f} |"
            )
            print(lines[-1], flush=True)
    with args.out.open("a") as report:
        report.write("\n".join(lines) + "\n")
    return PASS


if __name__ == "__main__":
    run_cli(main)
