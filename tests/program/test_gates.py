"""The gate matrix, through the real __main__.py under mocks: each stage accepted with valid
evidence, each kind of bad evidence refused with its own message, and the endpoint toggle."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pulumi
import pytest

from statehub.offline.manifests import kubernetes_manifests
from statehub.offline.offline_program import ProgramRun
from statehub.policy.evidence_settings import REGISTRY_CHECK_EXCEPTION_KEY
from statehub.rehearsal.gate_runs import STAND_IN_DECISIONS
from tests.program.conftest import BACKUP_DECIDED, PRIVATE_INGRESS, Render, by_kind, crd_validator, manifest, one
from tests.program.evidence_set import (
    DRILLED_FINGERPRINT,
    FROZEN_FINGERPRINT,
    FROZEN_STATE,
    THROWAWAY,
    WORKSTATION,
    EvidenceSet,
    sha256_of,
)

STAGES_WITH_EVIDENCE = ["restore", "verify", "cutover", "stabilise"]
NEEDED = {
    "restore": ["drillReport"],
    "verify": ["drillReport", "restoreCompareReport"],
    "cutover": ["drillReport", "restoreCompareReport", "freezeReport", "finalCompareReport"],
}


def kinds(run: ProgramRun) -> list[tuple[str, str]]:
    return sorted((m["kind"], m["metadata"]["name"]) for m in kubernetes_manifests(run))


def refused(render: Render, *overrides: str) -> str:
    with pytest.raises(pulumi.RunError) as error:
        render("railiance01", *overrides)
    return str(error.value)


@pytest.mark.parametrize("stage", STAGES_WITH_EVIDENCE)
def test_each_stage_is_accepted_with_valid_evidence(render: Render, evidence: EvidenceSet, stage: str) -> None:
    endpoint = "cluster" if stage in ("cutover", "stabilise") else "wsl2"
    approve = stage in ("cutover", "stabilise")
    files = evidence.standard()
    decided = BACKUP_DECIDED if stage == "stabilise" else ()
    run = render(
        "railiance01", f"stage={stage}", f"endpoint={endpoint}", *evidence.overrides(files, approve=approve), *decided
    )
    assert run.outputs["stage"] == stage
    assert run.outputs["endpoint"] == endpoint
    cluster = next(r for r in run.resources if r.type == "kubernetes:postgresql.cnpg.io/v1:Cluster")
    assert cluster.protect is (stage in ("cutover", "stabilise"))


def test_restore_scales_the_app_to_zero_and_says_how_to_reach_the_database(
    render: Render, evidence: EvidenceSet
) -> None:
    files = evidence.standard()
    run = render("railiance01", "stage=restore", f"drillReport={files['drillReport']}")
    deployment = manifest(run, "Deployment", "state-hub")
    assert deployment["spec"]["replicas"] == 0
    target = run.outputs["restoreTarget"]
    assert target["service"] == "state-hub-db-rw"
    assert target["namespace"] == "databases"
    assert target["secret"] == "state-hub-db-owner"
    assert "password" not in " ".join(v for k, v in target.items() if k != "2-password").lower()
    verify = render("railiance01", "stage=verify", *evidence.overrides(files, approve=False)[:2])
    assert manifest(verify, "Deployment", "state-hub")["spec"]["replicas"] == 1
    assert "restoreTarget" not in verify.outputs


def test_no_migration_runs_into_a_database_being_filled(render: Render, evidence: EvidenceSet) -> None:
    """Restore and the final copy have no migration Job (a new image would run its migrations into the copy
    being made); it comes back with the app, so the image's migrations run on the copied data first."""
    files = evidence.standard()
    restore = render("railiance01", "stage=restore", f"drillReport={files['drillReport']}")
    verify_overrides = evidence.overrides(files, approve=False)[:2]
    held = render("railiance01", "stage=verify", "finalCopy=true", *verify_overrides)
    for run in (restore, held):
        assert by_kind(run, "Job") == []
        assert manifest(run, "Deployment", "state-hub")["spec"]["replicas"] == 0
    verify = render("railiance01", "stage=verify", *verify_overrides)
    (job,) = by_kind(verify, "Job")
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == ["alembic", "upgrade", "head"]
    assert verify.named("state-hub-migrate").urn in verify.named("state-hub-api").dependencies


