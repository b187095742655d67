"""scripts/drill.py: dump the live source, restore into an isolated server, compare, report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from standins.state_hub.serving import serving, serving_each
from statehub.data.dsn import Dsn, connect
from statehub.data.ephemeral import OFFICIAL_IMAGE, EphemeralServer, InitdbFlavour, ephemeral_server, pgserver_bin
from statehub.data.fingerprint import fingerprint
from statehub.policy.fingerprints import fingerprint_digest
from tests.data.conftest import NewDb, create_db, no_password, script_env
from tests.script_runner import run_script


def drill_cli(source: Dsn, out: Path, *extra: str) -> tuple[int, str, dict]:  # type: ignore[type-arg]
    result = run_script("drill.py", "--source", no_password(source), "--out", str(out), *extra, env=script_env(source))
    report_path = out / "drill-report.json"
    report = json.loads(report_path.read_text()) if report_path.exists() else {}
    return result.returncode, result.stderr, report


def test_drill_into_a_throwaway_server(new_db: NewDb, tmp_path: Path) -> None:
    source = new_db(scale=1)
    before = fingerprint_digest(fingerprint(source))
    code, stderr, report = drill_cli(source, tmp_path / "drill")
    assert code == 0, stderr
    assert report["kind"] == "drill" and report["result"] == "pass"
    details = report["details"]
    manifest = json.loads((tmp_path / "drill" / "dump" / "manifest.json").read_text())
    assert details["dump"]["sha256"] == manifest["details"]["archive"]["sha256"]
    assert details["compare"]["rows"] == 117 + 989 + 1423 + 208 + 64 + 23 + 20 + 1
    assert "throwaway PostgreSQL" in details["restored_into"]
    assert json.loads((tmp_path / "drill" / "restore-compare.json").read_text())["result"] == "pass"
    assert fingerprint_digest(fingerprint(source)) == before  # the source was only read
    assert (source.get("password") or "?") not in "".join(p.read_text() for p in (tmp_path / "drill").rglob("*.json"))


def test_drill_into_a_scratch_database_checks_both_apis(new_db: NewDb, tmp_path: Path) -> None:
    """The live State Hub and one wired to the scratch copy (both the stand-in, over real databases)."""
    source, scratch = new_db(scale=1), new_db()
    with serving_each([source.url(), scratch.url()]) as (live_api, copy_api):
        code, stderr, report = drill_cli(
            source,
            tmp_path / "drill",
            "--scratch",
            no_password(scratch),
            "--source-api",
            live_api,
            "--target-api",
            copy_api,
        )
    assert code == 0, stderr
    api = report["details"]["api"]
    assert api["result"] == "pass" and api["summary"]["equal"] and len(api["reads"]) == 5
    restore_compare = json.loads((tmp_path / "drill" / "restore-compare.json").read_text())
    assert restore_compare["details"]["api"] == api  # the drill's compare report carries it too


def test_a_failing_api_fails_the_drill(new_db: NewDb, tmp_path: Path) -> None:
    source, scratch = new_db(scale=1), new_db()
    with serving(source.url()) as live_api:
        code, _, report = drill_cli(
            source,
            tmp_path / "drill",
            *("--scratch", no_password(scratch), "--source-api", live_api, "--target-api", "http://127.0.0.1:9"),
        )
    assert code == 1
    assert report["result"] == "fail"
    kinds = {(p["kind"], p["side"]) for p in report["details"]["differences"]}
    assert ("api-health", "target") in kinds and ("api-summary", "target") in kinds
    assert all(p["side"] == "target" for p in report["details"]["differences"])


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("scratch-is-source", "is the source itself"),
        ("scratch-not-empty", "is not empty ("),
        ("api-without-scratch", "--target-api needs --scratch"),
        ("api-one-side", "--source-api and --target-api go together"),
    ],
)
def test_bad_drill_requests_are_refused(new_db: NewDb, tmp_path: Path, case: str, message: str) -> None:
    source = new_db(scale=1)
    extra = {
        "scratch-is-source": ["--scratch", no_password(source)],
        "scratch-not-empty": ["--scratch", no_password(new_db(scale=1))],
        "api-without-scratch": ["--source-api", "http://127.0.0.1:9", "--target-api", "http://127.0.0.1:10"],
        "api-one-side": ["--target-api", "http://127.0.0.1:9"],
    }[case]
    code, stderr, report = drill_cli(source, tmp_path / "drill", *extra)
    assert code == 2
    assert message in stderr
    assert report == {}
    assert not (tmp_path / "drill" / "dump").exists()  # refused before anything was read


@pytest.mark.parametrize(
    "flavour", [OFFICIAL_IMAGE, InitdbFlavour("C.UTF-8", "C.UTF-8", checksums=False)], ids=lambda f: f.collate
)
def test_the_drill_restores_into_the_sources_locale(flavour: InitdbFlavour, tmp_path: Path) -> None:
    """A workstation made as the official image makes it (en_US.utf8), or with C.UTF-8: the throwaway server
    takes the source's encoding and locale, so the drill's compare passes (it failed on the locale before)."""
    with ephemeral_server(tcp=True, flavour=flavour) as workstation:
        source = create_db(workstation, scale=1)
        code, stderr, report = drill_cli(source, tmp_path / "drill")
    assert code == 0, stderr
    assert report["details"]["source_locale"].startswith(f"encoding=UTF8 collate={flavour.collate} ctype=")
    assert f"locale {flavour.collate}" in report["details"]["restored_into"]


def test_the_drill_names_the_extensions_the_cluster_must_create(pg15: EphemeralServer, tmp_path: Path) -> None:
    """A WSL2 database with an extension: the drill report lists it (stage restore then needs it in
    dbExtensions, since state-hub-db's owner cannot create it)."""
    source = create_db(pg15, scale=1)
    with connect(source, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION pg_trgm")
        conn.execute("CREATE INDEX tasks_title_trgm ON tasks USING gin (title gin_trgm_ops)")
    code, stderr, report = drill_cli(source, tmp_path / "without", "--pg-bin", str(pgserver_bin()))
    assert code == 2 and stderr.strip().splitlines()[-1].startswith("error: the source uses the extension(s) pg_trgm")
    assert not (tmp_path / "without" / "dump").exists()  # refused before anything was read
    code, stderr, report = drill_cli(source, tmp_path / "drill", "--pg-bin", str(pg15.bin_dir))
    assert code == 0, stderr
    assert report["details"]["source_extensions"] == ["pg_trgm"]
