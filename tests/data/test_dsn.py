"""A DSN is resolved once, completely, by libpq's rules: what is checked is what the tools act on."""

from __future__ import annotations

import pytest

from statehub.cli.flags import database, password_variable
from statehub.data.dsn import Dsn, DsnError


@pytest.fixture(autouse=True)
def clean_libpq_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGPASSWORD", "PGSSLMODE", "PGSERVICE", "PGOPTIONS"):
        monkeypatch.delenv(variable, raising=False)


def test_unset_parts_come_from_the_environment_and_are_pinned_for_the_tools(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGDATABASE", "state_hub")
    monkeypatch.setenv("PGPORT", "6543")
    dsn = Dsn.parse("host=/sockets user=operator")
    assert (dsn.dbname, dsn.get("port")) == ("state_hub", "6543")
    monkeypatch.setenv("PGDATABASE", "postgres")  # changed after parsing: the tools still get state_hub
    env = dsn.child_env()
    assert (env["PGDATABASE"], env["PGPORT"], env["PGHOST"]) == ("state_hub", "6543", "/sockets")
    assert "dbname=state_hub" in dsn.masked()


def test_an_inherited_variable_cannot_redirect_a_tool(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGOPTIONS", "-c search_path=evil")
    dsn = Dsn.parse("host=db.internal dbname=a user=u")
    monkeypatch.setenv("PGHOST", "elsewhere")
    monkeypatch.setenv("PGSSLMODE", "disable")
    env = dsn.child_env()
    assert env["PGHOST"] == "db.internal"
    assert "PGSSLMODE" not in env
    assert env["PGOPTIONS"] == "-c search_path=evil"  # resolved at parse time: it is part of this DSN now


def test_defaults_follow_libpq() -> None:
    dsn = Dsn.parse("host=127.0.0.1 user=alice")
    assert (dsn.get("port"), dsn.dbname) == ("5432", "alice")


def test_no_host_anywhere_is_refused() -> None:
    with pytest.raises(DsnError, match="names no host"):
        Dsn.parse("dbname=state_hub user=u")


def test_a_dbname_that_is_a_uri_is_expanded_and_its_password_masked() -> None:
    dsn = Dsn.parse("dbname=postgresql://u:hunter2@db.internal:5433/state_hub")
    assert (dsn.get("host"), dsn.get("port"), dsn.dbname) == ("db.internal", "5433", "state_hub")
    assert "hunter2" not in dsn.masked()


@pytest.mark.parametrize("secret", ["password", "sslpassword"])
def test_secret_parameters_are_masked(secret: str) -> None:
    dsn = Dsn.parse(f"host=h user=u {secret}=hunter2")
    assert "hunter2" not in dsn.masked()


def test_an_unparsable_dsn_never_echoes_it() -> None:
    with pytest.raises(DsnError) as refused:
        Dsn.parse("host=h password=hunter2 nonsense")
    assert "hunter2" not in str(refused.value)


def test_a_service_name_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGSERVICE", "prod")
    with pytest.raises(DsnError, match="service"):
        Dsn.parse("host=h")


def test_each_database_flag_takes_its_own_password_variable_else_pgpassword(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The scripts' one password rule: `--NAME` reads PGNAMEPASSWORD, else libpq's PGPASSWORD."""
    assert [password_variable(f) for f in ("--target", "--wsl2", "--probe", "--source")] == [
        "PGTARGETPASSWORD",
        "PGWSL2PASSWORD",
        "PGPROBEPASSWORD",
        "PGSOURCEPASSWORD",
    ]
    monkeypatch.setenv("PGPASSWORD", "common")
    monkeypatch.setenv("PGTARGETPASSWORD", "the-target's")
    monkeypatch.delenv("PGSCRATCHPASSWORD", raising=False)
    assert database("host=/tmp dbname=a", "--target").get("password") == "the-target's"
    assert database("host=/tmp dbname=a", "--scratch").get("password") == "common"
