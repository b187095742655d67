"""What a render writes: Kubernetes manifests from recorded registrations (plain, masked, integers as
integers) and the resource plan a person reads before `pulumi up`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from statehub.offline.offline_program import ProgramRun, RecordedResource

SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d"  # noqa: S105 - Pulumi wire signature
SECRET_SIG_VALUE = "1b47061264138c4ac30d75fd1eb44270"  # noqa: S105 - Pulumi wire signature
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
MASK = "********"


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SECRET_SIG_KEY) == SECRET_SIG_VALUE


def plain(value: Any) -> Any:
    """Secrets masked leaf by leaf, unknowns dropped, integral floats (wire numbers) back to ints."""
    if is_secret(value):
        return _mask(value["value"])
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items() if v != UNKNOWN}
    if isinstance(value, list):
        return [plain(v) for v in value if v != UNKNOWN]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _mask(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _mask(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v) for v in value]
    return MASK


def kubernetes_manifests(run: ProgramRun) -> list[dict[str, Any]]:
    """Every Kubernetes object the program declares, as the API server would receive it."""
    head = ("apiVersion", "kind", "metadata")
    manifests = []
    for resource in run.resources:
        if _is_kubernetes_object(resource):
            body = plain(resource.inputs)
            manifests.append({**{k: body[k] for k in head if k in body}, **body})
    return manifests


def _is_kubernetes_object(resource: RecordedResource) -> bool:
    return resource.custom and resource.type.startswith("kubernetes:") and "kind" in resource.inputs


def manifest_file_name(manifest: dict[str, Any]) -> str:
    meta = manifest.get("metadata", {})
    parts = [manifest["kind"].lower(), meta.get("namespace", "cluster"), meta.get("name", "unnamed")]
    return "-".join(parts) + ".yaml"


def write_manifests(manifests: list[dict[str, Any]], out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for manifest in manifests:
        path = out_dir / manifest_file_name(manifest)
        path.write_text(yaml.safe_dump(manifest, sort_keys=True))
        written.append(path)
    return written


def resource_plan(run: ProgramRun) -> list[dict[str, Any]]:
    """Every resource with its type, name, parent, provider, protect, retainOnDelete and full dependsOn
    (URNs), in registration order: what `pulumi up` would create and in which order it waits."""
    return [
        {
            "urn": resource.urn,
            "type": resource.type,
            "name": resource.name,
            "parent": resource.parent or None,
            "provider": resource.provider.rpartition("::")[0] or None,  # a reference is `urn::id`
            "protect": resource.protect,
            "retainOnDelete": resource.retain_on_delete,
            "dependsOn": sorted(set(resource.dependencies)),
        }
        for resource in run.resources
    ]


def resource_tree_lines(run: ProgramRun, stack: str) -> list[str]:
    """The resource tree as whole lines (never wrapped or cut): parents first, children indented."""
    names = {r.urn: r.name for r in run.resources}
    children: dict[str, list[RecordedResource]] = {}
    for resource in run.resources:
        parent = resource.parent if resource.parent in names else ""
        children.setdefault(parent, []).append(resource)
    lines = [f"pulumi:pulumi:Stack {stack}"]

    def walk(parent: str, depth: int) -> None:
        for resource in children.get(parent, []):
            notes = []
            if resource.protect:
                notes.append("protect")
            if resource.retain_on_delete:
                notes.append("retainOnDelete")
            depends = sorted({names[d] for d in resource.dependencies if d in names})
            if depends:
                notes.append("depends-on: " + ", ".join(depends))
            lines.append(
                "  " * depth + f"- {resource.type} {resource.name}" + (f"  ({'; '.join(notes)})" if notes else "")
            )
            walk(resource.urn, depth + 1)

    walk("", 1)
    return lines
