"""OCI provenance labels (source, revision, created) for the image built in stage image.

pulumi-docker's build takes no labels, so the program writes a copy of the State Hub's
Dockerfile with one `LABEL` line appended (it applies to the final stage) under `build/`, and
builds from that with the checkout as context. `created` is the commit time of the revision,
not the build time, so the same revision always yields the same Dockerfile and no diff.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from statehub.policy.image_ref import BuildSpec
from statehub.policy.refusal import SettingsError

GENERATED_DIR = Path("build") / "image"


@dataclass(frozen=True)
class Provenance:
    source: str
    revision: str
    created: str

    def labels(self) -> dict[str, str]:
        return {
            "org.opencontainers.image.source": self.source,
            "org.opencontainers.image.revision": self.revision,
            "org.opencontainers.image.created": self.created,
        }


def _git(context: str, *args: str) -> str | None:
    try:
        argv = ["git", "-C", context, *args]  # a fixed git argv from PATH, no shell
        done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else None


def read_provenance(spec: BuildSpec) -> Provenance:
    """Resolve the revision in the checkout; refuse one that is not a commit there."""
    commit = _git(spec.context, "rev-parse", "--verify", "--quiet", f"{spec.revision}^{{commit}}")
    if commit is None:
        raise SettingsError(
            "imageRevision",
            spec.revision,
            f"it is not a commit of the checkout at imageContext {spec.context!r}",
            f"$(git -C {spec.context} rev-parse HEAD)",
        )
    created = _git(spec.context, "show", "-s", "--format=%cI", commit) or ""
    source = _git(spec.context, "remote", "get-url", "origin") or str(Path(spec.context).resolve())
    return Provenance(source=source, revision=commit, created=created)


def labelled_dockerfile(spec: BuildSpec, provenance: Provenance) -> Path:
    """Write the Dockerfile plus the provenance LABEL; return its path."""
    original = Path(spec.context) / spec.dockerfile
    try:
        text = original.read_text()
    except OSError as error:
        raise SettingsError(
            "imageDockerfile", spec.dockerfile, f"{original} cannot be read ({error.strerror})", "Dockerfile"
        ) from None
    label = " \\\n      ".join(f'{key}="{value}"' for key, value in provenance.labels().items())
    generated = GENERATED_DIR / f"Dockerfile.{provenance.revision[:12]}"
    generated.parent.mkdir(parents=True, exist_ok=True)
    generated.write_text(f"{text.rstrip()}\n\n# Added by state-hub-infra: OCI provenance\nLABEL {label}\n")
    return generated.resolve()
