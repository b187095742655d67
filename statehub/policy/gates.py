"""Gates: may the requested stage and endpoint run? Pure functions of settings, evidence and time.

Each refusal names what is missing or wrong and the exact command that fixes it. Evidence a
stage introduces must be fresh when that stage authorises something new (entering restore,
verify, or pointing clients at the cluster); evidence of an earlier stage the stack holds must
still be present, passing and consistent, but may be old. A rollback to WSL2 never waits on
fresh evidence.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from statehub.policy.api_contract import api_part_problem
from statehub.policy.config_reader import quantity_value
from statehub.policy.evidence import (
    DB_IMAGE_REGISTRY,
    DRILL,
    FINAL_COMPARE,
    FREEZE,
    IMAGE_REGISTRY,
    RESTORE_API_COMPARE_COMMAND,
    RESTORE_COMPARE,
    STATUS,
    Evidence,
    EvidenceKind,
    Freshness,
    load_evidence,
)
from statehub.policy.evidence_settings import (
    API_CHECK_EXCEPTION_KEY,
    REGISTRY_CHECK_EXCEPTION_KEY,
    Approval,
    RecordedException,
)
from statehub.policy.image_ref import BuildSpec, ImageRef, parse_image_ref
from statehub.policy.refusal import GateRefusal, SettingsError
from statehub.policy.settings import DatabaseSettings, Endpoint, Settings, Stage, TargetRole
from statehub.policy.stage_plan import StagePlan, plan_stage

_PINNED_EXAMPLE = "registry.example:5000/state-hub@sha256:<64 hex digits>"


def rollback_reminder(namespace: str) -> str:
    """What a move back to WSL2 after cutover must be followed by (the cluster holds writes WSL2 lacks)."""
    return (
        "endpoint wsl2 after cutover: clients go back to the workstation. WSL2 is still frozen and "
        "state-hub-db holds every write made since cutover. Freezing state-hub-db needs a superuser, which cnpg "
        "creates only with superuser access on: pulumi config set state-hub-infra:dbSuperuserAccess true, pulumi "
        f"up (Secret state-hub-db-superuser). Then, through kubectl -n {namespace} port-forward "
        "svc/state-hub-db-rw 15432:5432, with user postgres and that Secret's password as $CLUSTER_DSN, freeze "
        'state-hub-db (uv run scripts/freeze.py --target "$CLUSTER_DSN" --app-role state_hub --report '
        'evidence/cluster-freeze.json), bring its new rows back (uv run scripts/sync_back.py --cluster "$CLUSTER_DSN" '
        '--wsl2 "$WSL2_DSN" --report evidence/sync-back.json), unfreeze WSL2 (uv run scripts/freeze.py --unfreeze '
        '--target "$WSL2_DSN" --report evidence/unfreeze.json), and set dbSuperuserAccess back to false.'
    )


def check_stage(settings: Settings, now: datetime) -> StagePlan:
    """Refuse a stage whose preconditions do not hold; otherwise return what it builds.

    Stage image must also pass `check_not_deployed` with the stack's last outputs.
    """
    stage = settings.stage
    if stage is Stage.IMAGE:
        _check_endpoint(settings)
        build = _build_spec(settings) if settings.app.image is None or settings.build.context else None
        return plan_stage(settings, settings.app.image, build, notices=())
    image = _pinned_image(settings)
    build = _build_spec(settings) if settings.build.context else None
    _check_final_copy_hold(settings)
    _check_endpoint(settings)
    _check_client_path(settings)
    _check_fallback_retirement(settings, now)
    _check_evidence(settings, now)
    _check_registries(settings)
    _check_room_for_drill(settings, now)
    notices: tuple[str, ...] = ()
    cutover_recorded = stage.reaches(Stage.CUTOVER) or settings.evidence.approval is not None
    if settings.endpoint is Endpoint.WSL2 and cutover_recorded:
        notices = (rollback_reminder(settings.namespaces.database),)
    waived = settings.evidence.api_check_exception
    if waived is not None and stage.reaches(Stage.VERIFY):
        notices += (_waived("the API side of the evidence is not checked", API_CHECK_EXCEPTION_KEY, waived),)
    unchecked = settings.evidence.registry_check_exception
    if unchecked is not None:
        notices += (
            _waived("the images' digests are not checked in their registries", REGISTRY_CHECK_EXCEPTION_KEY, unchecked),
        )
    return plan_stage(settings, image, build, notices=notices)


def _waived(what: str, key: str, exception: RecordedException) -> str:
    when = exception.at.isoformat()
    return f"{what}: state-hub-infra:{key} by {exception.by} at {when} ({exception.reference}): {exception.reason}"


def _check_registries(settings: Settings) -> None:
    """Stage empty pulls both images: each pinned digest must be in its registry (a digest never pushed is an
    ImagePullBackOff at the first `up`, after the namespaces and the policies are made), as registry_check.py's
    reports say, about exactly these images; or a recorded exception says why not."""
    evidence = settings.evidence
    if not settings.stage.reaches(Stage.EMPTY) or evidence.registry_check_exception is not None:
        return
    images = (
        (IMAGE_REGISTRY, evidence.image_registry_report, str(settings.app.image)),
        (DB_IMAGE_REGISTRY, evidence.db_image_registry_report, settings.database.image_name),
    )
    for kind, path, image in images:
        checked = load_evidence(kind, path, settings.stage.value, None)
        said = str(checked.details.get("image", ""))
        found, wanted = parse_image_ref(said), parse_image_ref(image)
        if found is None or wanted is None or (found.repository, found.digest) != (wanted.repository, wanted.digest):
            raise GateRefusal(
                f"state-hub-infra:{kind.key} {str(path)!r} checked {said[:120]!r}, not {image!r}: a registry check "
                f"proves the image it names. Run: {kind.command}, then: pulumi config set state-hub-infra:{kind.key} "
                "<the report file>"
            )


def _check_final_copy_hold(settings: Settings) -> None:
    """finalCopy holds the app at 0 between the reset for the final copy and its compare: only at verify (at
    cutover it would stop the State Hub the agents use)."""
    if settings.app.held_for_final_copy and settings.stage is not Stage.VERIFY:
        raise GateRefusal(
            f"state-hub-infra:finalCopy is true at stage {settings.stage.value}: it holds the app at 0 only at stage "
            "verify, while the final copy empties and refills state-hub-db. Unset it: pulumi config rm "
            "state-hub-infra:finalCopy"
        )


def check_not_deployed(last_outputs: Mapping[str, Any], deployed_output: str) -> None:
    """For stage image, which renders nothing in the cluster: after an update that deployed, `up` would
    delete it all."""
    if last_outputs.get(deployed_output) is not None:
        raise GateRefusal(
            "stage image after stage empty or later is refused: it renders nothing in the cluster, so "
            "`pulumi up` would delete the app, its Services, Secrets and NetworkPolicies. To build a new "
            "image, stay at your stage and set state-hub-infra:imageContext and imageRevision (any stage "
            "builds then; the app keeps running state-hub-infra:image until you copy the imageRef export there)"
        )


def check_storage_size(last_outputs: Mapping[str, Any], storage_output: str, database: DatabaseSettings) -> None:
    """A bigger `dbStorageSize` on a class that cannot expand a volume wedges cnpg: it waits on a resize
    that never happens, reconciles nothing else, and refuses to shrink back."""
    before = last_outputs.get(storage_output)
    if not isinstance(before, str) or database.storage_expandable:
        return
    if quantity_value(before) == quantity_value(database.storage_size):
        return
    raise GateRefusal(
        f"state-hub-infra:dbStorageSize {before} -> {database.storage_size} is refused: the class "
        f"{database.storage_class} cannot expand a bound volume (k3s local-path cannot), so cnpg would wait on "
        "the resize for ever and refuse to shrink back. Put it back: pulumi config set state-hub-infra:dbStorageSize "
        f"{before}. For more room see docs/runbook.md, 'A full disk'; on a class that expands, set "
        "state-hub-infra:dbStorageExpandable true"
    )


def check_major_upgrade(last_outputs: Mapping[str, Any], major_output: str, settings: Settings, now: datetime) -> None:
    """A new PostgreSQL major is one-way: cnpg stops the instance and runs `pg_upgrade --link` on its only
    volume, and nothing goes back. It needs its own recorded decision and a fresh status report that shows a
    completed backup (the only way back is a restore from the store)."""
    recorded, after = last_outputs.get(major_output), settings.database.postgres_major
    if not isinstance(recorded, int | float) or int(recorded) == after:  # numbers come back as floats
        return
    before = int(recorded)
    if after < before:
        raise GateRefusal(
            f"state-hub-infra:dbImageName goes from PostgreSQL {before} to {after}: no major goes back (the data "
            f"directory is {before}'s). Put back an image of major {before}"
        )
    wanted = f"{before}->{after}"
    if settings.database.major_upgrade != wanted:
        raise GateRefusal(
            f"state-hub-infra:dbImageName moves PostgreSQL {before} to {after}: cnpg upgrades the only instance in "
            "place (offline, pg_upgrade --link) and nothing goes back but a restore from the store. Record the "
            f"decision (pulumi config set state-hub-infra:dbMajorUpgrade {wanted}) and a fresh status report with "
            f"a completed backup (docs/runbook.md, 'PostgreSQL major upgrade')"
        )
    stage = f"{settings.stage.value} (a major upgrade)"
    load_evidence(STATUS, settings.evidence.status_report, stage, Freshness(now, settings.evidence.max_age))


def _check_room_for_drill(settings: Settings, now: datetime) -> None:
    """The recovery drill restores into a volume as large as the live one, on the same node: a fresh status
    report must show a node with that much free disk, or the drill fills the disk the live database writes to."""
    if settings.backup is None or not settings.backup.recovery_drill:
        return
    stage = f"{settings.stage.value} (a recovery drill)"
    status = load_evidence(STATUS, settings.evidence.status_report, stage, Freshness(now, settings.evidence.max_age))
    needed = quantity_value(settings.database.storage_size) or Decimal(0)
    disks = status.details.get("node_disks")
    listed = disks.values() if isinstance(disks, dict) else []
    free = [
        n for d in listed if isinstance(d, dict) and type(n := d.get("available_bytes")) is int
    ]  # a number of bytes, nothing else (no bool, no text)
    if not free:
        raise GateRefusal(
            f"state-hub-infra:{STATUS.key} {str(status.path)!r} has no node disk figures (a status.py from before "
            f"they were read): the recovery drill needs {settings.database.storage_size} free. Run: {STATUS.command}"
        )
    if max(free) < needed:
        raise GateRefusal(
            f"the recovery drill needs {settings.database.storage_size} of disk on the node, and the status report "
            f"shows at most {max(free) / 2**30:.1f} GiB free: the drill would fill the disk the live database writes "
            "to. Free space first (docs/runbook.md, 'A full disk'), then run status.py again"
        )


def _check_client_path(settings: Settings) -> None:
    """Clients sent to the cluster must have a way in: the workstation's MCP lives outside it."""
    if settings.endpoint is not Endpoint.CLUSTER or settings.exposure.client_path:
        return
    raise GateRefusal(
        "endpoint cluster with exposure cluster-internal and no accessNamespaces leaves the workstation's "
        "clients (the MCP at 127.0.0.1:8000) no way in. Give them one: pulumi config set "
        "state-hub-infra:clientPortForward true (a port-forward to the front door, see the clientAccess export), "
        "or set accessNamespaces, or exposure private-ingress"
    )


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


