"""Evidence files as an attacker or an accident makes them: what the gates and the approval packet do.

A report read twice must say one thing (duplicate keys are refused, not last-one-wins); a FIFO, a folder
named like a report, a link to nowhere, a file nested 200,000 deep, `details` that is a list, NaN: each
is refused or passed over with a reason, never a traceback or a hang; and the packet says "ready" only
for a set the cutover gate accepts as one.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from statehub.policy.evidence import DRILL, FINAL_COMPARE, FREEZE, RESTORE_COMPARE, load_evidence
from statehub.policy.refusal import GateRefusal
from tests.program.evidence_set import EvidenceSet
from tests.script_runner import run_script

HEAD = '"kind": "compare", "schema_version": 1, "created_at": "2026-12-07T10:00:00+00:00"'


def refusal_of(path: Path) -> str:
    """The gate's refusal of `path` as the final compare, within 10 s (a FIFO would block a plain read)."""
    said: list[str] = []

    def read() -> None:
        try:
            load_evidence(FINAL_COMPARE, path, "cutover", None)
        except GateRefusal as refusal:
            said.append(str(refusal))
        else:
            said.append("accepted")

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(10)
    if reader.is_alive():  # unblock it: a writer opens the FIFO and goes
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        raise AssertionError(f"reading {path.name} blocked")
    return said[0]


def written(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "final-compare.json"
    path.write_text(text)
    return path


ODD_REPORTS: dict[str, tuple[Callable[[Path], Path], str]] = {
    "result twice, fail then pass": (
        lambda tmp: written(tmp, f'{{{HEAD}, "result": "fail", "details": {{}}, "result": "pass"}}'),
        "result: given twice",
    ),
    "differences twice, then empty": (
        lambda tmp: written(
            tmp, f'{{{HEAD}, "result": "pass", "details": {{"differences": [{{"kind": "rows"}}], "differences": []}}}}'
        ),
        "differences: given twice",
    ),
    "NaN": (
        lambda tmp: written(tmp, f'{{{HEAD}, "result": "pass", "details": {{"seconds": NaN}}}}'),
        "NaN is not JSON",
    ),
    "details a list": (
        lambda tmp: written(tmp, f'{{{HEAD}, "result": "pass", "details": []}}'),
        "details: not an object",
    ),
    "nested 200,000 deep": (
        lambda tmp: written(tmp, f'{{{HEAD}, "result": "pass", "details": {{"x": {"[" * 200_000}{"]" * 200_000}}}}}'),
        "nested too deeply",
    ),
    "a FIFO": (lambda tmp: _fifo(tmp / "is missing"), "not a regular file"),
    "a folder": (lambda tmp: _folder(tmp / "is missing"), "is a folder"),
    "a link to nowhere": (lambda tmp: _dangling(tmp / "is missing"), "is missing"),
}


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def _folder(path: Path) -> Path:
    path.mkdir()
    return path


def _dangling(path: Path) -> Path:
    path.symlink_to(path.parent / "gone.json")
    return path


@pytest.mark.parametrize("case", list(ODD_REPORTS))
def test_the_gate_refuses_an_odd_report_naming_why(tmp_path: Path, case: str) -> None:
    make, expected = ODD_REPORTS[case]
    said = refusal_of(make(tmp_path))
    assert said != "accepted"
    assert expected in said, said
    assert "uv run scripts/" in said  # and says what to run


def packet_folder(tmp_path: Path) -> Path:
    """The standard passing set, in the runbook's layout."""
    made = EvidenceSet(tmp_path / "made").standard()
    folder = tmp_path / "evidence"
    for kind in (DRILL, RESTORE_COMPARE, FREEZE, FINAL_COMPARE):
        (folder / kind.file).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(made[kind.key], folder / kind.file)
    return folder


def packet(folder: Path, out: Path) -> tuple[int, str]:
    done = run_script("approval_packet.py", "--evidence", str(folder), "--out", str(out), timeout=60)
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, done.stderr


def test_the_packet_is_ready_for_the_standard_set(tmp_path: Path) -> None:
    """The control: the untouched set is ready, so the refusals below are about what each case changed."""
    code, said = packet(packet_folder(tmp_path), tmp_path / "approval.html")
    assert code == 0 and "ready" in said


def test_the_packet_is_not_ready_when_the_final_compare_is_the_restore_compare(tmp_path: Path) -> None:
    """Each report passes alone; as a set the final compare is not about the frozen database."""
    folder = packet_folder(tmp_path)
    shutil.copy(folder / RESTORE_COMPARE.file, folder / FINAL_COMPARE.file)
    out = tmp_path / "approval.html"
    code, said = packet(folder, out)
    assert code == 1 and "NOT ready" in said
    assert "as one set" in out.read_text()


@pytest.mark.parametrize("case", list(ODD_REPORTS))
def test_the_packet_is_not_ready_with_an_odd_final_compare(tmp_path: Path, case: str) -> None:
    folder = packet_folder(tmp_path)
    (folder / FINAL_COMPARE.file).unlink()
    make, _ = ODD_REPORTS[case]
    made = make(folder)
    out = tmp_path / "approval.html"
    code, said = packet(folder, out)
    assert code == 1 and "NOT ready" in said, said
    assert out.is_file()
    if made.is_fifo():
        made.unlink()


def test_the_packet_passes_over_odd_files_beside_the_set(tmp_path: Path) -> None:
    """A folder named notes.json, a dangling link, a FIFO, a deep file beside a good set: still ready."""
    folder = packet_folder(tmp_path)
    (folder / "notes.json").mkdir()
    (folder / "old.json").symlink_to(folder / "gone.json")
    os.mkfifo(folder / "pipe.json")
    (folder / "deep.json").write_text("[" * 200_000 + "]" * 200_000)
    (folder / "list.json").write_text(json.dumps([1, 2]))
    code, said = packet(folder, tmp_path / "approval.html")
    assert code == 0 and "ready" in said, said