def test_protect_starts_at_cutover(render: Render, evidence: EvidenceSet) -> None:
    files = evidence.standard()

    def cluster_protected(*overrides: str) -> bool:
        run = render("railiance01", *overrides)
        return next(r for r in run.resources if r.type.endswith(":Cluster")).protect

    assert not cluster_protected("stage=empty")
    assert not cluster_protected("stage=verify", *evidence.overrides(files, approve=False))
    assert cluster_protected("stage=cutover", *evidence.overrides(files))
    # moving back after cutover (endpoint wsl2) keeps the Cluster protected
    assert cluster_protected("stage=verify", *evidence.overrides(files))


@pytest.mark.parametrize("stage", ["restore", "verify", "cutover"])
def test_missing_evidence_names_the_key_and_the_command(render: Render, evidence: EvidenceSet, stage: str) -> None:
    files = evidence.standard()
    for missing in NEEDED[stage]:
        given = {k: v for k, v in files.items() if k in NEEDED[stage] and k != missing}
        endpoint = "endpoint=cluster" if stage == "cutover" else "endpoint=wsl2"
        message = refused(render, f"stage={stage}", endpoint, *evidence.overrides(given, approve=False))
        assert f"state-hub-infra:{missing} is unset" in message
        assert "Run: uv run scripts/" in message


