"""Gates: may the requested stage run? Pure functions of settings, evidence and time.

Each refusal names what is missing or wrong and the exact command that fixes it.
"""

from __future__ import annotations

from components.image_ref import BuildSpec
from components.refusal import GateRefusal, SettingsError
from components.settings import Settings, Stage
from components.stage_plan import StagePlan, plan_stage

_PINNED_EXAMPLE = "registry.example:5000/state-hub@sha256:<64 hex digits>"


def check_stage(settings: Settings) -> StagePlan:
    """Refuse a stage whose preconditions do not hold; otherwise return what it builds."""
    stage = settings.stage
    image = settings.app.image
    if stage is Stage.IMAGE:
        return plan_stage(settings, image or _build_spec(settings))
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
    if stage.reaches(Stage.RESTORE):
        raise GateRefusal(f"stage {stage.value} is not implemented yet: use stage image or empty")
    return plan_stage(settings, image)


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
