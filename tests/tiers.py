"""Whether the engine and pods tiers can run here, and if not why: one answer for the fixtures that skip and for
the header pytest prints before anything runs (so a smaller run is never a silent one)."""

from __future__ import annotations

from pathlib import Path

from statehub.engine import node
from statehub.engine.engine_build import EngineBuildError, bin_dir, missing
from statehub.engine.pod_images import images_dir

BUILD = "run uv run scripts/engine_tools.py build (.ci/run does)"


def engine_tools() -> tuple[Path | None, str | None]:
    """The engine tier's binaries, or why there are none."""
    try:
        tools = bin_dir()
    except EngineBuildError as error:
        return None, f"engine tools unavailable: {error}"
    absent = missing(tools)
    return (None, f"engine tools not built ({', '.join(absent)}): {BUILD}") if absent else (tools, None)


def pods_unavailable(tools: Path | None) -> str | None:
    """Why the pods tier cannot run with these engine tools (None: it can)."""
    if tools is None:
        return "needs the engine tools first"
    absent = missing(tools, "pods")
    if absent:
        return f"not built ({', '.join(absent)}): {BUILD}"
    return node.unavailable(tools, images_dir(tools))


def header() -> list[str]:
    tools, engine_why = engine_tools()
    pods_why = pods_unavailable(tools)
    return [
        f"engine tier: {'runs' if engine_why is None else 'SKIPPED, ' + engine_why}",
        f"pods tier: {'runs' if pods_why is None else 'SKIPPED, ' + pods_why}",
    ]