def _check_fallback_retirement(settings: Settings, now: datetime) -> None:
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
    status = load_evidence(
        STATUS,
        settings.evidence.status_report,
        "stabilise (retiring the fallback)",
        Freshness(now, settings.evidence.max_age),
    )
    for fact, what in (("last_backup", "a completed backup"), ("recovery_window", "a recovery window")):
        if not status.details.get(fact):
            raise GateRefusal(
                f"state-hub-infra:{STATUS.key} {str(status.path)!r} shows no {what}: the WSL2 fallback is the only "
                f"other copy until the store holds one. Wait for the first backup, then run: {STATUS.command}"
            )


def _check_evidence(settings: Settings, now: datetime) -> None:
    stage, evidence = settings.stage, settings.evidence

    def freshness(own_stage: Stage) -> Freshness | None:
        return Freshness(now, evidence.max_age) if stage is own_stage else None

    if stage.reaches(Stage.RESTORE):
        drill = load_evidence(DRILL, evidence.drill_report, stage.value, freshness(Stage.RESTORE))
        _check_locale(drill, settings.database.locale)
        _check_extensions(drill, settings.database.extensions)
    if stage.reaches(Stage.VERIFY):
        restored = load_evidence(RESTORE_COMPARE, evidence.restore_compare_report, stage.value, freshness(Stage.VERIFY))
        check_restore_chain(drill, restored)
        if stage is Stage.VERIFY:
            _check_api_part(restored, RESTORE_COMPARE, RESTORE_API_COMPARE_COMMAND, evidence.api_check_exception)
    if stage.reaches(Stage.CUTOVER):
        cutover_freshness = freshness(Stage.CUTOVER) if settings.endpoint is Endpoint.CLUSTER else None
        freeze = load_evidence(FREEZE, evidence.freeze_report, stage.value, cutover_freshness)
        final = load_evidence(FINAL_COMPARE, evidence.final_compare_report, stage.value, cutover_freshness)
        check_cutover_chain(drill, restored, freeze, final)
        if settings.endpoint is Endpoint.CLUSTER:
            _check_api_part(final, FINAL_COMPARE, FINAL_COMPARE.command, evidence.api_check_exception)
        _check_approval(evidence.approval, freeze, final, now)


