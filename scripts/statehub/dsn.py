"""Connection strings: parsed once, shown masked, handed to child processes through the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

MASK = "********"
_ENV_OF = {
    "host": "PGHOST",
    "port": "PGPORT",
    "user": "PGUSER",
    "dbname": "PGDATABASE",
    "password": "PGPASSWORD",
    "sslmode": "PGSSLMODE",
    "passfile": "PGPASSFILE",
}


class DsnError(ValueError):
    """The DSN cannot be parsed (the message never contains its password)."""


@dataclass(frozen=True)
class Dsn:
    params: tuple[tuple[str, str], ...]

    @classmethod
    def parse(cls, text: str) -> Dsn:
        try:
            params = conninfo_to_dict(text)
        except psycopg.ProgrammingError:
            raise DsnError(
                "the DSN is not a valid PostgreSQL connection string (postgresql://user@host:port/db)"
            ) from None
        if "password" not in params and os.environ.get("PGPASSWORD"):
            params["password"] = os.environ["PGPASSWORD"]
        return cls(tuple(sorted((k, str(v)) for k, v in params.items() if v is not None)))

    def get(self, key: str) -> str | None:
        return dict(self.params).get(key)

    @property
    def dbname(self) -> str:
        return self.get("dbname") or self.get("user") or os.environ.get("USER", "postgres")

    def conninfo(self) -> str:
        """The full connection string, password included: for psycopg only, never printed."""
        return make_conninfo(**dict(self.params))

    def masked(self) -> str:
        """For people: host, port, user and database, the password replaced."""
        shown = {k: (MASK if k == "password" else v) for k, v in self.params}
        return make_conninfo(**shown)

    def child_env(self) -> dict[str, str]:
        """The environment a pg tool needs to reach this database: nothing goes on its command line."""
        env = {k: v for k, v in os.environ.items() if k not in _ENV_OF.values()}
        for key, value in self.params:
            if key in _ENV_OF:
                env[_ENV_OF[key]] = value
        return env

    @classmethod
    def of(cls, **params: str) -> Dsn:
        return cls(tuple(sorted(params.items())))

    def replace(self, **changes: str) -> Dsn:
        """The same connection with some parameters changed (e.g. another dbname or password)."""
        return Dsn.of(**{**dict(self.params), **changes})


def connect(dsn: Dsn, **kwargs: object) -> psycopg.Connection[tuple[object, ...]]:
    """Connect, turning connection failures into one line that names the target, never the password."""
    try:
        return psycopg.connect(dsn.conninfo(), connect_timeout=10, **kwargs)  # type: ignore[arg-type]
    except psycopg.OperationalError as error:
        reason = str(error).strip().splitlines()[-1] if str(error).strip() else "connection failed"
        raise ConnectError(f"cannot connect to {dsn.masked()}: {reason}") from None


class ConnectError(Exception):
    """The database could not be reached (unreachable host, wrong password, missing database)."""
