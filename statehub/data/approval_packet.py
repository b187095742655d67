"""The approval packet: one self-contained HTML page of what the approver reads before recording
`state-hub-infra:approval`, built from an evidence folder (the runbook's layout, which the rehearsal
also writes): the timeline, per-table rows and hashes of both sides, every difference, the freeze
proof, the fingerprints, both State Hub APIs, each file's sha256 and the exact lines to record.

Each required report is checked as the gates check it (kind, schema, result, contradictions, age, the
API part), so the page says what the gate would refuse before anyone records an approval.
"""

from __future__ import annotations

import hashlib
import html
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from statehub.data.client_check import CLIENT_CHECK
from statehub.data.progress_records import PROGRESS_RECORDS_KIND
from statehub.data.workplan_check import WORKPLAN_CHECK
from statehub.policy.api_contract import api_part_problem
from statehub.policy.evidence import (
    DRILL,
    FINAL_COMPARE,
    FREEZE,
    RESTORE_COMPARE,
    EvidenceKind,
    Freshness,
    load_evidence,
)
from statehub.policy.evidence_settings import API_CHECK_EXCEPTION_KEY
from statehub.policy.gates import check_cutover_chain
from statehub.policy.refusal import GateRefusal, Refusal
from statehub.policy.report import ReportError, parse_report, read_report_file, utc_now
from statehub.policy.safe_yaml import load_yaml

REQUIRED = (DRILL, RESTORE_COMPARE, FREEZE, FINAL_COMPARE)
"""Each report the cutover gate reads, at its place in the evidence folder (`EvidenceKind.file`)."""
_FRESH_FOR = timedelta(hours=24)


@dataclass(frozen=True)
class EvidenceFile:
    path: Path
    relative: str
    sha256: str
    report: dict[str, Any]


def read_folder(folder: Path) -> list[EvidenceFile]:
    """Every evidence report under `folder` that reads as one (strict JSON, each key once, a report's shape),
    oldest first. Anything else is passed over: folders named like reports, links to nowhere, FIFOs, files
    too large or too deeply nested to be reports."""
    found = []
    for path in sorted(folder.rglob("*.json")):
        try:
            raw = read_report_file(path)
            parse_report(raw)
        except (ReportError, OSError):
            continue
        report = json.loads(raw)
        relative = path.relative_to(folder).as_posix()
        found.append(EvidenceFile(path, relative, hashlib.sha256(raw).hexdigest(), report))
    return sorted(found, key=lambda f: str(f.report["created_at"]))


