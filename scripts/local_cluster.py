"""A local Kubernetes API server (etcd + kube-apiserver on 127.0.0.1, no nodes) to try a stack on.

    uv run scripts/local_cluster.py up --dir /tmp/kube     # prints the kubeconfig path last
    uv run scripts/local_cluster.py down --dir /tmp/kube   # stops it and removes the folder's contents

`up` installs the cnpg and Barman Cloud CRDs (from --schemas, by default ../shared/schemas beside
the project when it exists), a schemaless stand-in for Traefik's Middleware, and the namespaces
the railiance01 platform owns (databases, railiance-apps, cnpg-system; Pod Security restricted).
Then, for example:

    pulumi config set state-hub-infra:kubeconfig /tmp/kube/kubeconfig
    pulumi config set state-hub-infra:kubeContext local
    pulumi config set state-hub-infra:apiOnlyCluster true     # nothing runs: skip readiness awaits

Objects, admission, schemas and CEL rules are real; no pod ever runs. Needs the tools of
`uv run scripts/engine_tools.py build`. An error, Ctrl-C or SIGTERM during `up` leaves no process
and no file behind.
"""

from __future__ import annotations

import sys
from pathlib import Path

from statehub.cli.entry import PASS, ScriptParser, console, run_cli
from statehub.cluster.kube_api import KubeApiError
from statehub.engine.control_plane import SHARED_SCHEMAS, ApiServerError, start, stop
from statehub.engine.engine_build import EngineBuildError, bin_dir, missing
from statehub.policy.refusal import Refusal


def main() -> int:
    parser = ScriptParser(__doc__)
    parser.add_argument("command", choices=["up", "down"])
    parser.add_argument(
        "--dir", required=True, type=Path, help="folder for its data, logs and kubeconfig (new or empty)"
    )
    parser.add_argument(
        "--schemas", type=Path, help=f"folder with cnpg/ and barman-cloud/ CRD YAML (default: {SHARED_SCHEMAS})"
    )
    args = parser.parse_args()
    try:
        if args.command == "down":
            stopped = stop(args.dir)
            console().print(f"stopped {stopped} processes; removed the contents of {args.dir}")
            return PASS
        tools = bin_dir()
        if missing(tools):
            raise Refusal(f"not built: {', '.join(missing(tools))}. Run: uv run scripts/engine_tools.py build")
        schemas = args.schemas or (SHARED_SCHEMAS if SHARED_SCHEMAS.is_dir() else None)
        if schemas is not None and not schemas.is_dir():
            raise Refusal(f"--schemas {schemas} is not a folder: give the folder holding cnpg/*.yaml")
        if schemas is None:
            console().print(
                f"warning: {SHARED_SCHEMAS} does not exist: no cnpg CRDs, a stack's Cluster will be refused"
            )
        cluster = start(args.dir, tools, schemas, console().print, tie_to_parent=False)
    except (ApiServerError, KubeApiError, EngineBuildError) as error:
        raise Refusal(str(error)) from None
    console().print(f"API server {cluster.api.server} as context 'local'")
    console().print(f"stop it with: uv run scripts/local_cluster.py down --dir {args.dir}")
    print(cluster.kubeconfig)
    sys.stdout.flush()
    return PASS


if __name__ == "__main__":
    run_cli(main)
