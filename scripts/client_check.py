"""What the agents see: ask the operator's own MCP server `get_state_summary`, as an agent does, and compare its
counts with the live State Hub's /state/summary and with the database the front door should reach.

    uv run scripts/client_check.py --mcp-config ~/.claude.json --mcp-server state-hub \
        --api http://127.0.0.1:8000 --database "$CLUSTER_DSN" --report evidence/client-check-cluster.json

--mcp-config is the agents' MCP configuration (JSON or YAML: `mcpServers.NAME` with `command`, `args`,
`env`); the server is started with exactly that command and environment (`API_BASE` included; --api-base
overrides it, e.g. to the tunnel) and spoken to over stdio with the official MCP SDK. After cutover the
database is the cluster's (through the tunnel: tunnel.py); T07 is done when this passes there. Nothing is
written. The report holds the command's name and API_BASE without credentials, never the environment.
Exit 0 the agents see the database's counts, 1 they do not, 2 refused.
"""

from __future__ import annotations

from statehub.cli.early import quiet_interrupts

quiet_interrupts()  # first: a Ctrl-C while the rest imports is one line too


from statehub.cli.entry import FAIL, PASS, ScriptParser, amount, console, http_url, run_cli, step
from statehub.cli.flags import add_database, add_mcp_server, add_report, database
from statehub.cli.record_flags import add_progress_flags, record_if_asked
from statehub.data.client_check import MCP_DEADLINE, client_check, read_mcp_config
from statehub.data.report_files import check_report_path, write_report


def main() -> int:
    parser = ScriptParser(__doc__)
    add_mcp_server(parser, required=True)
    parser.add_argument("--api-base", type=http_url, metavar="URL", help="the server's API_BASE instead of its own")
    parser.add_argument("--api", required=True, type=http_url, metavar="URL", help="the live State Hub's base URL")
    add_database(parser, "--database", "the database the live State Hub should serve (read only)", required=False)
    parser.add_argument(
        "--deadline",
        type=amount("seconds", 600, "60"),
        default=MCP_DEADLINE,
        metavar="SECONDS",
        help=f"seconds for the MCP server's start, handshake and call (default {MCP_DEADLINE:g})",
    )
    add_report(parser, "client check report to write")
    add_progress_flags(parser)
    args = parser.parse_args()
    check_report_path(args.report)  # before anything is started
    server = read_mcp_config(args.mcp_config, args.mcp_server).with_api_base(args.api_base)
    target = database(args.database, "--database") if args.database else None
    with step(f"ask {server.name} ({server.api_base_shown()}) for the summary, as an agent does"):
        report = client_check(server, args.api, target, args.deadline)
    write_report(report, args.report)
    record_if_asked(args, "client-check", report, args.report)
    for difference in report.details["differences"]:
        console().print(f"[red]DIFF[/] {difference}")
    counts = report.details["mcp"]["counts"] or {}
    console().print(
        f"client check {report.result.upper()}: the agents see {sum(counts.values())} items -> {args.report}"
    )
    return PASS if report.result == "pass" else FAIL


if __name__ == "__main__":
    run_cli(main)
