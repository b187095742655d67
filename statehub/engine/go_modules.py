"""The Go toolchain and the wrapper modules in engine/: where a pinned module's source lies, and the CRDs
the cnpg and Barman Cloud modules publish (the engine tier installs them from there, not from a copy)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

ENGINE_DIR = Path(__file__).resolve().parents[2] / "engine"
CNPG_MODULE = "github.com/cloudnative-pg/cloudnative-pg"
BARMAN_MODULE = "github.com/cloudnative-pg/plugin-barman-cloud"


class GoModuleError(Exception):
    """Go is missing or a module cannot be had from the proxy; the message says which and what to do."""


def go() -> str:
    found = shutil.which("go")
    if found is None:
        raise GoModuleError("go is not on PATH: install Go 1.26 (the machine's toolchain) and build again")
    return found


def module_source(wrapper: str, path: str) -> Path:
    """Where the Go module cache holds `path` at the version the wrapper module `engine/<wrapper>` pins
    (downloaded from the proxy on first use)."""
    module = ENGINE_DIR / wrapper
    listed = [go(), "list", "-m", "-f", "{{.Dir}}", path]
    found = subprocess.run(listed, cwd=module, capture_output=True, text=True, check=False)
    if found.returncode != 0 or not found.stdout.strip():
        subprocess.run([go(), "mod", "download", path], cwd=module, capture_output=True, check=False)
        found = subprocess.run(listed, cwd=module, capture_output=True, text=True, check=False)
    if found.returncode != 0 or not found.stdout.strip():
        raise GoModuleError(f"{path} (pinned in engine/{wrapper}) is not in the module cache and cannot be fetched")
    return Path(found.stdout.strip())


def crd_files() -> list[Path]:
    """The CustomResourceDefinition files of cnpg and of the Barman Cloud plugin, in their pinned modules."""
    folders = (
        module_source("cnpg", CNPG_MODULE) / "config" / "crd" / "bases",
        module_source("barman-cloud", BARMAN_MODULE) / "config" / "crd" / "bases",
    )
    return [path for folder in folders for path in sorted(folder.glob("*.yaml"))]


def crd_documents() -> list[dict[str, Any]]:
    return [doc for path in crd_files() for doc in yaml.safe_load_all(path.read_text()) if doc]