def spoil_cases(evidence: EvidenceSet) -> dict[str, tuple[str, dict[str, Path], str]]:
    """case -> (stage, files, expected message) for one spoiled report each."""
    good = evidence.standard()
    cases: dict[str, tuple[str, dict[str, Path], str]] = {}
    failing = evidence.drill(
        "drill-fail",
        age=timedelta(hours=1),
        result="fail",
        differences=[{"kind": "row-count", "where": "public.tasks"}],
    )
    cases["failing"] = ("restore", {"drillReport": failing}, "says fail: row-count difference in public.tasks")
    stale = evidence.drill("drill-stale", age=timedelta(hours=30))
    cases["stale"] = (
        "restore",
        {"drillReport": stale},
        r"is 30\.0 h old, older than state-hub-infra:evidenceMaxAgeHours \(24 h\)",
    )
    future = evidence.drill("drill-future", age=timedelta(hours=-2))
    cases["future"] = ("restore", {"drillReport": future}, "in the future")
    cases["wrong-kind"] = (
        "restore",
        {"drillReport": good["freezeReport"]},
        "is a 'freeze' report; drillReport must be a 'drill' report",
    )
    garbage = evidence.directory / "garbage.json"
    garbage.write_text("{not json")
    cases["not-json"] = ("restore", {"drillReport": garbage}, "is not an evidence report")
    newer = evidence.drill("drill-v2", age=timedelta(hours=1))
    newer.write_text(newer.read_text().replace('"schema_version": 1', '"schema_version": 2'))
    cases["schema-version"] = ("restore", {"drillReport": newer}, "has schema_version 2; this program reads 1")
    cases["missing-file"] = ("restore", {"drillReport": evidence.directory / "nope.json"}, "cannot be read")
    other = evidence.compare("final-other", age=timedelta(minutes=40), source="0" * 64)
    cases["inconsistent"] = (
        "cutover",
        {**good, "finalCompareReport": other},
        "inconsistent evidence: the final compare's source fingerprint",
    )
    early = evidence.compare("final-early", age=timedelta(hours=2), source=FROZEN_FINGERPRINT)
    cases["before-freeze"] = ("cutover", {**good, "finalCompareReport": early}, "was taken before the freeze")
    unproven = evidence.freeze("freeze-unproven", age=timedelta(hours=1), proof={"write_attempt": None})
    cases["unproven-freeze"] = (
        "cutover",
        {**good, "freezeReport": unproven},
        "has no proof that the application cannot write",
    )
    lying_compare = evidence.compare(
        "final-lists-differences",
        age=timedelta(minutes=40),
        source=FROZEN_FINGERPRINT,
        differences=[{"kind": "content", "where": "public.tasks"}],
    )
    cases["pass-with-differences"] = ("cutover", {**good, "finalCompareReport": lying_compare}, "lists 1 differences")
    unequal = evidence.compare("final-unequal", age=timedelta(minutes=40), source=FROZEN_FINGERPRINT, target="1" * 64)
    cases["pass-with-unequal-fingerprints"] = (
        "cutover",
        {**good, "finalCompareReport": unequal},
        "its source and target fingerprints differ",
    )
    drill_lies = evidence.drill("drill-compare-failed", age=timedelta(hours=1), compare={"result": "fail"})
    cases["drill-whose-compare-failed"] = ("restore", {"drillReport": drill_lies}, "its restore compare did not pass")
    forged = evidence.freeze("freeze-forged", age=timedelta(hours=1), fingerprint_sha256=FROZEN_FINGERPRINT[::-1])
    cases["freeze-digest-forged"] = (
        "cutover",
        {**good, "freezeReport": forged},
        "its fingerprint_sha256 is not the digest of its fingerprint",
    )
    throwaway = evidence.compare(
        "drill-own-compare", age=timedelta(hours=1), source=DRILLED_FINGERPRINT, target_role="throwaway"
    )
    cases["drill-compare-as-restore-compare"] = (
        "verify",
        {**good, "restoreCompareReport": throwaway},
        "compares a throwaway database, not state-hub-db",
    )
    elsewhere = evidence.compare("restore-of-another-dump", age=timedelta(hours=1), source="9" * 64)
    cases["restore-of-another-dump"] = (
        "verify",
        {**good, "restoreCompareReport": elsewhere},
        "is not a restore of the drilled dump",
    )
    other_server = {"system_identifier": "7999999999999999999", "database": "state_hub"}
    restored_into_wsl2 = evidence.compare(
        "restore-into-wsl2", age=timedelta(hours=1), source=DRILLED_FINGERPRINT, target_database=WORKSTATION
    )
    cases["restore-compare-of-the-workstation"] = (
        "verify",
        {**good, "restoreCompareReport": restored_into_wsl2},
        "which is the drilled WSL2 database, not state-hub-db",
    )
    restored_into_throwaway = evidence.compare(
        "restore-into-throwaway", age=timedelta(hours=1), source=DRILLED_FINGERPRINT, target_database=THROWAWAY
    )
    cases["restore-compare-of-the-throwaway-claiming-cluster"] = (
        "verify",
        {**good, "restoreCompareReport": restored_into_throwaway},
        "which is the drill's throwaway restore, not state-hub-db",
    )
    anonymous = evidence.compare(
        "restore-anonymous", age=timedelta(hours=1), source=DRILLED_FINGERPRINT, target_database=None
    )
    cases["report-without-identity"] = (
        "verify",
        {**good, "restoreCompareReport": anonymous},
        "does not say which database it is about",
    )
    frozen_elsewhere = evidence.freeze(
        "freeze-elsewhere", age=timedelta(hours=1), fingerprint={**FROZEN_STATE, **other_server}
    )
    cases["freeze-of-another-database"] = (
        "cutover",
        {**good, "freezeReport": frozen_elsewhere},
        r"freezeReport .* is about database 'state_hub' on server 7999999999999999999 \(fingerprint\), but the "
        "drilled WSL2 database",
    )
    other_db = {**WORKSTATION, "database": "state_hub_copy"}
    final_of_a_copy = evidence.compare(
        "final-of-a-copy", age=timedelta(minutes=40), source=FROZEN_FINGERPRINT, source_database=other_db
    )
    cases["final-compare-of-another-source"] = (
        "cutover",
        {**good, "finalCompareReport": final_of_a_copy},
        r"is about database 'state_hub_copy' .* \(source_database\), but the drilled WSL2 database",
    )
    final_into_elsewhere = evidence.compare(
        "final-into-elsewhere", age=timedelta(minutes=40), source=FROZEN_FINGERPRINT, target_database=other_server
    )
    cases["final-compare-of-another-target"] = (
        "cutover",
        {**good, "finalCompareReport": final_into_elsewhere},
        r"\(target_database\), but state-hub-db of the restore compare is",
    )
    return cases


CASES = [
    "schema-version",
    "failing",
    "stale",
    "future",
    "wrong-kind",
    "not-json",
    "missing-file",
    "inconsistent",
    "before-freeze",
    "unproven-freeze",
    "pass-with-differences",
    "pass-with-unequal-fingerprints",
    "drill-whose-compare-failed",
    "freeze-digest-forged",
    "drill-compare-as-restore-compare",
    "restore-of-another-dump",
    "restore-compare-of-the-workstation",
    "restore-compare-of-the-throwaway-claiming-cluster",
    "report-without-identity",
    "freeze-of-another-database",
    "final-compare-of-another-source",
    "final-compare-of-another-target",
]