def recorded_api_check_exception(stack_file: Path) -> dict[str, Any] | None:
    """The stack file's `apiCheckException`, as recorded (None when it has none); a stack file that is not
    YAML of a stack is refused with one line."""
    try:
        document = load_yaml(stack_file.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise Refusal(f"--stack {stack_file} is not a readable stack file ({str(error).splitlines()[0]})") from None
    config = document.get("config") if isinstance(document, dict) else None
    recorded = config.get(f"state-hub-infra:{API_CHECK_EXCEPTION_KEY}") if isinstance(config, dict) else None
    return recorded if isinstance(recorded, dict) else None


@dataclass(frozen=True)
class Packet:
    html: str
    """One page: inline style, no script, nothing fetched."""
    ready: bool
    """Every report the cutover gate reads passes its checks."""


def build_packet(
    folder: Path, *, api_check_exception: dict[str, Any] | None = None, now: datetime | None = None
) -> Packet:
    now = now or utc_now()
    files = read_folder(folder)
    by_path = {f.relative: f for f in files}
    required = {kind.key: by_path.get(kind.file) for kind in REQUIRED}
    verdicts = [_verdict(kind, folder / kind.file, now, api_check_exception) for kind in REQUIRED]
    verdicts.append(_chain_verdict(folder, now))
    ready = all(problem is None for _, _, problem in verdicts)
    final, freeze = required[FINAL_COMPARE.key], required[FREEZE.key]
    sections = [
        _head(folder, now, ready, verdicts),
        _timeline(files),
        _tables(final),
        _differences([f for f in files if f.report["kind"] in ("compare", "drill")]),
        _freeze_proof(freeze),
        _fingerprints([f for f in required.values() if f is not None]),
        _apis([required[RESTORE_COMPARE.key], required[FINAL_COMPARE.key]], api_check_exception),
        _agents_view(files),
        _files(files),
        _record(freeze, final),
    ]
    return Packet(_PAGE.format(body="\n".join(sections)), ready)


def _verdict(
    kind: EvidenceKind, path: Path, now: datetime, exception: dict[str, Any] | None
) -> tuple[EvidenceKind, Path, str | None]:
    try:
        evidence = load_evidence(kind, path if path.exists() else None, "cutover", Freshness(now, _FRESH_FOR))
    except GateRefusal as refusal:
        return kind, path, str(refusal)
    if kind in (RESTORE_COMPARE, FINAL_COMPARE) and exception is None:
        problem = api_part_problem(evidence.details.get("api"))
        if problem:
            return kind, path, f"its API part does not pass: {problem}"
    return kind, path, None


def _chain_verdict(folder: Path, now: datetime) -> tuple[EvidenceKind, Path, str | None]:
    """The cutover gate's own check of the reports as one set (the same function the gate runs)."""
    try:
        loaded = [load_evidence(kind, folder / kind.file, "cutover", None) for kind in REQUIRED]
        check_cutover_chain(*loaded)
    except GateRefusal as refusal:
        return FINAL_COMPARE, folder, f"as one set: {refusal}"
    return FINAL_COMPARE, folder, None


def _e(value: Any) -> str:
    return html.escape(str(value))


def _table(head: list[str], rows: list[list[Any]], *, classes: list[str] | None = None) -> str:
    header = "".join(f"<th>{_e(h)}</th>" for h in head)
    body = "".join(
        f'<tr class="{(classes or [""] * len(rows))[i]}">' + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>"
        for i, row in enumerate(rows)
    )
    return f"<table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>"


def _head(folder: Path, now: datetime, ready: bool, verdicts: list[tuple[EvidenceKind, Path, str | None]]) -> str:
    banner = (
        '<p class="banner ok">Every report the cutover gate reads passes its checks.</p>'
        if ready
        else '<p class="banner bad">Not ready: the cutover gate would refuse (see below).</p>'
    )
    rows = [[kind.key, path.name, problem or "passes"] for kind, path, problem in verdicts]
    marks = ["" if problem is None else "bad" for _, _, problem in verdicts]
    return (
        f"<h1>State Hub cutover: approval packet</h1><p>Evidence folder <code>{_e(folder)}</code>, "
        f"page written {_e(now.isoformat(timespec='seconds'))}.</p>{banner}"
        + _table(["config key", "file", "as the gate reads it"], rows, classes=marks)
    )


def _timeline(files: list[EvidenceFile]) -> str:
    rows = [[f.report["created_at"], f.report["kind"], f.relative, f.report["result"]] for f in files]
    marks = ["" if f.report["result"] == "pass" else "bad" for f in files]
    return "<h2>Timeline</h2>" + _table(["created (UTC)", "kind", "file", "result"], rows, classes=marks)


def _tables(final: EvidenceFile | None) -> str:
    if final is None:
        return f"<h2>Tables</h2><p class='bad'>No final compare ({FINAL_COMPARE.file}) in the folder.</p>"
    tables = final.report["details"].get("tables") or {}
    rows, marks = [], []
    for name, t in sorted(tables.items()):
        same = t.get("source_rows") == t.get("target_rows") and t.get("source_hash") == t.get("target_hash")
        rows.append([name, t.get("source_rows"), t.get("target_rows"), t.get("source_hash"), t.get("target_hash")])
        marks.append("" if same else "bad")
    head = ["table", "WSL2 rows", "cluster rows", "WSL2 content hash", "cluster content hash"]
    return "<h2>Tables (final compare: the frozen WSL2 and state-hub-db)</h2>" + _table(head, rows, classes=marks)


def _differences(files: list[EvidenceFile]) -> str:
    parts = ["<h2>Differences</h2>"]
    for f in files:
        found = f.report["details"].get("differences") or []
        warnings = f.report["details"].get("warnings") or []
        if found:
            rows = [[d.get("kind"), d.get("where"), d.get("detail"), ", ".join(d.get("keys") or [])] for d in found]
            parts.append(f"<h3>{_e(f.relative)}</h3>" + _table(["kind", "where", "detail", "keys"], rows))
        else:
            parts.append(f"<p><b>{_e(f.relative)}</b>: none.</p>")
        parts += [f"<p class='warn'>warning: {_e(w)}</p>" for w in warnings]
    return "".join(parts)


def _freeze_proof(freeze: EvidenceFile | None) -> str:
    if freeze is None:
        return "<h2>Freeze proof</h2><p class='bad'>No freeze report (freeze.json) in the folder.</p>"
    d = freeze.report["details"]
    proof = d.get("proof") or {}
    rows: list[list[Any]] = [
        ["write attempt", proof.get("write_attempt")],
        ["how", proof.get("method")],
        ["application roles locked", ", ".join(d.get("locked_roles") or [])],
        ["sessions ended", d.get("sessions_ended")],
        ["frozen database fingerprint", d.get("fingerprint_sha256")],
        ["warnings", "; ".join(d.get("warnings") or []) or "none"],
    ]
    return "<h2>Freeze proof</h2>" + _table(["what", "as the freeze report records it"], rows)


def _fingerprints(reports: list[EvidenceFile]) -> str:
    rows = []
    for f in reports:
        d = f.report["details"]
        source = d.get("source_fingerprint_sha256") or (d.get("dump") or {}).get("fingerprint_sha256")
        target = d.get("target_fingerprint_sha256") or d.get("fingerprint_sha256")
        identity = d.get("target_database") or (d.get("fingerprint") or {}).get("system_identifier")
        rows.append([f.relative, source, target, json.dumps(identity) if isinstance(identity, dict) else identity])
    head = ["report", "source (or dump) fingerprint", "target (or frozen) fingerprint", "target database"]
    return "<h2>Fingerprints</h2>" + _table(head, rows)


def _apis(compares: list[EvidenceFile | None], exception: dict[str, Any] | None) -> str:
    parts = ["<h2>State Hub APIs</h2>"]
    if exception is not None:
        parts.append(
            f"<p class='warn'>Recorded exception {API_CHECK_EXCEPTION_KEY}: by {_e(exception.get('by'))} at "
            f"{_e(exception.get('at'))} ({_e(exception.get('reference'))}): {_e(exception.get('reason'))}</p>"
        )
    for f in compares:
        if f is None:
            continue
        api = f.report["details"].get("api")
        if not isinstance(api, dict):
            parts.append(f"<p class='bad'><b>{_e(f.relative)}</b>: no API part.</p>")
            continue
        health = {side: (api.get(side) or {}).get("health") or {} for side in ("source", "target")}
        summary = api.get("summary") or {}
        parts.append(
            f"<h3>{_e(f.relative)}</h3><p>health: source HTTP {_e(health['source'].get('status'))} "
            f"({_e((api.get('source') or {}).get('url'))}), target HTTP {_e(health['target'].get('status'))} "
            f"({_e((api.get('target') or {}).get('url'))}); summaries equal: {_e(summary.get('equal'))} "
            f"(fields left out: {_e(', '.join(api.get('volatile_fields') or []))})</p>"
        )
        counts = {side: (summary.get(side) or {}).get("counts") or {} for side in ("source", "target")}
        rows = [
            [k, counts["source"].get(k), counts["target"].get(k)] for k in sorted(counts["source"] | counts["target"])
        ]
        parts.append(_table(["summary count", "source", "target"], rows))
        reads = api.get("reads") or []
        rows = [
            [
                r.get("path"),
                (r.get("source") or {}).get("status"),
                (r.get("target") or {}).get("status"),
                r.get("equal"),
            ]
            for r in reads
        ]
        marks = ["" if r.get("equal") else "bad" for r in reads]
        parts.append(_table(["representative read", "source HTTP", "target HTTP", "equal"], rows, classes=marks))
    return "".join(parts)


def _agents_view(files: list[EvidenceFile]) -> str:
    """What the team sees: the agents' MCP path, the workplan files against the State Hub, progress recorded."""
    rows, marks = [], []
    for f in files:
        details = f.report["details"]
        if f.report["kind"] == CLIENT_CHECK:
            said = "; ".join(details.get("differences") or []) or f"counts {details.get('mcp', {}).get('counts')}"
        elif f.report["kind"] == WORKPLAN_CHECK:
            said = f"{details.get('tasks')} tasks, {len(details.get('items') or [])} differ"
        elif f.report["kind"] == PROGRESS_RECORDS_KIND:
            said = ", ".join(f"{r.get('evidence')} on {r.get('task')}" for r in details.get("records") or [])
        else:
            continue
        rows.append([f.relative, f.report["result"], said])
        marks.append("" if f.report["result"] == "pass" else "bad")
    if not rows:
        return "<h2>What the agents see</h2><p>No client check, workplan check or progress record in the folder.</p>"
    head = ["file", "result", "what it says"]
    return "<h2>What the agents see, and progress recorded</h2>" + _table(head, rows, classes=marks)


def _files(files: list[EvidenceFile]) -> str:
    rows = [[f.relative, f.report["kind"], f.sha256] for f in files]
    return "<h2>Evidence files</h2>" + _table(["file", "kind", "sha256"], rows)


def _record(freeze: EvidenceFile | None, final: EvidenceFile | None) -> str:
    if freeze is None or final is None:
        return f"<h2>Record the approval</h2><p class='bad'>Needs {FREEZE.file} and {FINAL_COMPARE.file}.</p>"
    key = "state-hub-infra:approval"
    lines = [
        f"pulumi config set --path '{key}.by' '<your name>'",
        f"pulumi config set --path '{key}.at' \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\"",
        f"pulumi config set --path '{key}.reference' '<link to where the decision is written down>'",
        f"pulumi config set --path '{key}.freezeReportSha256' '{freeze.sha256}'",
        f"pulumi config set --path '{key}.finalCompareReportSha256' '{final.sha256}'",
    ]
    return (
        "<h2>Record the approval</h2><p>After reading this page, in the project folder with the stack selected "
        "(the two hashes pin exactly the files above):</p><pre>" + _e("\n".join(lines)) + "</pre>"
    )


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>State Hub cutover: approval packet</title>
<style>
body {{ font: 14px/1.45 system-ui, sans-serif; margin: 2em; color: #1b1b1b; max-width: 80em; }}
table {{ border-collapse: collapse; margin: 0.5em 0 1.2em; }}
th, td {{ border: 1px solid #c8c8c8; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }}
td {{ font-family: ui-monospace, monospace; font-size: 12px; word-break: break-all; }}
th {{ background: #eef1f4; }}
tr.bad td, p.bad {{ background: #fde7e7; }}
p.warn {{ background: #fff4d6; padding: 0.3em 0.6em; }}
p.banner {{ padding: 0.6em 1em; font-weight: 600; }}
p.banner.ok {{ background: #e3f5e3; }} p.banner.bad {{ background: #fde7e7; }}
pre {{ background: #f4f4f4; padding: 0.8em; overflow-x: auto; }}
</style></head>
<body>
{body}
</body></html>
"""
