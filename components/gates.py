"""Gates: may the requested stage and endpoint run? Pure functions of settings, evidence and time.

Each refusal names what is missing or wrong and the exact command that fixes it. Evidence a
stage introduces must be fresh when that stage authorises something new (entering restore,
verify, or pointing clients at the cluster); evidence of an earlier stage the stack holds must
still be present, passing and consistent, but may be old. A rollback to WSL2 never waits on
fresh evidence.
"""

from __future__ import annotations

from datetime import datetime

from components.evidence import DRILL, FINAL_COMPARE, FREEZE, RESTORE_COMPARE, Evidence, Freshness, load_evidence
from components.evidence_settings import Approval
from components.image_ref import BuildSpec, ImageRef
from components.refusal import GateRefusal, SettingsError
from components.settings import Endpoint, Settings, Stage
from components.stage_plan import StagePlan, plan_stage

_PINNED_EXAMPLE = "registry.example:5000/state-hub@sha256:<64 hex digits>"

ROLLBACK_REMINDER = (
    "endpoint wsl2 after cutover: clients go back to the workstation. WSL2 is still frozen and "
    "state-hub-db holds every write made since cutover. Before unfreezing WSL2: freeze state-hub-db "
    '(uv run scripts/freeze.py --dsn "$CLUSTER_DSN" --report evidence/cluster-freeze.json), bring its '
    'new rows back (uv run scripts/sync_back.py --cluster "$CLUSTER_DSN" --wsl2 "$WSL2_DSN" '
    "--report evidence/sync-back.json), then unfreeze WSL2 "
    '(uv run scripts/freeze.py --unfreeze --dsn "$WSL2_DSN" --report evidence/unfreeze.json).'
)


def check_stage(settings: Settings, now: datetime) -> StagePlan:
    """Refuse a stage whose preconditions do not hold; otherwise return what it builds."""
    stage = settings.stage
    if stage is Stage.IMAGE:
        _check_endpoint(settings)
        return plan_stage(settings, settings.app.image or _build_spec(settings), notices=())
    image = _pinned_image(settings)
    _check_endpoint(settings)
    _check_fallback_retirement(settings)
    _check_evidence(settings, now)
    notices: tuple[str, ...] = ()
    cutover_recorded = stage.reaches(Stage.CUTOVER) or settings.evidence.approval is not None
    if settings.endpoint is Endpoint.WSL2 and cutover_recorded:
        notices = (ROLLBACK_REMINDER,)
    return plan_stage(settings, image, notices=notices)


def _pinned_image(settings: Settings) -> ImageRef:
    image, stage = settings.app.image, settings.stage
    if image is None:
        raise SettingsError("image", None, f"stage {stage.value} deploys the image pinned by digest", _PINNED_EXAMPLE)
    if not image.pinned:
        raise SettingsError(
            "image",
            str(image),
            f"stage {stage.value} refuses an image that is not pinned by digest (a tag can move); "
            "run stage image and copy its imageRef export",
            _PINNED_EXAMPLE,
        )
    return image


def _check_endpoint(settings: Settings) -> None:
    stage = settings.stage
    if settings.endpoint is not Endpoint.CLUSTER or stage.reaches(Stage.CUTOVER):
        return
    if settings.evidence.approval is not None:
        raise GateRefusal(
            f"moving back to stage {stage.value} after cutover is refused while endpoint is cluster: "
            "roll back first with: pulumi config set state-hub-infra:endpoint wsl2"
        )
    raise GateRefusal(
        f"endpoint cluster needs stage cutover or later (stage is {stage.value}): the cluster may take "
        "writes only after the recorded approval. Keep: pulumi config set state-hub-infra:endpoint wsl2"
    )


def _check_fallback_retirement(settings: Settings) -> None:
    if not settings.front_door.retire_fallback:
        return
    if settings.stage is not Stage.STABILISE:
        raise GateRefusal(
            f"retiring the WSL2 fallback is refused at stage {settings.stage.value}: only stage stabilise may "
            "retire it. Set: pulumi config set state-hub-infra:retireFallback false"
        )
    if settings.evidence.fallback_retirement is None:
        raise GateRefusal(
            "retiring the WSL2 fallback needs its own recorded decision: set the object "
            "state-hub-infra:fallbackRetirement (by, at, reference) in the stack file, or "
            "pulumi config set state-hub-infra:retireFallback false"
        )
    if settings.endpoint is not Endpoint.CLUSTER:
        raise GateRefusal(
            "retiring the WSL2 fallback while endpoint is wsl2 would leave clients nowhere: "
            "pulumi config set state-hub-infra:endpoint cluster first"
        )