@pytest.mark.parametrize("case", CASES)
def test_spoiled_evidence_is_refused_with_its_own_message(render: Render, evidence: EvidenceSet, case: str) -> None:
    stage, files, expected = spoil_cases(evidence)[case]
    endpoint = "endpoint=cluster" if stage == "cutover" else "endpoint=wsl2"
    message = refused(render, f"stage={stage}", endpoint, *evidence.overrides(files, approve=stage == "cutover"))
    assert re.search(expected, message), message


def test_tampered_evidence_is_refused(render: Render, evidence: EvidenceSet) -> None:
    files = evidence.standard()
    approval = evidence.approval(files)
    files["finalCompareReport"].write_text(files["finalCompareReport"].read_text().replace('"pass"', '"pass" '))
    values = [f"{k}={v}" for k, v in files.items()]
    message = refused(render, "stage=cutover", "endpoint=cluster", *values, approval)
    assert "state-hub-infra:approval.finalCompareReportSha256 is" in message
    assert "the evidence is not what the approver reviewed" in message


def test_cutover_needs_the_approval(render: Render, evidence: EvidenceSet) -> None:
    files = evidence.standard()
    message = refused(render, "stage=cutover", "endpoint=cluster", *evidence.overrides(files, approve=False))
    assert "stage cutover needs the recorded human approval" in message
    assert f"freezeReportSha256: {sha256_of(files['freezeReport'])}" in message
    future = evidence.approval(files, at=(evidence.now + timedelta(hours=1)).isoformat())
    values = [f"{k}={v}" for k, v in files.items()]
    assert "is in the future" in refused(render, "stage=cutover", "endpoint=cluster", *values, future)
    early = evidence.approval(files, at=(evidence.now - timedelta(hours=5)).isoformat())
    assert "is before the final compare it approves" in refused(
        render, "stage=cutover", "endpoint=cluster", *values, early
    )


def test_the_toggle_routes_to_wsl2_or_to_the_pods(render: Render, evidence: EvidenceSet) -> None:
    files = evidence.standard()
    wsl2 = render("railiance01", "stage=cutover", "endpoint=wsl2", *evidence.overrides(files))
    door = manifest(wsl2, "Service", "state-hub-api")
    # a selector no pod matches: the EndpointSlice controller empties its own slice (it would leave the old pods
    # in it, for kube-proxy to keep balancing over, if the selector were removed)
    assert door["spec"]["selector"] == {
        "app.kubernetes.io/name": "state-hub",
        "app.kubernetes.io/component": "wsl2-fallback",
    }
    assert door["spec"]["ports"] == [{"name": "http", "port": 8000, "targetPort": 8000, "protocol": "TCP"}]
    slice_ = manifest(wsl2, "EndpointSlice", "state-hub-api-wsl2")
    assert slice_["endpoints"] == [
        {"addresses": [STAND_IN_DECISIONS["wsl2Address"]], "conditions": {"ready": True, "serving": True}}
    ]
    assert door["metadata"]["annotations"]["traefik.ingress.kubernetes.io/service.nativelb"] == "true"
    assert slice_["ports"] == [{"name": "http", "port": 8000, "protocol": "TCP"}]
    assert slice_["metadata"]["labels"]["kubernetes.io/service-name"] == "state-hub-api"
    assert wsl2.outputs["endpoint"] == "wsl2"
    assert wsl2.outputs["apiBase"] == "http://state-hub-api.railiance-apps.svc:8000"
    # to WSL2: the selector goes before the slice is filled (never both sides at once)
    door_urn = wsl2.named("state-hub-front-door-service").urn
    assert door_urn in wsl2.named("state-hub-front-door-wsl2").dependencies

    cluster = render("railiance01", "stage=cutover", "endpoint=cluster", *evidence.overrides(files))
    door = manifest(cluster, "Service", "state-hub-api")
    assert door["spec"]["selector"] == {"app.kubernetes.io/name": "state-hub", "app.kubernetes.io/component": "api"}
    assert manifest(cluster, "EndpointSlice", "state-hub-api-wsl2")["endpoints"] == []  # emptied, not deleted
    # to the cluster: the slice is emptied before the Service selects the pods (never both sides at once)
    slice_urn = cluster.named("state-hub-front-door-wsl2").urn
    assert slice_urn in cluster.named("state-hub-front-door-service").dependencies
    assert cluster.outputs["endpoint"] == "cluster"
    assert cluster.outputs["apiBase"] == wsl2.outputs["apiBase"]


