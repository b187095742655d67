"""Benchmark (not part of the test suite): compare.py beside pg_dump on the shapes that cost the most.

    uv run scripts/benchmark.py [--shapes statehub-100x narrow wide many-tables] [--out docs/performance.md]

Each shape (statehub/benchmarks.py) is built on two throwaway PostgreSQL 16 servers; then, in one run,
`pg_dump -Fc -Z0` of the source and the whole `compare.py` command are timed (medians of three) and
their ratio printed. Appends a Markdown table to --out. The shapes take minutes to build.
"""

from __future__ import annotations

from statehub.cli.early import quiet_interrupts

quiet_interrupts()  # first: a Ctrl-C while the rest imports is one line too

import tempfile
from datetime import UTC, datetime
from pathlib import Path

from statehub.benchmarks import SHAPES, measure
from statehub.cli.entry import PASS, ScriptParser, console, run_cli


def main() -> int:
    parser = ScriptParser(__doc__)
    parser.add_argument(
        "--shapes", nargs="+", choices=sorted(SHAPES), default=["statehub-100x", "narrow", "wide", "many-tables"]
    )
    parser.add_argument("--out", type=Path, default=Path("docs/performance.md"))
    args = parser.parse_args()
    lines = [
        f"\n### compare.py beside pg_dump, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC (2 cores; PostgreSQL 16)\n",
        "| shape | db MB | pg_dump -Fc -Z0 s | compare.py command s | command / pg_dump |",
        "|---|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory() as work:
        for name in args.shapes:
            console().print(f"building and measuring {name}: {SHAPES[name].what}")
            r = measure(SHAPES[name], Path(work))
            lines.append(
                f"| {name} | {r.megabytes:.0f} | {r.pg_dump_z0:.2f} | {r.compare_command:.2f} | {r.ratio:.2f} |"
            )
            console().print(lines[-1])
    with args.out.open("a") as report:
        report.write("\n".join(lines) + "\n")
    return PASS


if __name__ == "__main__":
    run_cli(main)
