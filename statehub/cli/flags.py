"""The scripts' flag vocabulary, by role, with one password rule.

- A database is a DSN flag named for its role: `--source` (read), `--target` (written, restored into,
  compared against, frozen), or a side of the migration where both sides are written (`--cluster`,
  `--wsl2`), a throwaway (`--scratch`) or a prober (`--probe`). Its password is never in the DSN: the
  flag `--NAME` takes it from `PGNAMEPASSWORD` (e.g. `PGTARGETPASSWORD`), else from libpq's own
  `PGPASSWORD` or `~/.pgpass`.
- A State Hub API is `--source-api` / `--target-api` (both or neither), or `--api` where there is one.
- `--report FILE` is required where the report is the script's product (compare, freeze, sync-back,
  refresh) and optional where it records a check beside another product (restore: the restored
  database, default beside the dump; status and registry_check: what they print). Its path is
  checked before anything is touched.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from statehub.cli.entry import http_url
from statehub.data.api_checks import require_distinct_servers
from statehub.data.dsn import Dsn
from statehub.policy.refusal import Refusal

_Flags = argparse.ArgumentParser | argparse._MutuallyExclusiveGroup


def password_variable(flag: str) -> str:
    """`--wsl2` -> `PGWSL2PASSWORD`."""
    return "PG" + flag.removeprefix("--").replace("-", "").upper() + "PASSWORD"


def add_database(parser: _Flags, flag: str, what: str, *, required: bool = True) -> None:
    password = password_variable(flag)
    parser.add_argument(flag, required=required, metavar="DSN", help=f"{what} (password: {password} or PGPASSWORD)")


def database(text: str, flag: str) -> Dsn:
    """The DSN given for `flag`, with its password from `PGNAMEPASSWORD` when that is set."""
    return Dsn.parse(text).with_password_from(password_variable(flag))


def add_apis(parser: argparse.ArgumentParser, source: str, target: str) -> None:
    for side, serving in (("source", source), ("target", target)):
        parser.add_argument(
            f"--{side}-api", type=http_url, metavar="URL", help=f"base URL of the State Hub serving {serving}"
        )


def apis(args: argparse.Namespace) -> tuple[str, str] | None:
    """Both API URLs, or None; one without the other is refused."""
    if bool(args.source_api) != bool(args.target_api):
        raise Refusal("--source-api and --target-api go together: the API check compares the two sides")
    if not args.source_api:
        return None
    require_distinct_servers(args.source_api, args.target_api)  # before anything is touched
    return args.source_api, args.target_api


def add_report(parser: argparse.ArgumentParser, what: str, *, required: bool = True) -> None:
    parser.add_argument("--report", required=required, type=Path, metavar="FILE", help=f"{what} (JSON)")


def add_mcp_server(parser: argparse.ArgumentParser, *, required: bool) -> None:
    """The agents' MCP server: an entry of their MCP configuration, started as they start it."""
    parser.add_argument(
        "--mcp-config", required=required, type=Path, metavar="FILE", help="the agents' MCP configuration"
    )
    parser.add_argument(
        "--mcp-server", default="state-hub", metavar="NAME", help="its server entry (default state-hub)"
    )
