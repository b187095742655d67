"""The agents' path: the stand-in MCP server started from an MCP configuration, as agents start it, asked
`get_state_summary` with the official SDK; its counts against the live API and the database. And what it must
not be fooled by: a server whose API_BASE is another State Hub, one that answers an error, text that is not
JSON, a server that dies or never answers; what it must not leak: the server's environment."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from standins.state_hub.serving import serving_each
from statehub.data.client_check import McpServer, client_check, read_mcp_config
from statehub.data.dsn import Dsn, connect
from statehub.policy.refusal import Refusal
from statehub.rehearsal.agents_view import stand_in_mcp_server
from tests.data.conftest import no_password, script_env
from tests.script_runner import run_script


@pytest.fixture(scope="module")
def two_hubs(pg16: Any) -> Iterator[tuple[Dsn, str, Dsn, str]]:
    """The live State Hub and another one holding one task more (the other side of a migration)."""
    from tests.data.conftest import create_db

    live, other = create_db(pg16, scale=1), create_db(pg16, scale=1)
    with connect(other) as conn:
        conn.execute("INSERT INTO tasks (workstream_id, title) VALUES (3, 'only on the other side')")
        conn.commit()
    with serving_each([live.url(), other.url()]) as (live_api, other_api):
        yield live, live_api, other, other_api


def _config(tmp_path: Path, api_base: str, **env: str) -> Path:
    """The agents' MCP configuration of the stand-in server (as the rehearsal starts it), `env` added."""
    path = tmp_path / "mcp.json"
    stand_in = stand_in_mcp_server(api_base)
    server = {"command": stand_in.command, "args": list(stand_in.args), "env": {**stand_in.env, **env}}
    path.write_text(json.dumps({"mcpServers": {"state-hub": server}}))
    return path


def test_the_agents_see_the_live_database(two_hubs: tuple[Dsn, str, Dsn, str], tmp_path: Path) -> None:
    live, live_api, _, _ = two_hubs
    server = read_mcp_config(_config(tmp_path, live_api), "state-hub")
    report = client_check(server, live_api, live)
    assert report.result == "pass", report.details["differences"]
    assert report.details["mcp"]["counts"] == report.details["api"]["counts"]
    assert report.details["database"]["counts"] == report.details["mcp"]["counts"]
    assert report.details["mcp"]["counts"]["tasks"] == 989


def test_agents_still_pointed_at_the_other_side_fail(two_hubs: tuple[Dsn, str, Dsn, str], tmp_path: Path) -> None:
    """The front door was flipped, but the agents' API_BASE names the old side: the counts give it away."""
    live, live_api, _, other_api = two_hubs
    report = client_check(read_mcp_config(_config(tmp_path, other_api), "state-hub"), live_api, live)
    assert report.result == "fail"
    assert report.details["differences"] == [
        "the agents see other counts than the live API: tasks 990 vs 989",
        "the agents see other counts than the database: tasks 990 vs 989",
    ]


def test_a_live_api_on_the_wrong_database_fails(two_hubs: tuple[Dsn, str, Dsn, str], tmp_path: Path) -> None:
    """Agents and API agree, but both serve the other database than the one the front door should reach."""
    live, _, _, other_api = two_hubs
    report = client_check(read_mcp_config(_config(tmp_path, other_api), "state-hub"), other_api, live)
    assert report.details["differences"] == ["the agents see other counts than the database: tasks 990 vs 989"]


HOSTILE_SERVERS = {
    "dies at start": (["-c", "import sys; sys.exit(3)"], "the MCP conversation failed"),
    "never answers": (["-c", "import time; time.sleep(600)"], "no answer within 5 s"),
    "says nonsense": (["-c", "print('this is not JSON-RPC', flush=True); import time; time.sleep(600)"], "no answer"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_SERVERS))
def test_a_broken_server_fails_within_its_deadline(case: str, two_hubs: tuple[Dsn, str, Dsn, str]) -> None:
    args, expected = HOSTILE_SERVERS[case]
    started = time.monotonic()
    report = client_check(McpServer("broken", sys.executable, tuple(args)), two_hubs[1], None, deadline=5)
    assert time.monotonic() - started < 15
    assert report.result == "fail"
    assert report.details["mcp"]["detail"].startswith(expected), report.details["mcp"]


def test_an_unreachable_api_base_is_the_tools_error(two_hubs: tuple[Dsn, str, Dsn, str], tmp_path: Path) -> None:
    report = client_check(read_mcp_config(_config(tmp_path, "http://127.0.0.1:9"), "state-hub"), two_hubs[1], None)
    assert report.details["mcp"]["detail"].startswith("the tool get_state_summary answered an error")


def test_the_environment_never_reaches_the_report(two_hubs: tuple[Dsn, str, Dsn, str], tmp_path: Path) -> None:
    live, live_api, _, _ = two_hubs
    config = _config(tmp_path, live_api.replace("http://", "http://agent:hunter2@"), API_TOKEN="s3cret-token")
    report_path = tmp_path / "client-check.json"
    done = run_script(
        "client_check.py",
        "--mcp-config",
        str(config),
        "--api",
        live_api,
        "--database",
        no_password(live),
        "--report",
        str(report_path),
        env=script_env(live),
    )
    written = report_path.read_text()
    assert "s3cret-token" not in written + done.stderr and "hunter2" not in written + done.stderr
    assert json.loads(written)["details"]["api_base"] == live_api


BAD_CONFIGS = {
    "not there": ({"mcpServers": {"other": {"command": "true"}}}, "--mcp-server 'state-hub' is not in"),
    "no servers": ({"servers": {}}, "no `mcpServers` mapping"),
    "no command": ({"mcpServers": {"state-hub": {"args": []}}}, "server 'state-hub' has no `command`"),
    "missing command": ({"mcpServers": {"state-hub": {"command": "no-such-mcp"}}}, "'no-such-mcp' is not found"),
    "env not strings": ({"mcpServers": {"state-hub": {"command": "true", "env": {"A": 1}}}}, "`env` is not a mapping"),
}


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_a_bad_configuration_is_refused_before_anything_starts(case: str, tmp_path: Path) -> None:
    document, expected = BAD_CONFIGS[case]
    path = tmp_path / "mcp.json"
    path.write_text(json.dumps(document))
    with pytest.raises(Refusal, match=expected.replace("(", r"\(").replace("`", "`")):
        read_mcp_config(path, "state-hub")
    done = run_script(
        "client_check.py",
        "--mcp-config",
        str(path),
        "--api",
        "http://127.0.0.1:9",
        "--report",
        str(tmp_path / "r.json"),
    )
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and done.stderr.startswith("error: ")
    assert not (tmp_path / "r.json").exists()
