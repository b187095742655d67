"""No false alarm across majors: every shape of the corpus, dumped on one major and restored on
another with the tools the project picks, compares equal (the stack's target is PostgreSQL 17;
the workstation may run 15, 16 or 17)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from statehub.data.dumping import dump
from statehub.data.ephemeral import EphemeralServer
from statehub.data.restoring import restore
from tests.data.conftest import create_db
from tests.data.shape_corpus import apply, load_shapes

PAIRS = [(15, 16), (15, 17), (16, 17), (17, 17), (16, 18)]


@pytest.mark.parametrize(("source_major", "target_major"), PAIRS, ids=[f"{a}->{b}" for a, b in PAIRS])
def test_every_shape_restores_equal_across_majors(
    servers: Callable[[int], EphemeralServer], source_major: int, target_major: int, tmp_path: Path
) -> None:
    source_server, target_server = servers(source_major), servers(target_major)
    failed = {}
    for shape in load_shapes():
        source = create_db(source_server)
        apply(source, shape.setup)
        dump(source, tmp_path / shape.name, compress=False)
        report = restore(tmp_path / shape.name, create_db(target_server))
        if report.result != "pass":
            failed[shape.name] = report.details["differences"][:3]
    assert not failed, failed
