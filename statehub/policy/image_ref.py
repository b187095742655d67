"""Container image references, and what "pinned by digest" means."""

from __future__ import annotations

import re
from dataclasses import dataclass

_REFERENCE = re.compile(
    r"^(?P<repository>[a-z0-9]+(?:[._:/-][a-zA-Z0-9]+)*?)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[0-9a-f]{64}))?$"
)


@dataclass(frozen=True)
class ImageRef:
    repository: str
    tag: str | None
    digest: str | None

    @property
    def pinned(self) -> bool:
        return self.digest is not None

    @property
    def registry(self) -> str:
        """The registry host (and port) of the repository, `docker.io` when none is named."""
        first = self.repository.split("/", 1)[0]
        if "/" in self.repository and ("." in first or ":" in first or first == "localhost"):
            return first
        return "docker.io"

    @property
    def path(self) -> str:
        """The repository path inside its registry."""
        if self.registry == "docker.io" and not self.repository.startswith("docker.io/"):
            return self.repository if "/" in self.repository else f"library/{self.repository}"
        return self.repository.split("/", 1)[1]

    def __str__(self) -> str:
        text = self.repository
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def parse_image_ref(text: str) -> ImageRef | None:
    """Parse `repository[:tag][@sha256:<64 hex>]`; None when the text is not a reference."""
    match = _REFERENCE.match(text.strip())
    if match is None:
        return None
    ref = ImageRef(match["repository"], match["tag"], match["digest"])
    port = ref.registry.partition(":")[2]
    if port and not (port.isdigit() and 0 < int(port) < 65536):
        return None  # `host:99999/...` is no registry address
    return ref


@dataclass(frozen=True)
class BuildSpec:
    """An image to build from a checkout and push (stage image without a prebuilt image)."""

    context: str
    dockerfile: str
    registry: str
    username: str | None
    revision: str
    """Source revision: the tag people read and the OCI revision label; deploys use the digest."""
    platform: str
    """`os/arch` of the cluster's nodes."""
