"""One health report of the State Hub on the cluster: a table for people, JSON evidence (kind: status).

    uv run scripts/status.py [--kubeconfig F] [--context C] [--report FILE] [--api URL]
        [--workplans DIR] [--mcp-config ~/.claude.json --mcp-server state-hub]

Reads through the Kubernetes API: the Cluster state-hub-db (phase; conditions Ready,
ContinuousArchiving, LastBackupSucceeded; ready instances), its last completed Backup against
--backup-max-age-hours, the ObjectStore's recovery window, restarts of the database and API pods,
the migration Job, the volumes' capacity; with --api (e.g. the tunnel's http://127.0.0.1:8000)
also /state/health and /state/summary, and what T08 watches during stabilise: the workplan files in
--workplans against that API (workplans.py) and what the agents see through the MCP server of
--mcp-config (client_check.py). Read only.

Exit 0 healthy, 1 unhealthy (each reason listed), 2 refused (bad flags, unreadable kubeconfig,
unreachable API server).
"""

from __future__ import annotations

from statehub.cli.early import quiet_interrupts

quiet_interrupts()  # first: a Ctrl-C while the rest imports is one line too

import os
import tempfile
from datetime import timedelta
from pathlib import Path

from rich.table import Table

from statehub.cli.entry import FAIL, PASS, ScriptParser, amount, console, http_url, run_cli
from statehub.cli.flags import add_mcp_server, add_report
from statehub.cli.record_flags import add_progress_flags, record_if_asked
from statehub.cluster.health import Scope, cluster_status
from statehub.cluster.kube_api import KubeApiError, from_kubeconfig
from statehub.data.client_check import read_mcp_config
from statehub.data.report_files import check_report_path, write_report
from statehub.policy.refusal import Refusal


def main() -> int:
    parser = ScriptParser(__doc__)
    default_config = os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or str(Path.home() / ".kube" / "config")
    parser.add_argument(
        "--kubeconfig",
        type=Path,
        default=Path(default_config),
        help="kubeconfig (default: $KUBECONFIG, ~/.kube/config)",
    )
    parser.add_argument("--context", help="kubeconfig context (default: its current context), e.g. railiance01")
    add_report(parser, "also write the status report (evidence for retiring the fallback)", required=False)
    parser.add_argument("--db-namespace", default="databases", help="namespace of state-hub-db (default databases)")
    parser.add_argument(
        "--app-namespace", default="railiance-apps", help="namespace of the app (default railiance-apps)"
    )
    parser.add_argument(
        "--backup-max-age-hours",
        type=amount("hours", 8784, "26"),
        default=26.0,
        help="a completed backup older than this is stale (default 26: daily and 2 h grace)",
    )
    parser.add_argument("--api", type=http_url, help="State Hub API base URL to check (e.g. http://127.0.0.1:8000)")
    parser.add_argument("--workplans", type=Path, metavar="DIR", help="with --api: check these workplan files")
    add_mcp_server(parser, required=False)
    parser.add_argument(
        "--ingress-service",
        metavar="NAMESPACE/NAME",
        help="with exposure private-ingress: the ingress controller's Service, e.g. kube-system/traefik",
    )
    add_progress_flags(parser)
    args = parser.parse_args()
    if args.record_progress and not args.report:
        parser.error("--record-progress records the status report: give --report FILE too")
    if (args.workplans or args.mcp_config) and not args.api:
        parser.error("--workplans and --mcp-config are checked against the live State Hub: give --api URL too")
    if args.workplans and not args.workplans.is_dir():
        parser.error(f"--workplans {args.workplans}: no such folder")
    if args.report:
        check_report_path(args.report)
    ingress: tuple[str, str] | None = None
    if args.ingress_service:
        namespace, _, name = args.ingress_service.partition("/")
        if not namespace or not name or "/" in name:
            parser.error(f"--ingress-service {args.ingress_service!r}: give NAMESPACE/NAME, e.g. kube-system/traefik")
        ingress = (namespace, name)
    mcp = read_mcp_config(args.mcp_config, args.mcp_server) if args.mcp_config else None
    age = timedelta(hours=args.backup_max_age_hours)
    scope = Scope(args.db_namespace, args.app_namespace, age, args.api, args.workplans, mcp, ingress)
    with tempfile.TemporaryDirectory(prefix="state-hub-status-") as material:
        try:
            report = cluster_status(from_kubeconfig(args.kubeconfig, args.context, Path(material)), scope)
        except KubeApiError as error:
            raise Refusal(str(error)) from None
    if args.report:
        write_report(report, args.report)
        record_if_asked(args, "status", report, args.report)
    table = Table(title=f"state-hub-db: {report.details.get('phase', 'unknown')}")
    for column in ("check", "ok", "detail"):
        table.add_column(column)
    for check in report.details["checks"]:
        table.add_row(check["name"], "[green]yes[/]" if check["ok"] else "[red]NO[/]", check["detail"])
    console().print(table)
    colour = "green" if report.result == "pass" else "red"
    console().print(f"[{colour}]{'HEALTHY' if report.result == 'pass' else 'UNHEALTHY'}[/]")
    return PASS if report.result == "pass" else FAIL


if __name__ == "__main__":
    run_cli(main)
