"""The shapes the data tools are measured on, and the measurements (scripts/benchmark.py prints them).

Each shape is built the same way on two throwaway PostgreSQL 16 servers (the source and its copy), then,
in one run and side by side: `pg_dump -Fc -Z0` of the source, and the whole `compare.py` command
(process start included, Python's bytecode compiled as an operator's first run leaves it). The ratio of
the two is what issue 22 asks to keep at or under 1.0.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from standins.state_hub.synthetic import seed
from statehub.data.dsn import Dsn, connect
from statehub.data.ephemeral import ephemeral_server
from statehub.data.pgtools import find_tool, run_tool

REPEATS = 3
"""Each measurement is taken this many times; the median counts."""


def _state_hub(scale: int) -> Callable[[Dsn], None]:
    def build(dsn: Dsn) -> None:
        with connect(dsn) as conn:
            seed(conn, scale)

    return build


def _narrow(dsn: Dsn) -> None:
    with connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE narrow (id int PRIMARY KEY, flag bool)")
        conn.execute("INSERT INTO narrow SELECT g, g % 2 = 0 FROM generate_series(1, 1000000) g")


def _wide(dsn: Dsn) -> None:
    columns = ", ".join(f"c{i} int" for i in range(1199))
    values = ", ".join(f"g + {i}" for i in range(1199))
    with connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE wide (id int PRIMARY KEY, {columns})")
        conn.execute(f"INSERT INTO wide SELECT g, {values} FROM generate_series(1, 50) g")


def _many_tables(dsn: Dsn) -> None:
    with connect(dsn, autocommit=True) as conn:
        for first in range(1, 5001, 500):
            conn.execute(
                f"""DO $$ BEGIN FOR i IN {first}..{first + 499} LOOP
                    EXECUTE format('CREATE TABLE t%s (id serial PRIMARY KEY, v text);
                                    INSERT INTO t%s (v) VALUES (''a''), (''b'')', i, i);
                END LOOP; END $$"""
            )


@dataclass(frozen=True)
class Shape:
    name: str
    what: str
    build: Callable[[Dsn], None]


SHAPES = {
    shape.name: shape
    for shape in (
        Shape("statehub-1x", "the synthetic State Hub at its real size", _state_hub(1)),
        Shape("statehub-100x", "the synthetic State Hub at 100x", _state_hub(100)),
        Shape("statehub-1000x", "the synthetic State Hub at 1000x", _state_hub(1000)),
        Shape("narrow", "10^6 narrow rows (int, bool)", _narrow),
        Shape("wide", "1,200 int columns x 50 rows", _wide),
        Shape("many-tables", "5,000 tables of two rows, each with a serial key", _many_tables),
    )
}


def median_seconds(action: Callable[[], object], repeats: int = REPEATS) -> float:
    seconds = []
    for _ in range(repeats):
        started = time.monotonic()
        action()
        seconds.append(time.monotonic() - started)
    return statistics.median(seconds)


def database_megabytes(dsn: Dsn) -> float:
    with connect(dsn) as conn:
        return int(str((conn.execute("SELECT pg_database_size(current_database())").fetchone() or [0])[0])) / 1e6


@dataclass(frozen=True)
class Measured:
    shape: str
    megabytes: float
    pg_dump_z0: float
    compare_command: float

    @property
    def ratio(self) -> float:
        return self.compare_command / self.pg_dump_z0


SERVER_SETTINGS = {"max_connections": "100"}
"""PostgreSQL's default: the lock table a plain pg_dump of 5,000 tables needs."""


def measure(shape: Shape, work: Path) -> Measured:
    with (
        ephemeral_server(tcp=True, settings=SERVER_SETTINGS) as a,
        ephemeral_server(tcp=True, settings=SERVER_SETTINGS) as b,
    ):
        source, copy = a.create_database("state_hub", tcp=True), b.create_database("state_hub", tcp=True)
        for dsn in (source, copy):
            shape.build(dsn)
            with connect(dsn, autocommit=True) as conn:
                conn.execute("VACUUM ANALYZE")
        pg_dump = str(find_tool("pg_dump"))
        archive = work / f"{shape.name}.dump"
        dumped = median_seconds(
            lambda: run_tool([pg_dump, "-Fc", "-Z0", "-f", str(archive), "-d", source.dbname], source)
        )
        compared = median_seconds(lambda: compare_command(source, copy, work / f"{shape.name}.json"))
        return Measured(shape.name, database_megabytes(source), dumped, compared)


def compare_command(source: Dsn, target: Dsn, report: Path) -> None:
    """The whole `compare.py` command, process start included, passwords through a passfile."""
    passfile = report.with_suffix(".pgpass")
    passfile.write_text(
        "".join(f"{d.get('host')}:{d.get('port')}:*:{d.get('user')}:{d.get('password')}\n" for d in (source, target))
    )
    passfile.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if k not in ("PGPASSWORD", "PYTHONDONTWRITEBYTECODE")}
    env["PGPASSFILE"] = str(passfile)
    script = Path(__file__).resolve().parents[1] / "scripts" / "compare.py"
    argv = [
        sys.executable,
        str(script),
        "--source",
        _plain(source),
        "--target",
        _plain(target),
        "--report",
        str(report),
    ]
    subprocess.run(argv, env=env, check=True, capture_output=True)


def _plain(dsn: Dsn) -> str:
    return " ".join(f"{k}={v}" for k, v in dsn.params if k != "password")