def test_private_ingress_goes_through_the_front_door(render: Render) -> None:
    run = render("railiance01", *PRIVATE_INGRESS)
    ingress = manifest(run, "Ingress", "state-hub")
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == "state-hub-api"
    assert run.outputs["apiBase"] == "http://state-hub.railiance.internal"


@pytest.mark.parametrize("stage", ["empty", "restore", "verify"])
def test_cluster_endpoint_before_cutover_is_refused(render: Render, evidence: EvidenceSet, stage: str) -> None:
    files = {k: v for k, v in evidence.standard().items() if k in NEEDED.get(stage, [])}
    message = refused(render, f"stage={stage}", "endpoint=cluster", *evidence.overrides(files, approve=False))
    assert f"endpoint cluster needs stage cutover or later (stage is {stage})" in message


def test_moving_back_after_cutover_needs_endpoint_wsl2(render: Render, evidence: EvidenceSet) -> None:
    files = evidence.standard()
    message = refused(render, "stage=verify", "endpoint=cluster", *evidence.overrides(files))
    assert "moving back to stage verify after cutover is refused while endpoint is cluster" in message
    run = render("railiance01", "stage=verify", "endpoint=wsl2", *evidence.overrides(files))
    assert run.outputs["endpoint"] == "wsl2"


def test_rollback_to_wsl2_is_allowed_with_old_evidence_and_reminds(
    render: Render, evidence: EvidenceSet, caplog: pytest.LogCaptureFixture
) -> None:
    old = EvidenceSet(evidence.directory, now=evidence.now - timedelta(days=3))
    files = old.standard()
    overrides = [*old.overrides(files)]
    assert "older than" in refused(render, "stage=cutover", "endpoint=cluster", *overrides)
    run = render("railiance01", "stage=cutover", "endpoint=wsl2", *overrides)
    assert run.outputs["endpoint"] == "wsl2"
    assert run.warnings and "bring its new rows back" in run.warnings[0]


def test_retiring_the_fallback_needs_its_own_decision(render: Render, evidence: EvidenceSet) -> None:
    files = evidence.standard()
    base = ["stage=stabilise", "endpoint=cluster", *evidence.overrides(files), *BACKUP_DECIDED]
    assert "needs its own recorded decision" in refused(render, *base, "retireFallback=true")
    decision = (
        'fallbackRetirement={"by": "bob", "at": "2026-11-20T09:00:00Z", "reference": "https://tracker.example/retire"}'
    )
    retire = [*base, "retireFallback=true", decision]
    assert "needs a passing status report of the cluster" in refused(render, *retire)
    for spoiled, expected in (
        ({"last_backup": None}, "shows no a completed backup"),
        ({"recovery_window": None}, "shows no a recovery window"),
        ({"problems": ["last backup: stale"]}, "says pass but it lists problems"),
    ):
        status = evidence.status("status-spoiled", age=timedelta(hours=1), **spoiled)
        assert expected in refused(render, *retire, f"statusReport={status}")
    stale = evidence.status("status-stale", age=timedelta(hours=30))
    assert "older than state-hub-infra:evidenceMaxAgeHours" in refused(render, *retire, f"statusReport={stale}")
    healthy = evidence.status("status", age=timedelta(hours=1))
    run = render("railiance01", *retire, f"statusReport={healthy}")
    assert manifest(run, "EndpointSlice", "state-hub-api-wsl2")["endpoints"] == []
    assert "only stage stabilise may retire it" in refused(
        render, "stage=cutover", "endpoint=cluster", *evidence.overrides(files), "retireFallback=true", decision
    )
    assert "would leave clients nowhere" in refused(
        render,
        "stage=stabilise",
        "endpoint=wsl2",
        *evidence.overrides(files),
        *BACKUP_DECIDED,
        "retireFallback=true",
        decision,
    )


def test_gates_and_settings_import_no_pulumi() -> None:
    """Gates are pure: importing them (with settings and evidence) must not pull in the Pulumi SDK."""
    code = "import sys, statehub.policy.gates, statehub.policy.settings, statehub.policy.evidence; print('pulumi' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False", done.stderr


def test_stage_empty_needs_the_database_locale_decided(render: Render) -> None:
    """cnpg fixes the locale at initdb (stage empty) and defaults to C: an undecided dbLocale is refused by
    name, with where the answer comes from, and a value that is no locale name is refused too."""
    with pytest.raises(pulumi.RunError, match=r"state-hub-infra:dbLocale is unset: .*source_locale"):
        render("railiance01", "dbLocale=")
    with pytest.raises(pulumi.RunError, match=r"dbLocale is 'en_US.utf8; DROP': it is not a locale name"):
        render("railiance01", "dbLocale=en_US.utf8; DROP")
    render("railiance01", "stage=image", "dbLocale=")  # pinning the image needs no database yet