def _check_locale(drill: Evidence, locale: str | None) -> None:
    """state-hub-db was made with dbLocale at stage empty: the restore into it fails unless that is the
    drilled WSL2 database's locale (refused before anything is copied, with what to do)."""
    drilled = str(drill.details.get("source_locale") or "")
    fields = dict(part.split("=", 1) for part in drilled.split() if "=" in part)
    if not fields or locale is None:
        return  # a drill report from before this check carries no locale
    if fields.get("collate") != locale or fields.get("ctype", locale) != locale:
        raise GateRefusal(
            f"state-hub-infra:dbLocale is {locale!r}, but the drilled WSL2 database was made with {drilled}: "
            "state-hub-db's locale is fixed at initdb, and a copy into another one fails its compare. Before any "
            "data is in state-hub-db, set dbLocale to the WSL2 database's (pulumi config set state-hub-infra:dbLocale "
            f"{fields.get('collate')}) and let the platform team recreate the empty Cluster (docs/runbook.md)"
        )


def _check_extensions(drill: Evidence, declared: tuple[str, ...]) -> None:
    """The restore runs as the owner, who can create no extension but a trusted one: every extension of the
    drilled database must be one cnpg creates first (dbExtensions), or the restore breaks half-way."""
    found = drill.details.get("source_extensions")
    drilled = [str(name) for name in found] if isinstance(found, list) else []  # none in a drill from before
    missing = [name for name in drilled if name not in declared]
    if missing:
        setting = "; ".join(
            f"pulumi config set --path 'state-hub-infra:dbExtensions[{i}]' {name}" for i, name in enumerate(drilled)
        )
        raise GateRefusal(
            f"the drilled WSL2 database uses the extension(s) {', '.join(missing)}, which "
            "state-hub-infra:dbExtensions does not list: state-hub-db's owner is no superuser, so the restore would "
            f"stop at CREATE EXTENSION. List them ({setting}), pulumi up, "
            "and check that the image ships them (the standard cnpg image has contrib)"
        )


