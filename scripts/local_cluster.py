"""A local Kubernetes to try a stack on: an API server alone, or a node that runs pods (the pods tier).

    uv run scripts/local_cluster.py up --dir /tmp/kube              # API server only (no nodes)
    uv run scripts/local_cluster.py up --dir /tmp/kube --nodes 1    # a node: pods, cnpg, backups (root)
    uv run scripts/local_cluster.py down --dir /tmp/kube            # stops it, removes the folder's contents

With no nodes: etcd and kube-apiserver on 127.0.0.1, the cnpg and Barman Cloud CRDs from their pinned
modules, a schemaless stand-in for Traefik's Middleware, and the namespaces railiance01's platform owns
(databases, railiance-apps, cnpg-system; Pod Security restricted). Objects, admission, schemas and CEL
rules are real; no pod ever runs (stacks set `apiOnlyCluster`).

With one node (statehub/engine/node.py): the same, plus containerd + runc, the kubelet, the controllers,
kube-proxy, kube-router's NetworkPolicy firewall, CoreDNS, the cnpg operator, the Barman Cloud plugin, a
registry holding the stand-in State Hub and PostgreSQL images (pinned by digest) and an S3 store, all in
the network namespace `state-hub-pods` (node address 10.244.0.1, reached from this machine through a
veth; nothing routes out). It takes about two minutes; it prints each part's time, the images to pin and
the kubeconfig path last. Then, for example:

    pulumi config set state-hub-infra:kubeconfig /tmp/kube/pki/admin.kubeconfig
    pulumi config set state-hub-infra:kubeContext local

Needs the tools of `uv run scripts/engine_tools.py build` (the pods group and images for --nodes 1). An
error, Ctrl-C or SIGTERM during `up` leaves no process, mount, interface, rule or file behind.
"""

from __future__ import annotations

from statehub.cli.early import quiet_interrupts

quiet_interrupts()  # first: a Ctrl-C while the rest imports is one line too

import json
import sys
from pathlib import Path

from statehub.cli.entry import PASS, ScriptParser, console, run_cli
from statehub.cluster.kube_api import KubeApiError
from statehub.engine import control_plane, node
from statehub.engine.engine_build import EngineBuildError, bin_dir, missing
from statehub.engine.go_modules import GoModuleError
from statehub.engine.netns import NetnsError
from statehub.engine.pod_images import images_dir
from statehub.policy.refusal import Refusal


def main() -> int:
    parser = ScriptParser(__doc__)
    parser.add_argument("command", choices=["up", "down"])
    parser.add_argument(
        "--dir", required=True, type=Path, help="folder for its data, logs and kubeconfig (new or empty)"
    )
    parser.add_argument("--nodes", type=int, choices=[0, 1], default=0, help="0: API server only; 1: a node (pods)")
    args = parser.parse_args()
    try:
        if args.command == "down":
            stopped = node.stop(args.dir) if (args.dir / node.STATE_FILE).is_file() else control_plane.stop(args.dir)
            console().print(f"stopped {stopped} processes; removed the contents of {args.dir}")
            return PASS
        tools = bin_dir()
        groups = ("engine", "pods") if args.nodes else ("engine",)
        absent = [name for group in groups for name in missing(tools, group)]
        if absent:
            raise Refusal(f"not built: {', '.join(absent)}. Run: uv run scripts/engine_tools.py build")
        if args.nodes:
            cluster = node.start(args.dir, tools, images_dir(tools), console().print, tie_to_parent=False)
            console().print(f"API server {cluster.api.server} as context 'local'; images: {json.dumps(cluster.images)}")
            kubeconfig = cluster.kubeconfig
        else:
            local = control_plane.start(args.dir, tools, console().print, tie_to_parent=False)
            console().print(f"API server {local.api.server} as context 'local'")
            kubeconfig = local.kubeconfig
    except (
        control_plane.ApiServerError,
        node.NodeError,
        NetnsError,
        KubeApiError,
        EngineBuildError,
        GoModuleError,
    ) as error:
        raise Refusal(str(error)) from None
    console().print(f"stop it with: uv run scripts/local_cluster.py down --dir {args.dir}")
    print(kubeconfig)
    sys.stdout.flush()
    return PASS


if __name__ == "__main__":
    run_cli(main)