def test_restore_refuses_a_locale_other_than_the_drilled_databases(render: Render, evidence: EvidenceSet) -> None:
    drill = evidence.drill(
        "drill-c", age=timedelta(hours=1), source_locale="encoding=UTF8 collate=C ctype=C provider=c"
    )
    with pytest.raises(pulumi.RunError, match=r"dbLocale is 'en_US.utf8', but the drilled WSL2 database was made with"):
        render("railiance01", "stage=restore", f"drillReport={drill}")


def test_restore_refuses_a_drill_with_extensions_cnpg_would_not_create(render: Render, evidence: EvidenceSet) -> None:
    """The restore runs as the owner (no superuser): the drilled database's extensions must be listed, so that
    cnpg creates them first; listed, the Database resource asks cnpg for exactly those."""
    drill = evidence.drill("drill-ext", age=timedelta(hours=1), source_extensions=["pg_trgm", "uuid-ossp"])
    with pytest.raises(pulumi.RunError, match=r"extension\(s\) uuid-ossp, which state-hub-infra:dbExtensions does"):
        render("railiance01", "stage=restore", f"drillReport={drill}", 'dbExtensions=["pg_trgm"]')
    run = render("railiance01", "stage=restore", f"drillReport={drill}", 'dbExtensions=["pg_trgm", "uuid-ossp"]')
    database = one(run, "Database")
    assert database["spec"]["extensions"] == [
        {"name": "pg_trgm", "ensure": "present"},
        {"name": "uuid-ossp", "ensure": "present"},
    ]
    assert database["spec"]["databaseReclaimPolicy"] == "retain" and database["spec"]["name"] == "state_hub"
    crd_validator("postgresql.cnpg.io_databases.yaml").validate(database)
    assert by_kind(render("railiance01"), "Database") == []  # none asked: none rendered
    with pytest.raises(pulumi.RunError, match=r"dbExtensions is 'plpgsql': plpgsql is always there"):
        render("railiance01", 'dbExtensions=["plpgsql"]')
    with pytest.raises(pulumi.RunError, match=r"it is not an extension name"):
        render("railiance01", 'dbExtensions=["pg_trgm; DROP"]')


def test_stage_empty_needs_both_digests_in_their_registries(render: Render, evidence: EvidenceSet) -> None:
    """A digest never pushed would be an ImagePullBackOff at the first up: registry_check.py's reports about exactly
    the configured images, or a recorded exception that says why not (the stand-ins carry one)."""
    unwaived = f"{REGISTRY_CHECK_EXCEPTION_KEY}="
    with pytest.raises(pulumi.RunError, match=r"stage empty needs a passing registry check of the app image"):
        render("railiance01", unwaived)
    image, db_image = STAND_IN_DECISIONS["image"], manifest_db_image(render)
    found = evidence.write("registry-image", "registry-check", age=timedelta(days=3), image=image)
    other = evidence.write("registry-other", "registry-check", age=timedelta(hours=1), image=db_image)
    with pytest.raises(pulumi.RunError, match=r"dbImageRegistryReport .* checked .*, not .*: a registry check proves"):
        render("railiance01", unwaived, f"imageRegistryReport={found}", f"dbImageRegistryReport={found}")
    failed = evidence.write("registry-failed", "registry-check", age=timedelta(hours=1), result="fail", image=db_image)
    with pytest.raises(pulumi.RunError, match=r"dbImageRegistryReport .* says fail"):
        render("railiance01", unwaived, f"imageRegistryReport={found}", f"dbImageRegistryReport={failed}")
    run = render("railiance01", unwaived, f"imageRegistryReport={found}", f"dbImageRegistryReport={other}")
    assert not [w for w in run.warnings if "registries" in w]  # checked, not waived (and not stale: digests stay)
    waived = render("railiance01")  # the stand-ins' recorded exception, said on every run
    assert any("the images' digests are not checked in their registries" in w for w in waived.warnings)
    render("railiance01", "stage=image", unwaived)  # stage image pulls nothing yet


def manifest_db_image(render: Render) -> str:
    return str(one(render("railiance01"), "Cluster")["spec"]["imageName"])
