"""The engine tier: the real Pulumi CLI and Kubernetes provider against a real API server.

Needs `uv run scripts/engine_tools.py build` (cached after the first time); without it, every test here is
skipped with that reason. The cnpg and Barman Cloud CRDs come from their pinned Go modules.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from statehub.engine.control_plane import LocalCluster, running
from statehub.engine.engine_program import EngineStack, create_engine_stack
from statehub.engine.pki import CONTEXT
from statehub.rehearsal.gate_runs import STAND_IN_DECISIONS
from tests.tiers import engine_tools

PROJECT_DIR = Path(__file__).resolve().parents[2]
STACK = "railiance01"

NewStack = Callable[..., EngineStack]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.engine)


@pytest.fixture(scope="session")
def engine_bin() -> Path:
    tools, why = engine_tools()
    if tools is None:
        pytest.skip(why or "engine tools unavailable")
    return tools


@pytest.fixture
def cluster(engine_bin: Path, tmp_path: Path) -> Iterator[LocalCluster]:
    """A fresh API server per test (about 5 s): stacks that apply must not meet each other's objects."""
    with running(tmp_path / "kube", engine_bin, lambda _: None) as local:
        yield local


@pytest.fixture
def new_stack(engine_bin: Path, cluster: LocalCluster, tmp_path: Path) -> NewStack:
    """`new_stack(**config)`: a temporary railiance01 stack pointed at the local API server.

    Each stack gets its own copy of the project files and its own file backend; `stage` etc. come
    from the committed stack file unless `config` overrides them.
    """

    def create(secret_config: dict[str, str] | None = None, **config: str) -> EngineStack:
        return create_engine_stack(
            PROJECT_DIR,
            STACK,
            tmp_path / f"stack-{secrets.token_hex(3)}",
            engine_bin,
            config={
                "kubeconfig": str(cluster.kubeconfig),
                "kubeContext": CONTEXT,
                "apiOnlyCluster": "true",
                "dbLocale": "en_US.utf8",
                **STAND_IN_DECISIONS,
                **config,
            },
            secret_config={"dbOwnerPassword": secrets.token_urlsafe(24)} if secret_config is None else secret_config,
        )

    return create
