"""Offline render: run the real Pulumi program under mocks and write its Kubernetes manifests.

    uv run scripts/render.py --stack railiance01 --out build/railiance01 [--set stage=empty ...]

Prints the resource tree (type, name, protect, depends-on) and the stack outputs with every
secret masked, writes one manifest per Kubernetes object into OUT, and exits 1 with
`error: <message>` when the settings or a gate refuse the stack.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pulumi
from rich.console import Console
from rich.tree import Tree
from statehub.cli import ScriptParser
from statehub.manifests import kubernetes_manifests, plain, write_manifests
from statehub.offline_program import ProgramRun, run_program
from statehub.stack_config import StackConfigError, load_stack_config

PROJECT_DIR = Path(__file__).resolve().parent.parent


def parse_args(argv: list[str] | None) -> argparse.Namespace:
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
    return parser.parse_args(argv)


def resource_tree(run: ProgramRun, stack: str) -> Tree:
    root = Tree(f"[bold]pulumi:pulumi:Stack[/] {stack}")
    nodes: dict[str, Tree] = {}
    names = {r.urn: r.name for r in run.resources}
    for resource in run.resources:
        notes = []
        if resource.protect:
            notes.append("[red]protect[/]")
        depends = sorted({names[d] for d in resource.dependencies if d in names})
        if depends:
            notes.append("depends-on: " + ", ".join(depends))
        label = f"{resource.type} [bold]{resource.name}[/]" + (f"  ({'; '.join(notes)})" if notes else "")
        parent = nodes.get(resource.parent, root)
        nodes[resource.urn] = parent.add(label)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console(highlight=False, soft_wrap=True)
    try:
        config = load_stack_config(PROJECT_DIR, args.stack, args.overrides)
        run = run_program(PROJECT_DIR, config)
    except (StackConfigError, pulumi.RunError) as refusal:
        print(f"error: {refusal}", file=sys.stderr)
        return 1
    console.print(resource_tree(run, args.stack))
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
    console.print(f"wrote {len(written)} manifests to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
