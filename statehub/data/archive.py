"""Dump archives and their manifests: what was dumped, and proof the archive is unchanged."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from statehub.data.report_files import read_passing_report
from statehub.policy.refusal import Refusal
from statehub.policy.report import Report

ARCHIVE_NAME = "state-hub.dump"
MANIFEST_NAME = "manifest.json"


def archive_sha256(path: Path) -> tuple[str, int]:
    """sha256 and size of a custom-format file, or of a directory-format folder (file names + contents)."""
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    size = 0
    for file in files:
        if path.is_dir():
            digest.update(file.relative_to(path).as_posix().encode() + b"\0")
        with file.open("rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
                size += len(block)
    return digest.hexdigest(), size


def read_manifest(path: Path) -> Report:
    if path.is_dir():
        path = path / MANIFEST_NAME
    report = read_passing_report(path, "dump", named=f"dump manifest {path}", remedy="run scripts/dump.py --out DIR")
    missing = [key for key in ("fingerprint", "fingerprint_sha256", "archive") if key not in report.details]
    if missing:
        raise Refusal(f"{path} carries no {' or '.join(missing)}: it is not a manifest scripts/dump.py wrote")
    return report


def archive_of(manifest_path: Path, manifest: Report) -> dict[str, Any]:
    archive: dict[str, Any] = manifest.details["archive"]
    return {**archive, "path": manifest_path / archive["file"]}
