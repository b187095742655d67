"""Keep 127.0.0.1:8000 on the workstation pointed at the live State Hub after cutover (T07).

    uv run scripts/tunnel.py --via kubectl --context railiance01
    uv run scripts/tunnel.py --via ssh --ssh-host railiance01 --remote 10.43.12.34:8000

The agents' MCP configuration keeps http://127.0.0.1:8000; this runs a `kubectl port-forward` to the
front door Service (state-hub-api, which selects the State Hub pods once the endpoint is cluster) or
an SSH tunnel through a host that reaches the front door (e.g. its cluster IP from the node), checks
GET /state/health every --interval seconds, and starts the tunnel again when it ends or fails three
checks in a row, pausing longer (up to 30 s) while the other side stays unreachable. It runs until
Ctrl-C. Stop the workstation's own State Hub first: it listens on the same port. The alternative is
to change the MCP configuration's API_BASE to the clientAccess address (README). --print shows the
command it would run and exits. Exit 2 refused (the port is taken, kubectl or ssh missing).
"""

from __future__ import annotations

from statehub.cli.early import quiet_interrupts

quiet_interrupts()  # first: a Ctrl-C while the rest imports is one line too

import argparse
import re
import shutil
import threading

from statehub.cli.entry import PASS, ScriptParser, amount, console, run_cli
from statehub.cluster.tunnel import Patience, check_port_free, keep_open, kubectl_command, ssh_command
from statehub.policy.refusal import Refusal

_DEFAULT_PORT = 8000


_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_SSH_HOST = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@-]*$")
_REMOTE = re.compile(r"^[A-Za-z0-9_.-]+:\d{1,5}$")


def port(text: str) -> int:
    """A TCP port from 1 to 65535."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number: give 1 to 65535") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r}: a port is 1 to 65535")
    return value


def namespace(text: str) -> str:
    if not _DNS_LABEL.match(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a namespace name (a DNS label: a-z, 0-9 and -)")
    return text


def ssh_host(text: str) -> str:
    """A host (or user@host) as ssh knows it: never an option (`-oProxyCommand=...` would run a command)."""
    if not _SSH_HOST.match(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a host name: give the host (or user@host) ssh knows")
    return text


def main() -> int:
    parser = ScriptParser(__doc__)
    parser.add_argument("--via", choices=("kubectl", "ssh"), required=True, help="what carries the tunnel")
    parser.add_argument("--context", help="kubeconfig context of the cluster (--via kubectl)")
    parser.add_argument(
        "--namespace", type=namespace, default="railiance-apps", help="the app namespace (default railiance-apps)"
    )
    parser.add_argument("--ssh-host", type=ssh_host, help="host to tunnel through (--via ssh), as ssh knows it")
    parser.add_argument("--remote", metavar="ADDRESS:PORT", help="the front door as the SSH host reaches it")
    parser.add_argument("--local-port", type=port, default=_DEFAULT_PORT, help="local port (default 8000)")
    parser.add_argument(
        "--interval", type=amount("seconds", 3600, "5"), default=5.0, help="seconds between health checks (default 5)"
    )
    parser.add_argument("--print", action="store_true", help="print the tunnel command and exit")
    args = parser.parse_args()
    if args.via == "kubectl":
        if not args.context:
            raise Refusal("--via kubectl needs --context (the kubeconfig context of the cluster, e.g. railiance01)")
        command = kubectl_command(args.context, args.namespace, args.local_port)
    else:
        if not args.ssh_host or not args.remote or not _REMOTE.match(args.remote):
            raise Refusal("--via ssh needs --ssh-host HOST and --remote ADDRESS:PORT (e.g. 10.43.12.34:8000)")
        command = ssh_command(args.ssh_host, args.remote, args.local_port)
    if args.print:
        print(" ".join(command))
        return PASS
    if shutil.which(command[0]) is None:
        raise Refusal(f"{command[0]} is not on PATH: install it, or use the other --via")
    check_port_free(args.local_port)
    console().print(f"keeping http://127.0.0.1:{args.local_port} open: {' '.join(command)} (Ctrl-C ends it)")
    # runs until Ctrl-C: nothing else ends it, so the stop event is never set
    keep_open(
        command,
        args.local_port,
        stop=threading.Event(),
        event=console().print,
        patience=Patience(interval=args.interval),
    )
    return PASS


if __name__ == "__main__":
    run_cli(main)
