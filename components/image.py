"""`StateHubImage`: the image the cluster runs, built and pushed here or given prebuilt.

Either way the result is a reference pinned by digest: deployments never follow a tag.
"""

from __future__ import annotations

import pulumi
import pulumi_docker as docker

from statehub.policy.image_provenance import labelled_dockerfile, read_provenance
from statehub.policy.image_ref import BuildSpec, ImageRef
from statehub.policy.names import APP_NAME


class StateHubImage(pulumi.ComponentResource):
    ref: pulumi.Output[str]
    """The digest-pinned reference (`repo@sha256:...`)."""
    labels: dict[str, str] | None = None
    """OCI provenance labels of a built image; None for a prebuilt one."""

    def __init__(
        self,
        name: str,
        source: ImageRef | BuildSpec,
        *,
        registry_password: pulumi.Input[str] | None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("state-hub-infra:image:StateHubImage", name, None, opts)
        if isinstance(source, ImageRef):
            self.ref = pulumi.Output.from_input(str(source))
        else:
            build = source
            provenance = read_provenance(build)
            image = docker.Image(
                f"{name}-build",
                image_name=f"{build.registry}/{APP_NAME}:{build.revision}",
                build=docker.DockerBuildArgs(
                    context=build.context,
                    dockerfile=str(labelled_dockerfile(build, provenance)),
                    platform=build.platform,
                ),
                registry=docker.RegistryArgs(
                    server=build.registry, username=build.username, password=registry_password
                ),
                skip_push=False,
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.ref = image.repo_digest
            self.labels = provenance.labels()
        self.register_outputs({"ref": self.ref})
