"""Every refusal path of the settings loader names the key, the bad value and a good example.

Missing keys and values of the wrong declared type are refused earlier, by the CLI's own rules
(tests/program/test_config_rules.py).
"""

from __future__ import annotations

import pytest

from statehub.policy.refusal import SettingsError
from statehub.policy.settings import Endpoint, Exposure, Stage, load_settings
from tests.program.conftest import PRIVATE_INGRESS, stack_config


def settings_of(stack: str, *overrides: str):  # type: ignore[no-untyped-def]
    config = stack_config(stack, *overrides)
    return load_settings(lambda key: config.values.get(f"state-hub-infra:{key}"), lambda key: None)


def test_committed_stacks_load() -> None:
    dev = settings_of("dev")
    prod = settings_of("railiance01")
    assert dev.kube.create_namespaces
    assert not prod.kube.create_namespaces
    assert prod.namespaces.database == "databases"
    assert prod.namespaces.app == "railiance-apps"
    assert prod.database.postgres_major == 17
    assert prod.database.parameters == (("max_connections", "100"), ("shared_buffers", "256MB"))
    assert prod.endpoint is Endpoint.WSL2
    assert prod.stage is Stage.EMPTY
    assert prod.exposure.model is Exposure.CLUSTER_INTERNAL


@pytest.mark.parametrize(
    ("override", "key", "shown", "problem"),
    [
        ("stage=prod", "stage", "'prod'", "one of image, empty, restore"),
        ("endpoint=both", "endpoint", "'both'", "one of wsl2, cluster"),
        ("dbNamespace=Data_Bases", "dbNamespace", "'Data_Bases'", "DNS label"),
        ("dbInstances=0", "dbInstances", "'0'", "between 1 and 5"),
        ("appReplicas=-1", "appReplicas", "'-1'", "between 0 and 10"),
        ("dbStorageSize=lots", "dbStorageSize", "'lots'", "Kubernetes quantity"),
        ("appMemoryLimit=1 GB", "appMemoryLimit", "'1 GB'", "Kubernetes quantity"),
        ("dbImageName=", "dbImageName", "unset", "needed"),
        ("dbImageName=postgres:latest", "dbImageName", "'postgres:latest'", "starts with the PostgreSQL major"),
        (
            "dbImageName=postgres:12.4@sha256:" + "a" * 64,
            "dbImageName",
            "'postgres:12.4@sha256:" + "a" * 64 + "'",
            "13 and later",
        ),
        ("dbParameters=[1, 2]", "dbParameters", "'[1, 2]'", "object of scalar values"),
        ("image=Not An Image", "image", "'Not An Image'", "not an image reference"),
        ("appLogLevel=loud", "appLogLevel", "'loud'", "one of info"),
        ("exposure=", "exposure", "unset", "stage empty and later"),
        ("exposure=LoadBalancer", "exposure", "'LoadBalancer'", "refused: a LoadBalancer"),
        ("exposure=nodeport", "exposure", "'nodeport'", "refused: a NodePort"),
        ("exposure=public-ingress", "exposure", "'public-ingress'", "refused: a public Ingress"),
        ("exposure=tunnel", "exposure", "'tunnel'", "one of cluster-internal, private-ingress"),
        ("wsl2Address=workstation", "wsl2Address", "'workstation'", "not an IP address"),
        ("wsl2Address=127.0.0.1", "wsl2Address", "'127.0.0.1'", "loopback"),
        ("wsl2Address=192.0.2.10", "wsl2Address", "'192.0.2.10'", "documentation (TEST-NET) address"),
        ("wsl2Address=203.0.113.7", "wsl2Address", "'203.0.113.7'", "a placeholder"),
        ("wsl2Address=2001:db8::5", "wsl2Address", "'2001:db8::5'", "documentation (TEST-NET) address"),
        ("wsl2Address=169.254.1.1", "wsl2Address", "'169.254.1.1'", "link-local"),
        ("wsl2Address=224.0.0.5", "wsl2Address", "'224.0.0.5'", "multicast"),
        ("wsl2Address=10.42.3.9", "wsl2Address", "'10.42.3.9'", "clusterPodCidr 10.42.0.0/16"),
        ("wsl2Address=10.43.0.10", "wsl2Address", "'10.43.0.10'", "clusterServiceCidr 10.43.0.0/16"),
        ("wsl2Address=", "wsl2Address", "unset", "routes to the WSL2 fallback"),
        ("evidenceMaxAgeHours=0", "evidenceMaxAgeHours", "'0'", "between 1 and 336"),
        (
            'approval={"by": "alice", "at": "2026-11-27T10:00:00Z", "reference": "https://tracker.example/1", "freezeReportSha256": "abc", "finalCompareReportSha256": "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"}',
            "approval.freezeReportSha256",
            "'abc'",
            "not a sha256",
        ),
        (
            'approval={"by": "alice", "at": "2026-11-27T10:00:00", "reference": "https://tracker.example/1", "freezeReportSha256": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "finalCompareReportSha256": "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"}',
            "approval.at",
            "'2026-11-27T10:00:00'",
            "time zone",
        ),
        (
            'approval={"by": "alice", "at": "yesterday", "reference": "https://tracker.example/1", "freezeReportSha256": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "finalCompareReportSha256": "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"}',
            "approval.at",
            "'yesterday'",
            "ISO 8601",
        ),
        (
            'approval={"at": "2026-11-27T10:00:00Z", "reference": "https://tracker.example/1", "freezeReportSha256": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "finalCompareReportSha256": "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"}',
            "approval.by",
            "unset",
            "records by",
        ),
        (
            'fallbackRetirement={"by": "bob", "at": "2026-11-27T10:00:00Z"}',
            "fallbackRetirement.reference",
            "unset",
            "records reference",
        ),
    ],
)
def test_each_bad_value_is_refused_by_name(override: str, key: str, shown: str, problem: str) -> None:
    with pytest.raises(SettingsError) as refused:
        settings_of("railiance01", override)
    message = str(refused.value)
    assert refused.value.key == key
    assert f"state-hub-infra:{key} is {shown}" in message
    assert problem in message
    path_flag = "--path " if "." in key else ""
    assert f"pulumi config set {path_flag}state-hub-infra:{key} " in message


TWO_CIDRS = "ingressAllowCidrs=['100.64.0.0/10', '192.168.1.0/24']"


def test_private_ingress_needs_its_decisions() -> None:
    settings = settings_of("railiance01", *PRIVATE_INGRESS, TWO_CIDRS)
    assert settings.exposure.allow_cidrs == ("100.64.0.0/10", "192.168.1.0/24")
    for missing in ("hostname=", "ingressClassName=", "ingressAllowCidrs="):
        key = missing.rstrip("=")
        with pytest.raises(SettingsError, match=f"state-hub-infra:{key} is unset: .*private-ingress"):
            settings_of("railiance01", *PRIVATE_INGRESS, missing)


@pytest.mark.parametrize("cidr", ["0.0.0.0/0", "8.8.8.0/24", "::/0", "not-a-cidr"])
def test_public_allow_list_is_refused(cidr: str) -> None:
    with pytest.raises(SettingsError) as refused:
        settings_of("railiance01", *PRIVATE_INGRESS, f"ingressAllowCidrs=['{cidr}']")
    assert refused.value.key == "ingressAllowCidrs"
    assert repr(cidr) in str(refused.value)


def test_exposure_is_not_needed_before_deploying() -> None:
    settings = settings_of("railiance01", "stage=image", "exposure=")
    assert settings.exposure.model is Exposure.CLUSTER_INTERNAL
