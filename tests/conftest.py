"""What every tier shares: Hypothesis profiles (fixed seeds in CI, a long run on demand) and the shared
PostgreSQL 16 server of the data and hardening suites."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import settings

from statehub.data.ephemeral import EphemeralServer, ephemeral_server
from tests.tiers import header

settings.register_profile("ci", derandomize=True, max_examples=80, print_blob=True)
"""The default: the same examples on every run, so a CI failure is reproducible from its output."""
settings.register_profile("long", max_examples=3000, print_blob=True)
"""`--hypothesis-profile long --hypothesis-seed N`: new examples, the seed in the output."""
settings.load_profile("ci")


@pytest.fixture(scope="session")
def pg16() -> Iterator[EphemeralServer]:
    with ephemeral_server(tcp=True) as server:
        yield server


def pytest_report_header() -> list[str]:
    """Before anything runs: which of the engine and pods tiers will run, and why one will not."""
    return header()
