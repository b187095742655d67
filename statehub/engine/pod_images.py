"""The images the pods tier runs, built here (no registry can be reached) and cached as OCI archives.

Built with buildah from scratch or from a Debian root filesystem that mmdebstrap makes from Debian's
own archive; Python packages come as wheels that the host's pip downloads for the image's Python and
are installed without an index inside the image. Each image is an OCI archive in
`~/.cache/state-hub-infra/images/<key>/`, imported into the node's containerd at start; `<key>` hashes
the recipes, the binaries they copy and the stand-in's sources, so a change rebuilds what it touches.

| image | what | from |
|---|---|---|
| pause | the sandbox's pause | the kubernetes module's own `build/pause/linux/pause.c`, static |
| coredns | cluster DNS | the trimmed CoreDNS binary |
| cloudnative-pg | the cnpg operator | its manager, laid out as upstream does (`/operator/manager_amd64`) |
| postgresql | state-hub-db's operand | Debian trixie's PostgreSQL 17, `postgres` as uid 26, en_US.UTF-8 |
| plugin-barman-cloud | the Barman Cloud plugin | its manager |
| plugin-barman-cloud-sidecar | the plugin's sidecar | the operand + barman-cloud in a venv |
| state-hub-standin | the stand-in State Hub | Debian trixie's Python + the project's `standins/` |
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from statehub.engine.engine_build import BARMAN_CLOUD_VERSION, CACHE_ROOT, CNPG_VERSION, COREDNS_VERSION, Progress
from statehub.engine.go_modules import module_source

PROJECT_DIR = Path(__file__).resolve().parents[2]
IMAGES_ROOT = CACHE_ROOT.parent / "images"
MANIFEST = "images.json"
DEBIAN = "trixie"
DEBIAN_SOURCES = (
    f"deb http://deb.debian.org/debian {DEBIAN} main",
    f"deb http://deb.debian.org/debian-security {DEBIAN}-security main",
)
POSTGRES_MAJOR = 17
IMAGE_PYTHON = "3.13"
"""Debian trixie's Python: the wheels are downloaded for it."""
WHEEL_PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_28_x86_64", "manylinux_2_34_x86_64")
SIDECAR_REQUIREMENTS = ("boto3", "psycopg2-binary", "python-dateutil")
SIDECAR_WITHOUT_DEPENDENCIES = ("barman==3.19.1",)
"""barman asks for psycopg2, which has no wheel: it gets psycopg2-binary beside it instead."""
STANDIN_REQUIREMENTS = ("fastapi", "uvicorn", "sqlalchemy", "alembic", "psycopg[binary]", "mcp")
TOOLS = ("buildah", "mmdebstrap", "gcc")


class ImageBuildError(Exception):
    """An image cannot be built here; the message names the image, the step and the fix."""


@dataclass(frozen=True)
class BuiltImage:
    name: str
    ref: str
    """`localhost/<name>:<tag>`, as the node's containerd knows it after import."""
    digest: str
    """The manifest's sha256: a workload may pin `ref@digest`."""
    archive: str
    seconds: float
    size_bytes: int

    @property
    def pinned(self) -> str:
        return f"{self.ref}@{self.digest}"


