"""The stand-in of the agents' MCP server: a stdio subprocess that calls the State Hub at `API_BASE`
(default http://127.0.0.1:8000, the tunnel or front door) and serves `get_state_summary`, as the real one does.

It answers with the summary's JSON as text (what an agent reads); an API that does not answer is the tool's
error, not the server's end, so a client sees what an agent would.

    API_BASE=http://127.0.0.1:8000 python -m standins.state_hub.mcp_server
"""

from __future__ import annotations

import json
import os
import urllib.request

from mcp.server.mcpserver import MCPServer

DEFAULT_API_BASE = "http://127.0.0.1:8000"
SUMMARY_PATH = "/state/summary"
"""The real MCP server's own knowledge of the API, kept here rather than imported: it is another program."""

server = MCPServer("state-hub")


@server.tool(structured_output=False)
def get_state_summary() -> str:
    """Counts, tasks by status, the newest items and token totals of the State Hub."""
    base = os.environ.get("API_BASE", DEFAULT_API_BASE).rstrip("/")
    with urllib.request.urlopen(base + SUMMARY_PATH, timeout=20.0) as answer:  # noqa: S310 - http(s) API_BASE
        return json.dumps(json.load(answer), sort_keys=True)


if __name__ == "__main__":
    server.run("stdio")
