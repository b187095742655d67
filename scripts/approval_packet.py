"""Write the approval packet: one self-contained HTML page of the cutover evidence, for the approver.

    uv run scripts/approval_packet.py --evidence evidence --out evidence/approval.html [--stack Pulumi.railiance01.yaml]

Reads the evidence folder in the runbook's layout (drill/drill-report.json, restore-compare.json,
freeze.json, final-compare.json, and any other report there): the timeline, per-table row counts
and content hashes of both sides, every difference, the freeze proof, the fingerprints, both State
Hub APIs (and the stack's recorded apiCheckException, with --stack), each file's sha256, and the
exact `pulumi config set --path state-hub-infra:approval...` lines to record. Each required report
is checked as the cutover gate checks it. Only reads the folder; writes --out.
Exit 0 ready to approve, 1 the gate would refuse (the page says why), 2 refused.
"""

from __future__ import annotations

from statehub.cli.early import quiet_interrupts

quiet_interrupts()  # first: a Ctrl-C while the rest imports is one line too

from pathlib import Path

from statehub.cli.entry import FAIL, PASS, ScriptParser, console, run_cli
from statehub.data.approval_packet import build_packet, recorded_api_check_exception
from statehub.data.report_files import check_report_path
from statehub.policy.refusal import Refusal


def check_packet_path(out: Path, evidence: Path) -> None:
    """Before anything is read: the page goes to a new or earlier .html file, never over a report."""
    if out.suffix.lower() != ".html":
        example = evidence / "approval.html"
        raise Refusal(f"--out {out} does not end in .html: the packet is an HTML page (e.g. {example})")
    if out.exists() and (not out.is_file() or out.is_symlink()):
        raise Refusal(f"--out {out} exists and is not a plain file: give a new file name")
    if not out.parent.is_dir():
        raise Refusal(f"--out {out}: the folder {out.parent} does not exist: create it or choose another")
    check_report_path(out, flag="--out")


def main() -> int:
    parser = ScriptParser(__doc__)
    parser.add_argument("--evidence", required=True, type=Path, help="the evidence folder")
    parser.add_argument("--out", required=True, type=Path, help="the HTML page to write")
    parser.add_argument("--stack", type=Path, help="the stack file, to show a recorded apiCheckException")
    args = parser.parse_args()
    if not args.evidence.is_dir():
        raise Refusal(f"--evidence {args.evidence} is not a folder: give the folder the reports are in")
    if args.stack is not None and not args.stack.is_file():
        raise Refusal(f"--stack {args.stack} is not a file: give the stack file (e.g. Pulumi.railiance01.yaml)")
    check_packet_path(args.out, args.evidence)
    exception = recorded_api_check_exception(args.stack) if args.stack else None
    packet = build_packet(args.evidence, api_check_exception=exception)
    args.out.write_text(packet.html)
    console().print(f"{'ready' if packet.ready else 'NOT ready'}: approval packet written to {args.out}")
    return PASS if packet.ready else FAIL


if __name__ == "__main__":
    run_cli(main)
