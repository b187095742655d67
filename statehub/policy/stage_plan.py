"""What each stage puts in the cluster: a pure function of the settings."""

from __future__ import annotations

from dataclasses import dataclass

from statehub.policy.image_ref import BuildSpec, ImageRef
from statehub.policy.settings import Endpoint, Settings, Stage


@dataclass(frozen=True)
class StagePlan:
    image_source: ImageRef | BuildSpec
    """The image this update exports as imageRef: the one to build and push, else the one given."""
    deploy_image: ImageRef | None
    """The digest-pinned image the app runs; None before stage empty (nothing is deployed)."""
    app_replicas: int
    """API replicas: 0 during restore and the final copy, so nothing runs against the database being filled."""
    migrate: bool
    """The migration Job is there: not during restore and the final copy (a new image would otherwise run its
    migrations into the database being filled). It comes back with the app, so the image's migrations run on
    the copied data (which carries WSL2's schema version) before the app starts on it."""
    protect_database: bool
    """From cutover on (or once its approval is recorded) the cluster may hold the only live copy:
    no stack change may delete or replace it, also when moving back to an earlier stage."""
    endpoint: Endpoint
    """Where the front door sends clients."""
    notices: tuple[str, ...]
    """Warnings the operator must read (the rollback reminder)."""


def plan_stage(
    settings: Settings, image: ImageRef | None, build: BuildSpec | None, *, notices: tuple[str, ...]
) -> StagePlan:
    """`image`: what the app runs (pinned from stage empty on); `build`: a new image to build, if any."""
    stage = settings.stage
    held = stage is Stage.RESTORE or settings.app.held_for_final_copy
    source = build or image
    if source is None:
        raise ValueError("a stage plan needs an image or a build (the gates refuse neither)")
    return StagePlan(
        image_source=source,
        deploy_image=image if stage.reaches(Stage.EMPTY) else None,
        app_replicas=0 if held else settings.app.replicas,
        migrate=not held,
        protect_database=stage.reaches(Stage.CUTOVER) or settings.evidence.approval is not None,
        endpoint=settings.endpoint,
        notices=notices,
    )
