"""The agents' path, end to end: the operator's own MCP server (the command their agents start, with its
environment, `API_BASE` included) asked `get_state_summary` over stdio with the official MCP SDK, as an agent
asks it; its counts compared with the live State Hub's `/state/summary` and with the database the front door
should reach. A cutover is done when what the agents see is the cluster's data, not when a URL answers.

The server's environment may hold tokens: no value of it but `API_BASE` (without credentials) reaches the
report, and the server's own output is not read into it.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict
from urllib.parse import urlsplit

from psycopg import errors, sql

from statehub.data.api_checks import get_json
from statehub.data.dsn import Dsn, connect
from statehub.policy.api_contract import SUMMARY_PATH
from statehub.policy.refusal import Refusal
from statehub.policy.report import Report
from statehub.policy.safe_yaml import load_yaml

CLIENT_CHECK = "client-check"
SUMMARY_TOOL = "get_state_summary"
API_BASE = "API_BASE"
MCP_DEADLINE = 60.0
"""Seconds for the whole conversation: the server's start (imports), the handshake and the tool call."""


@dataclass(frozen=True)
class McpServer:
    """One entry of an MCP client configuration (`mcpServers.NAME`: command, args, env), as agents read it."""

    name: str
    command: str
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None

    def with_api_base(self, api_base: str | None) -> McpServer:
        return (
            self
            if api_base is None
            else McpServer(self.name, self.command, self.args, {**self.env, API_BASE: api_base}, self.cwd)
        )

    def api_base_shown(self) -> str:
        """`API_BASE` as the server gets it, without credentials; the server's default when unset."""
        value = self.env.get(API_BASE)
        if value is None:
            return "(unset: the server's default)"
        parts = urlsplit(value)
        host = parts.hostname or "?"
        return f"{parts.scheme}://{host}{f':{parts.port}' if parts.port else ''}{parts.path}"


class SummaryCounts(TypedDict):
    counts: dict[str, int] | None
    """None when that side gave no usable summary."""
    detail: str


class ClientCheckDetails(TypedDict):
    server: str
    command: str
    """The command's name only: its arguments and environment may hold secrets."""
    api_base: str
    mcp: SummaryCounts
    api: SummaryCounts
    database: SummaryCounts
    differences: list[str]


def read_mcp_config(path: Path, name: str) -> McpServer:
    """The server `name` of a JSON or YAML MCP configuration (`{"mcpServers": {NAME: {...}}}`)."""
    try:
        document = load_yaml(path.read_text(encoding="utf-8"))  # JSON is YAML
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise Refusal(f"--mcp-config {path}: not readable as JSON or YAML ({str(error).splitlines()[0]})") from None
    servers = document.get("mcpServers") if isinstance(document, dict) else None
    if not isinstance(servers, dict) or not servers:
        raise Refusal(f"--mcp-config {path}: no `mcpServers` mapping: give the agents' MCP configuration file")
    entry = servers.get(name)
    if not isinstance(entry, dict):
        known = ", ".join(sorted(map(str, servers)))
        raise Refusal(f"--mcp-server {name!r} is not in {path} (it has: {known}): give one of those")
    command, args, env = entry.get("command"), entry.get("args", []), entry.get("env", {})
    if not isinstance(command, str) or not command:
        raise Refusal(f"--mcp-config {path}: server {name!r} has no `command`")
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        raise Refusal(f"--mcp-config {path}: server {name!r}'s `args` is not a list of strings")
    if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
        raise Refusal(f"--mcp-config {path}: server {name!r}'s `env` is not a mapping of strings")
    cwd = entry.get("cwd")
    if shutil.which(command, path=os.environ.get("PATH")) is None and not Path(command).is_file():
        raise Refusal(f"--mcp-config {path}: server {name!r}'s command {Path(command).name!r} is not found on PATH")
    return McpServer(
        name, command, tuple(args), {str(k): v for k, v in env.items()}, cwd if isinstance(cwd, str) else None
    )


def ask_summary(server: McpServer, deadline: float = MCP_DEADLINE) -> tuple[Any, str]:
    """`get_state_summary` through `server` over stdio: (the summary, "answered") or (None, why not)."""
    try:
        return asyncio.run(asyncio.wait_for(_call(server), deadline))
    except TimeoutError:
        return None, f"no answer within {deadline:g} s (start, handshake and call)"
    except Exception as error:
        return None, f"the MCP conversation failed: {_first_cause(error)}"


