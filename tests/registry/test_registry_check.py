"""scripts/registry_check.py against a real registry (and a host that is not one)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from statehub.data.ephemeral import free_port
from tests.http_stub import serve_json
from tests.registry.conftest import PASSWORD, USER, Registry, push_tiny_image
from tests.script_runner import run_script, script_env

NEVER_PUSHED = "sha256:" + "0" * 64


def check(image: str, *extra: str, password: str | None = None, report: Path | None = None):  # type: ignore[no-untyped-def]
    env = script_env(REGISTRY_PASSWORD=password) if password else script_env()
    args = ["--image", image, *extra, *(["--report", str(report)] if report else [])]
    return run_script("registry_check.py", *args, env=env, timeout=60)


def test_a_pushed_image_is_found(registry: Registry, tmp_path: Path) -> None:
    digest = push_tiny_image(registry, "state-hub")
    extra = ("--username", USER) if registry.auth else ()
    result = check(
        f"{registry.host}/state-hub@{digest}",
        *extra,
        password=PASSWORD if registry.auth else None,
        report=tmp_path / "r.json",
    )
    assert result.returncode == 0, result.stderr
    assert "ok manifest" in result.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["kind"] == "registry-check" and report["result"] == "pass"
    assert PASSWORD not in (tmp_path / "r.json").read_text()


def test_a_digest_never_pushed_is_named(registry: Registry) -> None:
    push_tiny_image(registry, "state-hub")
    extra = ("--username", USER) if registry.auth else ()
    result = check(f"{registry.host}/state-hub@{NEVER_PUSHED}", *extra, password=PASSWORD if registry.auth else None)
    assert result.returncode == 1
    assert f"state-hub@{NEVER_PUSHED} was never pushed to {registry.host}" in result.stderr


@pytest.mark.parametrize("registry", ["htpasswd"], indirect=True)
def test_credentials_problems_are_explained(registry: Registry) -> None:
    image = f"{registry.host}/state-hub@{NEVER_PUSHED}"
    missing = check(image)
    assert missing.returncode == 1
    assert "the registry wants credentials: pass --username and set REGISTRY_PASSWORD" in missing.stderr
    wrong = check(image, "--username", USER, password="not-the-password")
    assert wrong.returncode == 1
    assert f"refused the credentials of '{USER}'" in wrong.stderr
    assert "not-the-password" not in wrong.stderr


@pytest.fixture
def not_a_registry() -> Iterator[str]:
    """A web server that answers 404 everywhere, like Gitea without its package registry."""
    with serve_json({}) as host:
        yield host


def test_404_on_v2_means_no_registry_there(not_a_registry: str) -> None:
    result = check(f"{not_a_registry}/state-hub@{NEVER_PUSHED}")
    assert result.returncode == 1
    assert "no registry is served at" in result.stderr and "Gitea packages" in result.stderr


def test_nothing_listening_is_named() -> None:
    result = check(f"127.0.0.1:{free_port()}/state-hub@{NEVER_PUSHED}")
    assert result.returncode == 1
    assert "nothing answers at http://127.0.0.1:" in result.stderr


@pytest.mark.parametrize(
    ("image", "message"),
    [
        ("localhost:5000/state-hub:v1", "is not pinned by digest"),
        ("Not An Image", "is not an image reference"),
    ],
)
def test_bad_references_are_refused(image: str, message: str) -> None:
    result = check(image)
    assert result.returncode == 2
    assert message in result.stderr


def test_username_without_password_is_refused() -> None:
    result = check(f"localhost:5000/state-hub@{NEVER_PUSHED}", "--username", "ci")
    assert result.returncode == 2
    assert "REGISTRY_PASSWORD is not set" in result.stderr


def test_a_reference_with_an_impossible_port_is_refused_before_any_request() -> None:
    result = run_script("registry_check.py", "--image", "reg.example:99999/state-hub@sha256:" + "a" * 64)
    assert result.returncode == 2
    assert (
        result.stderr.strip().startswith("error: --image 'reg.example:99999/")
        and "not an image reference" in result.stderr
    )
