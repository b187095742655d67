"""The corpus of database shapes in tests/data/shapes/: one SQL file each, setup then mutations.

A file is its setup up to the first `-- mutation: NAME` line; each such line starts a mutation
that runs on a fresh copy of the setup. Every mutation must change the fingerprint; a dump and
restore of the setup must not (on the same major, and across majors).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from statehub.data.dsn import Dsn, connect

SHAPES_DIR = Path(__file__).parent / "shapes"
_MUTATION = re.compile(r"^-- mutation: (.+)$", re.MULTILINE)


@dataclass(frozen=True)
class Shape:
    name: str
    setup: str
    mutations: tuple[tuple[str, str], ...]


def load_shapes() -> list[Shape]:
    shapes = []
    for path in sorted(SHAPES_DIR.glob("*.sql")):
        parts = _MUTATION.split(path.read_text())
        mutations = tuple((parts[i].strip(), parts[i + 1]) for i in range(1, len(parts), 2))
        shapes.append(Shape(path.stem, parts[0], mutations))
    return shapes


def apply(dsn: Dsn, statements: str) -> None:
    with connect(dsn, autocommit=True) as conn:
        conn.execute(statements.encode())
