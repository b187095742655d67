"""Evidence report files: where one may be written (checked before anything is touched), written atomically."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from statehub.policy.refusal import Refusal
from statehub.policy.report import Report, ReportError, parse_report, read_report_file


def check_report_path(path: Path, *, flag: str = "--report", keep_out_of: tuple[Path, ...] = ()) -> Path:
    """Refuse, before anything is touched, a report path that could not be written or would overwrite
    evidence: a folder, a file in a missing or unwritable folder, or anything inside `keep_out_of`
    (a dump folder: its manifest and archive are what the report is about)."""
    resolved = path.resolve()
    if resolved.is_dir():
        raise Refusal(f"{flag} {path} is a folder: give a file name (e.g. {path / 'report.json'})")
    for protected in keep_out_of:
        if resolved == protected.resolve() or resolved.is_relative_to(protected.resolve()):
            raise Refusal(
                f"{flag} {path} is inside {protected}, which holds the evidence it reports on: write it elsewhere"
            )
    folder = resolved.parent
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if existing is None or not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise Refusal(f"{flag} {path}: {existing or folder} cannot be written to: choose a writable folder")
    if resolved.exists() and not os.access(resolved, os.W_OK):
        raise Refusal(f"{flag} {path} exists and cannot be overwritten: choose another file")
    return path


def check_out_dir(path: Path, *, flag: str = "--out", what: str = "a dump never overwrites another") -> Path:
    """Refuse, before anything is touched, an output folder that is a file, already holds files, or
    cannot be created where it is asked for."""
    if path.exists() and not path.is_dir():
        raise Refusal(f"{flag} {path} is a file: give a new, empty folder")
    if path.is_dir() and any(path.iterdir()):
        raise Refusal(f"{flag} {path} is not empty: choose a new folder ({what})")
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing is None or not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise Refusal(f"{flag} {path}: {existing or path} cannot be written to: choose a writable folder")
    return path


@contextmanager
def output_folder(path: Path, *, flag: str = "--out", what: str = "a dump never overwrites another") -> Iterator[Path]:
    """A folder the block fills: refused before anything is touched unless it is new or empty, and
    emptied again (removed, if the block made it) when the block fails or is interrupted, so no half
    dump and no copy of the data stays behind."""
    check_out_dir(path, flag=flag, what=what)
    existed = path.exists()
    path.mkdir(parents=True, exist_ok=True)
    try:
        yield path
    except BaseException:
        if existed:
            for entry in path.iterdir():
                shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
        else:
            shutil.rmtree(path, ignore_errors=True)
        raise


def write_report(report: Report, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(report.to_json() + "\n")
    os.replace(temporary, path)
    return path


def read_passing_report(path: Path, kind: str, *, named: str, remedy: str) -> Report:
    """The passing report of `kind` at `path`, or a refusal naming what was given (`named`, e.g. the flag
    and the path) and what to run instead (`remedy`)."""
    if not path.is_file():
        raise Refusal(f"{named}: no such file: {remedy}")
    try:
        report = parse_report(read_report_file(path))
    except ReportError as error:
        raise Refusal(f"{named} is not a {kind} report ({error}): {remedy}") from None
    if report.kind != kind or report.result != "pass":
        raise Refusal(
            f"{named} is a {report.kind!r} report with result {report.result!r}, not a passing {kind} report: {remedy}"
        )
    return report
