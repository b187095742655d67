"""The config rules the Pulumi CLI applies before the program runs, and the program's own on top.

The offline runner must refuse what `pulumi preview` refuses, with the CLI's words (the engine
tier checks the same cases against the real CLI); the program refuses undeclared keys and
plaintext secrets under both.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path

import pulumi
import pytest
import yaml

from statehub.offline.offline_program import run_program
from statehub.offline.stack_config import StackConfigError, load_stack_config
from statehub.policy.project_file import read_project_file
from statehub.policy.settings import load_settings
from tests.program.conftest import PROJECT_DIR, stack_config
from tests.script_runner import run_script

COMMITTED_STACKS = ("dev", "railiance01")


@pytest.mark.parametrize("stack", COMMITTED_STACKS)
def test_committed_stacks_pass_the_cli_rules(stack: str) -> None:
    config = load_stack_config(PROJECT_DIR, stack)
    assert config.values["state-hub-infra:stage"] == "empty"
    assert config.values["state-hub-infra:registryPassword"] == ""  # the declared default, merged


def test_only_stage_and_context_have_no_default() -> None:
    """Every other key is optional: the CLI would refuse a stack that leaves one without a default unset."""
    declarations = read_project_file(PROJECT_DIR).declarations
    assert sorted(k for k, d in declarations.items() if not d.has_default) == ["kubeContext", "stage"]


def test_missing_key_is_refused_like_the_cli() -> None:
    with pytest.raises(StackConfigError) as one:
        stack_config("railiance01", "stage=")
    assert str(one.value) == "Stack 'railiance01' is missing configuration value 'stage'"
    with pytest.raises(StackConfigError) as two:
        stack_config("railiance01", "stage=", "kubeContext=")
    assert str(two.value) == "Stack 'railiance01' is missing configuration values 'kubeContext' and 'stage'"


@pytest.mark.parametrize(
    ("override", "key", "type_name"),
    [
        ("dbInstances=two", "dbInstances", "integer"),
        ("dbInstances=1.5", "dbInstances", "integer"),
        ("createNamespaces=maybe", "createNamespaces", "boolean"),
        ("ingressAllowCidrs=[1, 2]", "ingressAllowCidrs", "array<string>"),
        ("ingressAllowCidrs=10.0.0.0/8", "ingressAllowCidrs", "array<string>"),
        ("kubeconfig=[a, b]", "kubeconfig", "string"),
        ("accessNamespaces={a: b}", "accessNamespaces", "array<string>"),
    ],
)
def test_value_of_the_wrong_type_is_refused_like_the_cli(override: str, key: str, type_name: str) -> None:
    with pytest.raises(StackConfigError) as refused:
        stack_config("railiance01", override)
    assert str(refused.value) == f"Stack 'railiance01' with configuration key '{key}' must be of type '{type_name}'"


@pytest.mark.parametrize("override", ["dbInstances=3", "createNamespaces=true", "wsl2Port='8001'", "dbStorageSize=1"])
def test_scalars_reach_the_type_check_as_text_like_the_cli(override: str) -> None:
    """`dbStorageSize: 1` in a stack file is the string "1" to the CLI, so a string key accepts it."""
    stack_config("railiance01", override)


def _project_with(
    tmp_path: Path, declarations: Mapping[str, object], stack_config_values: Mapping[str, object]
) -> Path:
    (tmp_path / "Pulumi.yaml").write_text(yaml.safe_dump({"name": "p", "runtime": "python", "config": declarations}))
    (tmp_path / "Pulumi.s.yaml").write_text(yaml.safe_dump({"config": stack_config_values}))
    return tmp_path


def test_typed_secret_key_must_be_secure_like_the_cli(tmp_path: Path) -> None:
    declarations = {"token": {"type": "string", "secret": True}}
    plain = _project_with(tmp_path, declarations, {"p:token": "visible"})
    with pytest.raises(StackConfigError) as refused:
        load_stack_config(plain, "s")
    assert str(refused.value) == "Stack 's' with configuration key 'token' must be encrypted as it's secret"
    secure = _project_with(tmp_path, declarations, {"p:token": {"secure": "v1:abc"}})
    assert "p:token" in load_stack_config(secure, "s").secret_keys


def test_an_untyped_secret_key_with_a_default_may_stay_unset(tmp_path: Path) -> None:
    """Why registryPassword and dbOwnerPassword are untyped: a typed secret key must be set in every stack."""
    project = _project_with(tmp_path, {"token": {"secret": True, "default": ""}}, {})
    assert load_stack_config(project, "s").values["p:token"] == ""


def test_undeclared_key_is_refused_by_name() -> None:
    with pytest.raises(pulumi.RunError) as refused:
        run_program(PROJECT_DIR, stack_config("railiance01", "stgae=restore"))
    message = str(refused.value)
    assert "state-hub-infra:stgae is not a key this program reads" in message
    assert "pulumi config rm state-hub-infra:stgae" in message


def test_other_namespaces_are_not_ours_to_refuse() -> None:
    run_program(PROJECT_DIR, stack_config("railiance01", "kubernetes:context=elsewhere"))


@pytest.mark.parametrize("key", ["registryPassword", "dbOwnerPassword"])
def test_secret_key_in_plain_text_is_refused_without_showing_it(key: str) -> None:
    with pytest.raises(pulumi.RunError) as refused:
        run_program(PROJECT_DIR, stack_config("railiance01", f"{key}=hunter2-visible"))
    message = str(refused.value)
    assert f"pulumi config set --secret state-hub-infra:{key}" in message
    assert "hunter2" not in message


def test_every_key_the_settings_loader_reads_is_declared() -> None:
    read: set[str] = set()
    config = stack_config("railiance01")

    def get(key: str) -> str | None:
        read.add(key)
        return config.values.get(f"state-hub-infra:{key}")

    def get_secret(key: str) -> None:
        read.add(key)

    load_settings(get, get_secret)
    assert read <= set(read_project_file(PROJECT_DIR).declarations)


@pytest.mark.parametrize("stack", COMMITTED_STACKS)
def test_committed_stacks_never_claim_an_api_only_cluster(stack: str) -> None:
    """apiOnlyCluster skips readiness awaits: on a real cluster that would hide a failed rollout."""
    values = yaml.safe_load((PROJECT_DIR / f"Pulumi.{stack}.yaml").read_text())["config"]
    assert "state-hub-infra:apiOnlyCluster" not in values


def test_a_copy_of_the_project_is_read_like_the_original(tmp_path: Path) -> None:
    for name in ("Pulumi.yaml", "Pulumi.railiance01.yaml"):
        shutil.copyfile(PROJECT_DIR / name, tmp_path / name)
    assert load_stack_config(tmp_path, "railiance01").values == load_stack_config(PROJECT_DIR, "railiance01").values


@pytest.mark.parametrize(
    ("override", "says"),
    [
        ("stage=!!binary aGVsbG8=", "YAML tags are not config values"),
        ("stage=!!python/object:os.system x", "YAML tags are not config values"),
        ("stage=[unclosed", "the value is not YAML"),
        ("stage=2026-01-01", "a date is not a config value"),
        ("stage", "is not KEY=VALUE"),
    ],
)
def test_render_refuses_a_bad_set_in_one_line(override: str, says: str, tmp_path: Path) -> None:
    result = run_script("render.py", "--stack", "railiance01", "--out", str(tmp_path / "out"), "--set", override)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0], result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("stack", COMMITTED_STACKS)
def test_committed_stacks_disable_the_default_kubernetes_provider(stack: str) -> None:
    values = yaml.safe_load((PROJECT_DIR / f"Pulumi.{stack}.yaml").read_text())["config"]
    assert values["pulumi:disable-default-providers"] == ["kubernetes"]


def test_an_array_key_is_hinted_the_way_pulumi_config_set_writes_an_array() -> None:
    """A JSON text given to `pulumi config set` is a string, which the CLI's type check refuses."""
    with pytest.raises(pulumi.RunError) as refused:
        run_program(
            PROJECT_DIR,
            stack_config(
                "railiance01",
                "exposure=private-ingress",
                "hostname=h.internal",
                "ingressClassName=traefik-private",
                "ingressAllowCidrs=['8.8.8.0/24']",
            ),
        )
    assert "pulumi config set --path 'state-hub-infra:ingressAllowCidrs[0]' 100.64.0.0/10" in str(refused.value)