def check_restore_chain(drill: Evidence, restored: Evidence) -> None:
    """The restore compare is of the drilled dump, into state-hub-db (not the drill's own databases)."""
    _check_restore_of_the_drilled_dump(drill, restored)
    _check_cluster_is_not_the_drilled_ones(drill, restored)


def check_cutover_chain(drill: Evidence, restored: Evidence, freeze: Evidence, final: Evidence) -> None:
    """The reports the cutover gate reads, checked as one chain (each report alone can pass while the set does
    not: a restore compare given as the final compare, a freeze of another database): the approval packet
    runs this very check."""
    check_restore_chain(drill, restored)
    _check_freeze_proof(freeze)
    _check_final_after_freeze(freeze, final)
    _check_same_databases(drill, restored, freeze, final)


def _check_api_part(compare: Evidence, kind: EvidenceKind, command: str, exception: RecordedException | None) -> None:
    """Entering verify and pointing clients at the cluster need the API side too: both State Hubs healthy,
    equal summaries, equal representative reads. Only a recorded, named exception waives it."""
    if exception is not None:
        return
    problem = api_part_problem(compare.details.get("api"))
    if problem:
        raise GateRefusal(
            f"state-hub-infra:{kind.key} {str(compare.path)!r} does not prove the API side: {problem}. Run: "
            f"{command}, or record why it cannot be checked as state-hub-infra:{API_CHECK_EXCEPTION_KEY} "
            "(by, at, reference, reason)"
        )


