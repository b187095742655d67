"""scripts/drill.py: dump the live source, restore into an isolated server, compare, report."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from statehub.dsn import Dsn, connect
from statehub.fingerprint import fingerprint

from components.evidence import fingerprint_digest
from tests.data.conftest import NewDb, no_password, script_env
from tests.http_stub import serve_json
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


def test_drill_into_a_scratch_database_checks_the_api(new_db: NewDb, tmp_path: Path, state_hub_api: str) -> None:
    source, scratch = new_db(scale=1), new_db()
    env_scratch = no_password(scratch)  # same server, same password as the source
    code, stderr, report = drill_cli(source, tmp_path / "drill", "--scratch", env_scratch, "--api-url", state_hub_api)
    assert code == 0, stderr
    assert report["details"]["api"]["problems"] == []
    with connect(scratch) as conn:
        assert (conn.execute("SELECT count(*) FROM tasks").fetchone() or [0])[0] == 989


def test_a_failing_api_fails_the_drill(new_db: NewDb, tmp_path: Path, state_hub_api: str) -> None:
    source, scratch = new_db(scale=1), new_db()
    code, _, report = drill_cli(
        source, tmp_path / "drill", "--scratch", no_password(scratch), "--api-url", state_hub_api + "/broken"
    )
    assert code == 1
    assert report["result"] == "fail"
    assert [p["kind"] for p in report["details"]["differences"]] == ["api-health", "api-summary"]


@pytest.mark.parametrize(
    ("live_summary", "code", "kinds"), [({"workstreams": 117}, 0, []), ({"workstreams": 118}, 1, ["api-summary"])]
)
def test_the_copy_summary_must_equal_the_live_one(
    new_db: NewDb, tmp_path: Path, state_hub_api: str, live_summary: dict[str, int], code: int, kinds: list[str]
) -> None:
    source, scratch = new_db(scale=1), new_db()
    with serve_json({"/state/summary": {**live_summary, "generated_at": "volatile, ignored"}}) as live:
        result, stderr, report = drill_cli(
            source,
            tmp_path / "drill",
            "--scratch",
            no_password(scratch),
            "--api-url",
            state_hub_api,
            "--source-api-url",
            f"http://{live}",
        )
    assert result == code, stderr
    assert [p["kind"] for p in report["details"]["differences"]] == kinds


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("scratch-is-source", "is the source itself"),
        ("scratch-not-empty", "is not empty ("),
        ("api-without-scratch", "--api-url needs --scratch"),
    ],
)
def test_bad_drill_requests_are_refused(new_db: NewDb, tmp_path: Path, case: str, message: str) -> None:
    source = new_db(scale=1)
    extra = {
        "scratch-is-source": ["--scratch", no_password(source)],
        "scratch-not-empty": ["--scratch", no_password(new_db(scale=1))],
        "api-without-scratch": ["--api-url", "http://127.0.0.1:9"],
    }[case]
    code, stderr, report = drill_cli(source, tmp_path / "drill", *extra)
    assert code == 2
    assert message in stderr
    assert report == {}
    assert not (tmp_path / "drill" / "dump").exists()  # refused before anything was read


@pytest.fixture
def state_hub_api() -> Iterator[str]:
    """A stand-in State Hub API: health ok and a summary; anything under /broken answers 404."""
    with serve_json(
        {"/state/health": {"status": "ok", "db": "connected"}, "/state/summary": {"workstreams": 117}}
    ) as host:
        yield f"http://{host}"