def _check_evidence(settings: Settings, now: datetime) -> None:
    stage, evidence = settings.stage, settings.evidence

    def freshness(own_stage: Stage) -> Freshness | None:
        return Freshness(now, evidence.max_age) if stage is own_stage else None

    if stage.reaches(Stage.RESTORE):
        drill = load_evidence(DRILL, evidence.drill_report, stage.value, freshness(Stage.RESTORE))
    if stage.reaches(Stage.VERIFY):
        restored = load_evidence(RESTORE_COMPARE, evidence.restore_compare_report, stage.value, freshness(Stage.VERIFY))
        _check_restore_of_the_drilled_dump(drill, restored)
    if stage.reaches(Stage.CUTOVER):
        cutover_freshness = freshness(Stage.CUTOVER) if settings.endpoint is Endpoint.CLUSTER else None
        freeze = load_evidence(FREEZE, evidence.freeze_report, stage.value, cutover_freshness)
        final = load_evidence(FINAL_COMPARE, evidence.final_compare_report, stage.value, cutover_freshness)
        _check_freeze_proof(freeze)
        _check_final_after_freeze(freeze, final)
        _check_approval(evidence.approval, freeze, final, now)


def _check_restore_of_the_drilled_dump(drill: Evidence, restored: Evidence) -> None:
    """The restore compare must be about state-hub-db, and of the very dump the drill proved."""
    named = f"state-hub-infra:{RESTORE_COMPARE.key} {str(restored.path)!r}"
    role = restored.details.get("target_role")
    if role != "cluster":
        about = f"a {role} database" if role else "a database it does not name"
        raise GateRefusal(
            f"{named} compares {about}, not state-hub-db (the drill's own throwaway restore proves nothing about "
            f"the cluster). Run: {RESTORE_COMPARE.command}"
        )
    drilled = (drill.details.get("dump") or {}).get("fingerprint_sha256")
    if restored.details.get("source_fingerprint_sha256") != drilled:
        raise GateRefusal(
            f"inconsistent evidence: {named} is not a restore of the drilled dump (its source fingerprint "
            f"{str(restored.details.get('source_fingerprint_sha256'))[:12]}…, the drill's dump "
            f"{str(drilled)[:12]}…). Restore the drill's dump: {RESTORE_COMPARE.command}"
        )


def _check_freeze_proof(freeze: Evidence) -> None:
    attempt = str((freeze.details.get("proof") or {}).get("write_attempt") or "")
    if not attempt.startswith("refused"):
        raise GateRefusal(
            f"state-hub-infra:{FREEZE.key} {str(freeze.path)!r} has no proof that the application cannot write "
            f"(write attempt: {attempt or 'not made'}). Run: {FREEZE.command}"
        )


def _check_final_after_freeze(freeze: Evidence, final: Evidence) -> None:
    if final.report.created_at < freeze.report.created_at:
        raise GateRefusal(
            f"state-hub-infra:{FINAL_COMPARE.key} {str(final.path)!r} was taken before the freeze "
            f"({final.report.created_at.isoformat()} < {freeze.report.created_at.isoformat()}): it does not "
            f"prove the frozen state. Run: {FINAL_COMPARE.command}"
        )
    frozen = str(freeze.details.get("fingerprint_sha256") or "")
    compared = str(final.details.get("source_fingerprint_sha256") or "")
    if not frozen or frozen != compared:
        raise GateRefusal(
            f"inconsistent evidence: the final compare's source fingerprint ({compared[:12] or 'none'}) is not the "
            f"frozen database's fingerprint ({frozen[:12] or 'none'}): WSL2 changed after the freeze, or the "
            f"compare read another database. Freeze again and run: {FINAL_COMPARE.command}"
        )


def _check_approval(approval: Approval | None, freeze: Evidence, final: Evidence, now: datetime) -> None:
    record = (
        "record it in the stack file as state-hub-infra:approval (by, at, reference, "
        f"freezeReportSha256: {freeze.sha256}, finalCompareReportSha256: {final.sha256})"
    )
    if approval is None:
        raise GateRefusal(f"stage cutover needs the recorded human approval: {record}")
    for name, recorded, evidence in (
        ("freezeReportSha256", approval.freeze_report_sha256, freeze),
        ("finalCompareReportSha256", approval.final_compare_report_sha256, final),
    ):
        if recorded != evidence.sha256:
            raise GateRefusal(
                f"state-hub-infra:approval.{name} is {recorded[:12]}… but {str(evidence.path)!r} has sha256 "
                f"{evidence.sha256[:12]}…: the evidence is not what the approver reviewed. Review it and {record}"
            )
    if approval.at > now:
        raise GateRefusal(f"state-hub-infra:approval.at {approval.at.isoformat()} is in the future: {record}")
    if approval.at < final.report.created_at:
        raise GateRefusal(
            f"state-hub-infra:approval.at {approval.at.isoformat()} is before the final compare it approves "
            f"({final.report.created_at.isoformat()}): {record}"
        )


def _build_spec(settings: Settings) -> BuildSpec:
    """Without a prebuilt image, stage image builds one: it needs where from and where to."""
    build = settings.build
    needed = "stage image without a prebuilt image"
    if build.registry is None:
        raise SettingsError(
            "registry", None, f"{needed} pushes to a registry (an open decision)", "registry.railiance.internal:5000"
        )
    if build.context is None:
        raise SettingsError("imageContext", None, f"{needed} builds from the State Hub checkout", "../state-hub")
    if build.revision is None:
        raise SettingsError(
            "imageRevision", None, f"{needed} tags and labels the image", "$(git -C ../state-hub rev-parse HEAD)"
        )
    return BuildSpec(build.context, build.dockerfile, build.registry, build.username, build.revision)
