"""The pods tier: the stack applied to a local node that runs pods, with the real cnpg operator.

One node per test session (about a minute to start; its addresses are fixed, so one at a time per
machine), shared by every test here, which all run in one xdist worker (`xdist_group`). The lifecycle
tests start and stop nodes of their own, before the shared one exists. Needs root, the pods group of
`scripts/engine_tools.py build` and its images, and Debian's containerd, runc, CNI plugins, iptables,
ipset, skopeo and docker-registry; without them every test here is skipped, saying which is missing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from statehub.engine import node
from statehub.engine.pod_images import images_dir
from statehub.rehearsal.pods_side import PodsStack, pods_cluster
from statehub.rehearsal.rehearsal import rehearse
from statehub.rehearsal.timeline import Summary
from tests.tiers import engine_tools, pods_unavailable

PODS_TIER = [pytest.mark.pods, pytest.mark.xdist_group("pods")]
"""Every module here sets `pytestmark = PODS_TIER`: one worker runs them all (`--dist loadgroup`), so one node
serves the session. (With pytest 9 the grouping silently did nothing and each worker started a node; the lock
keeps pytest below 9, see pyproject.toml.)"""


@dataclass(frozen=True)
class PodsTools:
    bin_dir: Path
    images: Path


@pytest.fixture(scope="session")
def pods_tools() -> PodsTools:
    tools, engine_why = engine_tools()
    why = engine_why or pods_unavailable(tools)
    if tools is None or why:
        pytest.skip(f"pods tier: {why}")
    return PodsTools(tools, images_dir(tools))


@pytest.fixture(scope="session")
def pods_node(pods_tools: PodsTools, tmp_path_factory: pytest.TempPathFactory) -> Iterator[node.NodeCluster]:
    with node.running(tmp_path_factory.mktemp("pods") / "node", pods_tools.bin_dir, pods_tools.images, print) as up:
        yield up


@dataclass(frozen=True)
class Rehearsed:
    node: node.NodeCluster
    stack: PodsStack
    out: Path
    summary: Summary


@pytest.fixture(scope="session")
def rehearsed_on_pods(
    pods_node: node.NodeCluster, pods_tools: PodsTools, tmp_path_factory: pytest.TempPathFactory
) -> Rehearsed:
    """The whole migration rehearsed with the stack on the node as railiance01 (the stack stays applied)."""
    work = tmp_path_factory.mktemp("rehearsal-on-pods")
    made: list[PodsStack] = []
    summary = rehearse(
        work / "out",
        cluster=pods_cluster(pods_node, work, pods_tools.bin_dir, made),
        echo=lambda step: print(f"{step.result:>7} {step.seconds:8.3f} s  {step.name}  {step.detail[:160]}"),
    )
    return Rehearsed(pods_node, made[0], work / "out", summary)