async def _call(server: McpServer) -> tuple[Any, str]:
    from mcp import Client  # noqa: PLC0415 - the SDK costs a second to import; only this check needs it
    from mcp.client.stdio import StdioServerParameters, stdio_client  # noqa: PLC0415

    parameters = StdioServerParameters(command=server.command, args=list(server.args), env=server.env, cwd=server.cwd)
    with tempfile.TemporaryFile("w+") as errlog:  # its output stays out of reports and logs
        async with Client(stdio_client(parameters, errlog=errlog)) as client:
            result = await client.call_tool(SUMMARY_TOOL, {})
    if result.is_error:
        return None, f"the tool {SUMMARY_TOOL} answered an error: {_text(result.content)[:200]}"
    if isinstance(result.structured_content, dict):
        return result.structured_content, "answered"
    try:
        return json.loads(_text(result.content)), "answered"
    except ValueError:
        return None, f"the tool {SUMMARY_TOOL} answered text that is not JSON: its counts cannot be compared"


def _text(content: list[Any]) -> str:
    return "".join(str(getattr(block, "text", "")) for block in content)


def _first_cause(error: BaseException) -> str:
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    return str(error) or type(error).__name__


def _counts(summary: Any) -> dict[str, int] | None:
    counts = summary.get("counts") if isinstance(summary, dict) else None
    if not isinstance(counts, dict) or not all(isinstance(v, int) and not isinstance(v, bool) for v in counts.values()):
        return None
    return {str(k): v for k, v in counts.items()}


def database_counts(dsn: Dsn, tables: list[str]) -> dict[str, int]:
    """`count(*)` of each named table of `public` that exists (a summary may count what is no table)."""
    found: dict[str, int] = {}
    with connect(dsn, autocommit=True) as conn:
        for table in tables:
            try:
                query = sql.SQL("SELECT count(*)::bigint FROM public.{}").format(sql.Identifier(table))
                row = conn.execute(query).fetchone()
            except errors.UndefinedTable:
                continue
            found[table] = int(str(row[0])) if row else 0
    return found


def client_check(server: McpServer, api: str, database: Dsn | None, deadline: float = MCP_DEADLINE) -> Report:
    """What an agent sees, against what the live API and (given) the database hold."""
    summary, said = ask_summary(server, deadline)
    mcp_counts = _counts(summary)
    answer = get_json(api.rstrip("/") + SUMMARY_PATH)
    api_counts = _counts(answer.body) if answer.status == 200 else None
    differences: list[str] = []
    if mcp_counts is None:
        differences.append(f"the agents' path gave no counts: {said}")
    if api_counts is None:
        differences.append(f"the live API's {SUMMARY_PATH} gave no counts (HTTP {answer.status})")
    if mcp_counts is not None and api_counts is not None and mcp_counts != api_counts:
        differences.append(f"the agents see other counts than the live API: {_delta(mcp_counts, api_counts)}")
    held: dict[str, int] | None = None
    if database is not None:
        held = database_counts(database, sorted(api_counts or mcp_counts or {}))
        seen = mcp_counts or {}
        if not held:
            differences.append("the database holds none of the counted tables")
        elif any(seen.get(table) != n for table, n in held.items()):
            differences.append(f"the agents see other counts than the database: {_delta(seen, held)}")
    details: ClientCheckDetails = {
        "server": server.name,
        "command": Path(server.command).name,
        "api_base": server.api_base_shown(),
        "mcp": {"counts": mcp_counts, "detail": said},
        "api": {"counts": api_counts, "detail": f"{api.rstrip('/')}{SUMMARY_PATH}: HTTP {answer.status}"},
        "database": {"counts": held, "detail": database.masked() if database else "not asked"},
        "differences": differences,
    }
    return Report(kind=CLIENT_CHECK, result="fail" if differences else "pass", details=dict(details))


def _delta(seen: dict[str, int], held: dict[str, int]) -> str:
    keys = sorted(set(seen) | set(held))
    return ", ".join(f"{k} {seen.get(k)} vs {held.get(k)}" for k in keys if seen.get(k) != held.get(k))