@dataclass(frozen=True)
class Builder:
    """Where images are made: the binaries they copy, a buildah store of its own, a scratch folder."""

    bin_dir: Path
    work: Path
    progress: Progress

    def buildah(self, *args: str, capture: bool = True) -> str:
        store = ["--root", str(self.work / "storage"), "--runroot", str(self.work / "run"), "--storage-driver", "vfs"]
        done = subprocess.run(
            ["buildah", *store, *args],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise ImageBuildError(f"buildah {args[0]} failed: {done.stderr.strip()[-400:]}")
        return done.stdout.strip() if capture else ""

    def from_scratch(self) -> str:
        return self.buildah("from", "scratch")

    def commit(self, container: str, name: str, tag: str, out: Path) -> tuple[str, str]:
        """Commit `container` as `localhost/name:tag` into the OCI archive `out`; returns (ref, digest)."""
        ref = f"localhost/{name}:{tag}"
        self.buildah("commit", "--quiet", "--format", "oci", container, ref)
        self.buildah("rm", container)
        out.unlink(missing_ok=True)
        self.buildah("push", "--quiet", ref, f"oci-archive:{out}:{ref}")
        listed = subprocess.run(["tar", "-xOf", str(out), "index.json"], capture_output=True, check=True)
        return ref, str(json.loads(listed.stdout)["manifests"][0]["digest"])

    def run(self, argv: list[str], what: str, *, env: dict[str, str] | None = None) -> None:
        done = subprocess.run(argv, capture_output=True, text=True, check=False, env=env)
        if done.returncode != 0:
            raise ImageBuildError(f"{what} failed: {done.stderr.strip()[-400:]}")


def _pause(builder: Builder, out: Path) -> tuple[str, str]:
    source = module_source("kubernetes", "k8s.io/kubernetes") / "build" / "pause" / "linux" / "pause.c"
    binary = builder.work / "pause"
    builder.run(["gcc", "-Os", "-static", "-DVERSION=v3.10-statehub", "-o", str(binary), str(source)], "gcc pause.c")
    builder.run(["strip", str(binary)], "strip pause")
    container = builder.from_scratch()
    builder.buildah("copy", container, str(binary), "/pause")
    builder.buildah("config", "--entrypoint", '["/pause"]', "--user", "65535:65535", container)
    return builder.commit(container, "pause", "3.10", out)


def _static(binary: str, entry: str, user: str, name: str, tag: str) -> Callable[[Builder, Path], tuple[str, str]]:
    def build(builder: Builder, out: Path) -> tuple[str, str]:
        container = builder.from_scratch()
        builder.buildah("copy", container, str(builder.bin_dir / binary), entry)
        builder.buildah("config", "--entrypoint", json.dumps([entry]), "--user", user, container)
        return builder.commit(container, name, tag, out)

    return build


def _operator(builder: Builder, out: Path) -> tuple[str, str]:
    """Laid out as upstream lays it out: the operator lists operator/manager_* to learn the architectures it
    can run instances on (without it every Cluster fails "invalid architecture: amd64")."""
    layout = builder.work / "operator-layout"
    (layout / "operator").mkdir(parents=True, exist_ok=True)
    shutil.copy2(builder.bin_dir / "manager", layout / "operator" / "manager_amd64")
    (layout / "manager").unlink(missing_ok=True)
    (layout / "manager").symlink_to("operator/manager_amd64")
    tarball = builder.work / "operator.tar"
    builder.run(["tar", "-C", str(layout), "-cf", str(tarball), "operator", "manager"], "tar the operator layout")
    container = builder.from_scratch()
    builder.buildah("add", container, str(tarball), "/")
    builder.buildah("config", "--entrypoint", '["/manager"]', "--user", "65532:65532", container)
    return builder.commit(container, "cloudnative-pg", CNPG_VERSION, out)


def _rootfs(builder: Builder, name: str, packages: tuple[str, ...], hooks: tuple[str, ...] = ()) -> Path:
    """A Debian minbase root filesystem with `packages`, as a tarball (cached beside the images)."""
    recipe = hashlib.sha256(json.dumps([DEBIAN, DEBIAN_SOURCES, packages, hooks]).encode()).hexdigest()[:12]
    target = builder.work / f"{name}-rootfs-{recipe}.tar"
    if target.is_file():
        return target
    partial = target.with_name(f"{target.stem}.partial.tar")  # mmdebstrap writes a tarball for a .tar name
    argv = [
        "mmdebstrap",
        "--variant=minbase",
        f"--include={','.join(packages)}",
        "--dpkgopt=path-exclude=/usr/share/doc/*",
        "--dpkgopt=path-exclude=/usr/share/man/*",
        *(f"--customize-hook={hook}" for hook in hooks),
        '--customize-hook=rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/*',
        DEBIAN,
        str(partial),
        *DEBIAN_SOURCES,
    ]
    builder.run(argv, f"mmdebstrap of the {name} root filesystem")
    partial.rename(target)
    return target


POSTGRES_HOOKS = (
    'chroot "$1" usermod -u 26 postgres',
    'echo "en_US.UTF-8 UTF-8" > "$1/etc/locale.gen"; chroot "$1" locale-gen',
    f'rm -rf "$1"/var/lib/postgresql/{POSTGRES_MAJOR}/main "$1"/etc/postgresql/{POSTGRES_MAJOR}/main',
    'chroot "$1" sh -c "chown -R postgres /var/lib/postgresql /var/run/postgresql /var/log/postgresql"',
)
"""cnpg runs the operand as uid 26; the workstation's locale (en_US.UTF-8) must exist where initdb runs."""
POSTGRES_PATH = f"/usr/lib/postgresql/{POSTGRES_MAJOR}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _postgres_rootfs(builder: Builder) -> Path:
    packages = (f"postgresql-{POSTGRES_MAJOR}", "locales", "ca-certificates", "python3", "python3-venv")
    return _rootfs(builder, "postgresql", packages, POSTGRES_HOOKS)


def _postgres_version(builder: Builder, container: str) -> str:
    """The minor version, from `postgres (PostgreSQL) 17.12 (Debian ...)`."""
    return builder.buildah("run", "--network=none", container, "--", "postgres", "--version").split()[2]


def _operand(builder: Builder, out: Path) -> tuple[str, str]:
    """The tag carries the version: cnpg reads the major from it."""
    container = builder.buildah("from", "scratch")
    builder.buildah("add", container, str(_postgres_rootfs(builder)), "/")
    builder.buildah("config", "--env", f"PATH={POSTGRES_PATH}", "--env", "LANG=C.UTF-8", "--user", "26:26", container)
    return builder.commit(container, "postgresql", _postgres_version(builder, container), out)


def _wheels(builder: Builder, name: str, requirements: tuple[str, ...], bare: tuple[str, ...] = ()) -> Path:
    """Wheels for the image's Python, downloaded by the host's pip (pip inside a chroot distrusts the
    host's certificate chain)."""
    recipe = hashlib.sha256(json.dumps([IMAGE_PYTHON, WHEEL_PLATFORMS, requirements, bare]).encode()).hexdigest()[:12]
    folder = builder.work / f"{name}-wheels-{recipe}"
    if folder.is_dir():
        return folder
    platforms = [flag for platform in WHEEL_PLATFORMS for flag in ("--platform", platform)]
    uv = shutil.which("uv") or "uv"
    partial = folder.with_suffix(".partial")
    shutil.rmtree(partial, ignore_errors=True)
    wanted = ["--python-version", IMAGE_PYTHON, "--implementation", "cp", *platforms]
    download = [uv, "tool", "run", "--from", "pip", "pip", "download", "--quiet", "--only-binary=:all:", *wanted]
    builder.run([*download, "-d", str(partial), *requirements], f"pip download of the {name} wheels")
    if bare:
        builder.run([*download, "--no-deps", "-d", str(partial), *bare], f"pip download of the {name} wheels")
    partial.rename(folder)
    return folder


def _venv(
    builder: Builder, container: str, wheels: Path, requirements: tuple[str, ...], bare: tuple[str, ...] = ()
) -> None:
    builder.buildah("copy", container, str(wheels), "/tmp/wheels")  # noqa: S108 - inside the image being built
    names = " ".join(f"'{r}'" for r in requirements)
    without = f" && /venv/bin/pip install --quiet --no-index --no-deps --find-links /tmp/wheels {' '.join(bare)}"
    builder.buildah(
        "run",
        "--network=none",  # nothing to fetch (the wheels are there), and no firewall rules left on the host
        "--user",
        "0:0",
        container,
        "--",
        "sh",
        "-c",
        f"python3 -m venv /venv && /venv/bin/pip install --quiet --no-index --find-links /tmp/wheels {names}"
        f"{without if bare else ''} && rm -rf /tmp/wheels",
    )


def _sidecar(builder: Builder, out: Path) -> tuple[str, str]:
    """The plugin's sidecar: its manager beside barman-cloud, on the operand (it reads the data folder)."""
    container = builder.buildah("from", "scratch")
    builder.buildah("add", container, str(_postgres_rootfs(builder)), "/")
    wheels = _wheels(builder, "sidecar", SIDECAR_REQUIREMENTS, SIDECAR_WITHOUT_DEPENDENCIES)
    _venv(builder, container, wheels, SIDECAR_REQUIREMENTS, SIDECAR_WITHOUT_DEPENDENCIES)
    builder.buildah("copy", container, str(builder.bin_dir / "barman-cloud-manager"), "/manager")
    path = f"/venv/bin:{POSTGRES_PATH}"
    builder.buildah("config", "--env", f"PATH={path}", "--entrypoint", '["/manager"]', "--user", "26:26", container)
    return builder.commit(container, "plugin-barman-cloud-sidecar", BARMAN_CLOUD_VERSION, out)


STANDIN_ALEMBIC_INI = "[alembic]\nscript_location = /app/standins/state_hub/migrations\n"


def _standin(builder: Builder, out: Path) -> tuple[str, str]:
    """The stand-in State Hub as the real image is run: `alembic upgrade head` in its working folder, the
    API on port 8000 by default, settings from the environment (DATABASE_URL)."""
    rootfs = _rootfs(builder, "python", ("python3", "python3-venv", "ca-certificates"))
    container = builder.buildah("from", "scratch")
    builder.buildah("add", container, str(rootfs), "/")
    _venv(builder, container, _wheels(builder, "standin", STANDIN_REQUIREMENTS), STANDIN_REQUIREMENTS)
    app = builder.work / "standin-app"
    shutil.rmtree(app, ignore_errors=True)
    shutil.copytree(PROJECT_DIR / "standins", app / "standins", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (app / "alembic.ini").write_text(STANDIN_ALEMBIC_INI)
    builder.buildah("copy", container, str(app), "/app")
    builder.buildah(
        "config",
        "--workingdir",
        "/app",
        "--env",
        "PATH=/venv/bin:/usr/local/bin:/usr/bin:/bin",
        "--env",
        "PYTHONPATH=/app",
        "--env",
        "PYTHONDONTWRITEBYTECODE=1",
        "--cmd",
        '["uvicorn", "--factory", "standins.state_hub.app:from_environment", "--host", "0.0.0.0", "--port", "8000"]',
        "--user",
        "10001:10001",
        container,
    )
    return builder.commit(container, "state-hub-standin", _sources_digest()[:12], out)


def _sources_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted((PROJECT_DIR / "standins").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(PROJECT_DIR)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class Recipe:
    name: str
    build: Callable[[Builder, Path], tuple[str, str]]
    inputs: tuple[str, ...] = ()
    """Binaries (in the bin folder) the image copies: a new build of one rebuilds the image."""


RECIPES = (
    Recipe("pause", _pause),
    Recipe("coredns", _static("coredns", "/coredns", "65534:65534", "coredns", COREDNS_VERSION), ("coredns",)),
    Recipe("cloudnative-pg", _operator, ("manager",)),
    Recipe("postgresql", _operand),
    Recipe(
        "plugin-barman-cloud",
        _static("barman-cloud-manager", "/manager", "65532:65532", "plugin-barman-cloud", BARMAN_CLOUD_VERSION),
        ("barman-cloud-manager",),
    ),
    Recipe("plugin-barman-cloud-sidecar", _sidecar, ("barman-cloud-manager",)),
    Recipe("state-hub-standin", _standin),
)
_RECIPE_VERSION = "1"
"""Bump when a recipe's code changes (its data, the binaries it copies and the stand-in's sources are hashed)."""


def images_key(bin_dir: Path) -> str:
    recipes = [_RECIPE_VERSION, DEBIAN, DEBIAN_SOURCES, POSTGRES_MAJOR, POSTGRES_HOOKS, IMAGE_PYTHON, WHEEL_PLATFORMS]
    recipes += [SIDECAR_REQUIREMENTS, SIDECAR_WITHOUT_DEPENDENCIES, STANDIN_REQUIREMENTS, STANDIN_ALEMBIC_INI]
    digest = hashlib.sha256(json.dumps(recipes).encode())
    for binary in sorted({binary for recipe in RECIPES for binary in recipe.inputs}):
        with (bin_dir / binary).open("rb") as content:
            digest.update(hashlib.file_digest(content, "sha256").digest())  # -trimpath builds are reproducible
    digest.update(_sources_digest().encode())
    return digest.hexdigest()[:16]


def images_dir(bin_dir: Path) -> Path:
    return IMAGES_ROOT / images_key(bin_dir)


def built_images(directory: Path) -> dict[str, BuiltImage]:
    manifest = directory / MANIFEST
    if not manifest.is_file():
        return {}
    recorded = {entry["name"]: BuiltImage(**entry) for entry in json.loads(manifest.read_text())}
    return {name: image for name, image in recorded.items() if (directory / image.archive).is_file()}


def missing_tools() -> list[str]:
    return [tool for tool in TOOLS if shutil.which(tool) is None]


def build_images(bin_dir: Path, progress: Progress) -> Path:
    """Build what the image cache lacks (idempotent); returns the images folder."""
    absent = missing_tools()
    if absent:
        raise ImageBuildError(
            f"{', '.join(absent)} not installed: apt-get install buildah mmdebstrap gcc (the pods tier's images)"
        )
    directory = images_dir(bin_dir)
    directory.mkdir(parents=True, exist_ok=True)
    have = built_images(directory)
    work = IMAGES_ROOT / "work"
    work.mkdir(parents=True, exist_ok=True)
    builder = Builder(bin_dir, work, progress)
    for recipe in RECIPES:
        if recipe.name in have:
            progress(f"image {recipe.name}: cached")
            continue
        progress(f"image {recipe.name}: building")
        started = time.monotonic()
        archive = directory / f"{recipe.name}.tar"
        ref, digest = recipe.build(builder, archive)
        have[recipe.name] = BuiltImage(
            recipe.name, ref, digest, archive.name, round(time.monotonic() - started, 1), archive.stat().st_size
        )
        built = have[recipe.name]
        progress(f"image {recipe.name}: {built.ref} built in {built.seconds:.0f} s, {built.size_bytes / 2**20:.0f} MiB")
        (directory / MANIFEST).write_text(json.dumps([asdict(i) for i in have.values()], indent=2) + "\n")
    return directory
