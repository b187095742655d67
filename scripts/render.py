"""Offline render: run the real Pulumi program under mocks and write its Kubernetes manifests.

    uv run scripts/render.py --stack railiance01 --out build/railiance01 [--set stage=empty ...]

Prints the resource tree (type, name, protect, retainOnDelete, depends-on; whole lines, never cut)
and the stack outputs with every secret masked, writes one manifest per Kubernetes object into OUT
and OUT/resources.json (every resource with type, name, parent, provider, protect, retainOnDelete
and its full dependsOn), and exits 1 with `error: <message>` when the settings or a gate refuse.
"""

from __future__ import annotations

from statehub.cli.early import quiet_interrupts

quiet_interrupts()  # first: a Ctrl-C while the rest imports is one line too

import json
import sys
from pathlib import Path

import pulumi
from rich.console import Console

from statehub.cli.entry import FAIL, PASS, ScriptParser, run_cli
from statehub.offline.manifests import kubernetes_manifests, plain, resource_plan, resource_tree_lines, write_manifests
from statehub.offline.offline_program import run_program
from statehub.offline.stack_config import StackConfigError, load_stack_config
from statehub.policy.refusal import Refusal

PROJECT_DIR = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = ScriptParser(__doc__)
    parser.add_argument("--stack", required=True, help="stack name: reads Pulumi.STACK.yaml (e.g. dev, railiance01)")
    parser.add_argument("--out", required=True, type=Path, help="folder for the rendered manifests")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key (with or without the state-hub-infra: prefix); VALUE is YAML; KEY= unsets it",
    )
    args = parser.parse_args()
    if args.out.exists() and not args.out.is_dir():
        raise Refusal(f"--out {args.out} is a file: give a folder for the manifests (it is made when missing)")
    console = Console(highlight=False, soft_wrap=True)  # the render goes to stdout; errors to stderr
    try:
        config = load_stack_config(PROJECT_DIR, args.stack, args.overrides)
        run = run_program(PROJECT_DIR, config)
    except (StackConfigError, pulumi.RunError) as refusal:  # refused as `pulumi preview` refuses: exit 1
        print(f"error: {refusal}", file=sys.stderr)
        return FAIL
    for line in resource_tree_lines(run, args.stack):
        print(line)
    for warning in run.warnings:
        console.print(f"[yellow]warning:[/] {warning}")
    console.print("[bold]outputs[/]")
    for key, value in sorted(plain(run.outputs).items()):
        if isinstance(value, dict):
            console.print(f"  {key}:")
            for name, item in sorted(value.items()):
                console.print(f"    {name}: {item}")
        else:
            console.print(f"  {key}: {value}")
    written = write_manifests(kubernetes_manifests(run), args.out)
    plan = args.out / "resources.json"
    plan.write_text(json.dumps(resource_plan(run), indent=2) + "\n")
    console.print(f"wrote {len(written)} manifests and {plan.name} to {args.out}")
    return PASS


if __name__ == "__main__":
    run_cli(main)