def _check_restore_of_the_drilled_dump(drill: Evidence, restored: Evidence) -> None:
    """The restore compare must be about state-hub-db, and of the very dump the drill proved."""
    named = f"state-hub-infra:{RESTORE_COMPARE.key} {str(restored.path)!r}"
    role = restored.details.get("target_role")
    if role != TargetRole.CLUSTER:
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


def _identity(evidence: Evidence, kind: EvidenceKind, *path: str) -> tuple[str, str]:
    """(system identifier, database name) recorded at `path` in a report, or a refusal naming the gap."""
    found: Any = evidence.details
    for part in path:
        found = found.get(part) if isinstance(found, dict) else None
    if not isinstance(found, dict) or not found.get("system_identifier") or not found.get("database"):
        raise GateRefusal(
            f"state-hub-infra:{kind.key} {str(evidence.path)!r} does not say which database it is about "
            f"({'.'.join(path)}: server system identifier and database name): take it again with this "
            f"version. Run: {kind.command}"
        )
    return str(found["system_identifier"]), str(found["database"])


def _shown(identity: tuple[str, str]) -> str:
    return f"database {identity[1]!r} on server {identity[0]}"


def _check_cluster_is_not_the_drilled_ones(drill: Evidence, restored: Evidence) -> None:
    """state-hub-db is neither the workstation's database nor the drill's throwaway copy."""
    cluster = _identity(restored, RESTORE_COMPARE, "target_database")
    for what, identity in (
        ("the drilled WSL2 database", _identity(drill, DRILL, "source_database")),
        ("the drill's throwaway restore", _identity(drill, DRILL, "compare", "target_database")),
    ):
        if identity == cluster:
            raise GateRefusal(
                f"inconsistent evidence: state-hub-infra:{RESTORE_COMPARE.key} {str(restored.path)!r} compares "
                f"{_shown(cluster)}, which is {what}, not state-hub-db. Run: {RESTORE_COMPARE.command}"
            )


def _check_same_databases(drill: Evidence, restored: Evidence, freeze: Evidence, final: Evidence) -> None:
    """One chain: the drill, the freeze and the final compare's source are the same WSL2 database; the
    restore compare and the final compare's target the same state-hub-db."""
    workstation = _identity(drill, DRILL, "source_database")
    cluster = _identity(restored, RESTORE_COMPARE, "target_database")
    for evidence, kind, path, expected, what in (
        (freeze, FREEZE, ("fingerprint",), workstation, "the drilled WSL2 database"),
        (final, FINAL_COMPARE, ("source_database",), workstation, "the drilled WSL2 database"),
        (final, FINAL_COMPARE, ("target_database",), cluster, "state-hub-db of the restore compare"),
    ):
        found = _identity(evidence, kind, *path)
        if found != expected:
            raise GateRefusal(
                f"inconsistent evidence: state-hub-infra:{kind.key} {str(evidence.path)!r} is about {_shown(found)} "
                f"({'.'.join(path)}), but {what} is {_shown(expected)}. Run: {kind.command}"
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
    """A build needs where from and where to."""
    build = settings.build
    needed = "building the image (stage image without one, or imageContext set)"
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
    return BuildSpec(build.context, build.dockerfile, build.registry, build.username, build.revision, build.platform)
