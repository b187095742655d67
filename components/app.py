"""`StateHubApp`: the State Hub API, its config and secret, its migration Job and who may reach it.

Owned by railiance-apps. Pods run under Pod Security "restricted" with a read-only root
filesystem and no service-account token. No config can produce a LoadBalancer, a NodePort
or a public Ingress: the settings loader refuses such exposure before anything is built.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.network import peer, ports
from statehub.policy.api_contract import HEALTH_PATH
from statehub.policy.image_ref import ImageRef
from statehub.policy.names import (
    API_PORT,
    APP_NAME,
    CLUSTER_LABEL,
    DNS_PORT,
    FRONT_DOOR_NAME,
    POSTGRES_PORT,
    Owner,
    labels,
    selector,
)
from statehub.policy.settings import CLUSTER_NAME, AppSettings, Exposure, ExposureSettings, Namespaces

RUN_AS_USER = 10001

_ENV_SECRET_SKIP = (
    "CKV_K8S_35=The State Hub reads DATABASE_URL from its environment (workplan); "  # noqa: S105 - a skip reason
    "the value comes from a Secret, never from the image or a ConfigMap."
)

_TMP_MOUNT = k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp")  # noqa: S108 - the pod's own emptyDir
_HOME = k8s.core.v1.EnvVarArgs(name="HOME", value="/tmp")  # noqa: S108 - the root filesystem is read-only
DATABASE_WAIT_SECONDS = 300
WAIT_FOR_DATABASE = (
    "import socket, sys, time\n"
    "deadline = time.monotonic() + {seconds}\n"
    "while True:\n"
    "    try:\n"
    "        socket.create_connection(({host!r}, {port}), timeout=3).close()\n"
    "        sys.exit(0)\n"
    "    except OSError as error:\n"
    "        if time.monotonic() > deadline:\n"
    "            sys.exit(f'database {host}:{port} not reachable after {seconds} s: {{error}}')\n"
    "        time.sleep(2)\n"
)
"""The migration waits for cnpg to finish initdb instead of spending its retries on a database not yet there."""


class StateHubApp(pulumi.ComponentResource):
    deployment: k8s.apps.v1.Deployment
    service: k8s.core.v1.Service
    migration_job: k8s.batch.v1.Job | None
    service_host: str
    """In-cluster address of the API Service (`state-hub.<namespace>.svc`)."""

    def __init__(
        self,
        name: str,
        settings: AppSettings,
        exposure: ExposureSettings,
        namespaces: Namespaces,
        *,
        image: ImageRef,
        replicas: int,
        migrate: bool,
        database_url: pulumi.Input[str],
        database_host: str,
        database: pulumi.Resource,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("state-hub-infra:app:StateHubApp", name, None, opts)
        self._prefix, self._app_namespace, self._app_settings = name, namespaces.app, settings
        child = pulumi.ResourceOptions(parent=self)
        self.service_host = f"{APP_NAME}.{self._app_namespace}.svc"
        environment, settings_version = self._environment(database_url, child)
        migration_name = f"{APP_NAME}-migrate-{_image_suffix(image)}"
        self.migration_job = (
            self._migration_job(migration_name, image, environment, database_host, database) if migrate else None
        )
        self.deployment = self._deployment(image, environment, replicas, settings_version)
        self.service = k8s.core.v1.Service(
            f"{name}-service",
            metadata=self._meta(APP_NAME, "api"),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="ClusterIP",
                selector=selector("api"),
                ports=[k8s.core.v1.ServicePortArgs(name="http", port=API_PORT, target_port=API_PORT, protocol="TCP")],
            ),
            opts=child,
        )
        _network_policies(name, namespaces, exposure, child)
        if exposure.model is Exposure.PRIVATE_INGRESS:
            _private_ingress(name, self._app_namespace, exposure, child)
        self.register_outputs({"serviceHost": self.service_host, "migrationJob": migration_name if migrate else None})

    def _meta(
        self, resource_name: str, component: str, annotations: dict[str, str] | None = None
    ) -> k8s.meta.v1.ObjectMetaArgs:
        return k8s.meta.v1.ObjectMetaArgs(
            name=resource_name,
            namespace=self._app_namespace,
            labels=labels(Owner.APPS, component),
            annotations=annotations,
        )

    def _container(
        self, name: str, image: ImageRef, environment: list[k8s.core.v1.EnvFromSourceArgs], **specific: Any
    ) -> k8s.core.v1.ContainerArgs:
        """The app's image as a container: its settings, a writable /tmp as HOME, its limits, no privileges."""
        return k8s.core.v1.ContainerArgs(
            name=name,
            image=str(image),
            image_pull_policy="IfNotPresent",  # pinned by digest: the same bytes
            env_from=environment,
            env=[_HOME],
            resources=_resources(self._app_settings),
            security_context=_container_security(),
            volume_mounts=[_TMP_MOUNT],
            **specific,
        )

    def _environment(
        self, database_url: pulumi.Input[str], child: pulumi.ResourceOptions
    ) -> tuple[list[k8s.core.v1.EnvFromSourceArgs], pulumi.Output[str]]:
        """The ConfigMap and the Secret (DATABASE_URL) the app and its migration read their settings from, and
        their versions (`SETTINGS_VERSION`)."""
        config_map = k8s.core.v1.ConfigMap(
            f"{self._prefix}-config",
            metadata=self._meta(f"{APP_NAME}-config", "api"),
            data={"LOG_LEVEL": self._app_settings.log_level, "PORT": str(API_PORT)},
            opts=child,
        )
        secret = k8s.core.v1.Secret(
            f"{self._prefix}-database-url",
            metadata=self._meta(f"{APP_NAME}-database-url", "api"),
            type="Opaque",
            string_data={"DATABASE_URL": database_url},
            opts=child,
        )
        environment = [
            k8s.core.v1.EnvFromSourceArgs(
                config_map_ref=k8s.core.v1.ConfigMapEnvSourceArgs(name=config_map.metadata.name)
            ),
            k8s.core.v1.EnvFromSourceArgs(secret_ref=k8s.core.v1.SecretEnvSourceArgs(name=secret.metadata.name)),
        ]
        versions = pulumi.Output.all(config_map.metadata.resource_version, secret.metadata.resource_version)
        return environment, versions.apply(lambda found: "/".join(str(v or "") for v in found))

    def _migration_job(
        self,
        migration_name: str,
        image: ImageRef,
        environment: list[k8s.core.v1.EnvFromSourceArgs],
        database_host: str,
        database: pulumi.Resource,
    ) -> k8s.batch.v1.Job:
        """`alembic upgrade head`, once per image, after the database is Ready (an init container waits for it)."""
        settings = self._app_settings
        wait = k8s.core.v1.ContainerArgs(
            name="wait-for-database",
            image=str(image),
            image_pull_policy="IfNotPresent",
            command=[
                "python",
                "-c",
                WAIT_FOR_DATABASE.format(host=database_host, port=POSTGRES_PORT, seconds=DATABASE_WAIT_SECONDS),
            ],
            resources=_resources(settings),
            security_context=_container_security(),
        )
        return k8s.batch.v1.Job(
            f"{self._prefix}-migrate",
            metadata=self._meta(
                migration_name,
                "migration",
                # no `pulumi.com/replaceUnready`: it also replaces a Job still running (an `up` after an interrupted
                # one), killing a migration mid-way; a failed one is deleted by hand and run again (runbook)
                {"checkov.io/skip1": _ENV_SECRET_SKIP},
            ),
            spec=k8s.batch.v1.JobSpecArgs(
                backoff_limit=2,
                active_deadline_seconds=600,
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels(Owner.APPS, "migration")),
                    spec=_pod_spec(
                        self._container("migrate", image, environment, command=["alembic", "upgrade", "head"]),
                        restart_policy="Never",
                        pull_secrets=settings.pull_secrets,
                        init=wait,
                    ),
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[database]),  # after cnpg says the Cluster is Ready
        )

    def _deployment(
        self,
        image: ImageRef,
        environment: list[k8s.core.v1.EnvFromSourceArgs],
        replicas: int,
        settings_version: pulumi.Output[str],
    ) -> k8s.apps.v1.Deployment:
        """The API, after its migration. Readiness asks /state/health (it checks the database: no traffic
        without one); liveness only asks whether the process answers on its port, so a database restart
        does not restart the API; the startup probe gives a slow first start up to 2 minutes."""
        ready = k8s.core.v1.ProbeArgs(
            http_get=k8s.core.v1.HTTPGetActionArgs(path=HEALTH_PATH, port=API_PORT),
            period_seconds=10,
            timeout_seconds=3,
            failure_threshold=3,
        )
        alive = k8s.core.v1.ProbeArgs(
            tcp_socket=k8s.core.v1.TCPSocketActionArgs(port=API_PORT), period_seconds=10, failure_threshold=3
        )
        started = k8s.core.v1.ProbeArgs(
            tcp_socket=k8s.core.v1.TCPSocketActionArgs(port=API_PORT), period_seconds=5, failure_threshold=24
        )
        return k8s.apps.v1.Deployment(
            f"{self._prefix}-api",
            metadata=self._meta(APP_NAME, "api", {"checkov.io/skip1": _ENV_SECRET_SKIP}),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=replicas,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector("api")),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        labels=labels(Owner.APPS, "api"), annotations={SETTINGS_VERSION: settings_version}
                    ),
                    spec=_pod_spec(
                        self._container(
                            "api",
                            image,
                            environment,
                            ports=[k8s.core.v1.ContainerPortArgs(name="http", container_port=API_PORT)],
                            liveness_probe=alive,
                            readiness_probe=ready,
                            startup_probe=started,
                        ),
                        restart_policy="Always",
                        pull_secrets=self._app_settings.pull_secrets,
                    ),
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.migration_job] if self.migration_job else []),
        )


SETTINGS_VERSION = "state-hub.railiance.io/settings-version"
"""On the pod template: the resourceVersions of the ConfigMap and the Secret the pods read their environment
from, so a rotated password or another setting rolls the pods in the same `pulumi up` (a pod reads its
environment only when it starts). Versions, not a digest of the values: a digest of the URL would be a
secret, and a secret annotation hides the whole Deployment spec from `pulumi preview --diff`."""


def _image_suffix(image: ImageRef) -> str:
    """A DNS-safe suffix that changes with the image: a new image gives a new migration Job."""
    if image.digest:
        return image.digest.removeprefix("sha256:")[:12]
    return "".join(c if c.isalnum() else "-" for c in (image.tag or "latest").lower())[:20].strip("-")


def _resources(settings: AppSettings) -> k8s.core.v1.ResourceRequirementsArgs:
    r = settings.resources
    return k8s.core.v1.ResourceRequirementsArgs(
        requests={"cpu": r.cpu_request, "memory": r.memory_request},
        limits={"cpu": r.cpu_limit, "memory": r.memory_limit},
    )


def _container_security() -> k8s.core.v1.SecurityContextArgs:
    return k8s.core.v1.SecurityContextArgs(
        allow_privilege_escalation=False,
        privileged=False,
        read_only_root_filesystem=True,
        run_as_non_root=True,
        run_as_user=RUN_AS_USER,
        run_as_group=RUN_AS_USER,
        capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
    )


def _pod_spec(
    container: k8s.core.v1.ContainerArgs,
    *,
    restart_policy: str,
    pull_secrets: tuple[str, ...],
    init: k8s.core.v1.ContainerArgs | None = None,
) -> k8s.core.v1.PodSpecArgs:
    """Pod Security "restricted", no service-account token, a writable /tmp only."""
    return k8s.core.v1.PodSpecArgs(
        image_pull_secrets=[k8s.core.v1.LocalObjectReferenceArgs(name=name) for name in pull_secrets] or None,
        automount_service_account_token=False,
        enable_service_links=False,
        restart_policy=restart_policy,
        security_context=k8s.core.v1.PodSecurityContextArgs(
            run_as_non_root=True,
            run_as_user=RUN_AS_USER,
            run_as_group=RUN_AS_USER,
            fs_group=RUN_AS_USER,
            seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
        ),
        containers=[container],
        init_containers=[init] if init else None,
        volumes=[k8s.core.v1.VolumeArgs(name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="64Mi"))],
    )


def _network_policies(
    name: str, namespaces: Namespaces, exposure: ExposureSettings, opts: pulumi.ResourceOptions
) -> None:
    """API pods: ingress on 8000 only from the private access path; all app pods: egress to DNS and the db."""
    access = [peer(ns) for ns in exposure.access_namespaces]
    if exposure.model is Exposure.PRIVATE_INGRESS:
        access.append(peer(namespaces.ingress_controller))
    k8s.networking.v1.NetworkPolicy(
        f"{name}-api-ingress",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=f"{APP_NAME}-api-ingress", namespace=namespaces.app, labels=labels(Owner.APPS, "network")
        ),
        spec=k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector("api")),
            policy_types=["Ingress"],
            ingress=[k8s.networking.v1.NetworkPolicyIngressRuleArgs(from_=access, ports=ports(API_PORT))]
            if access
            else [],
        ),
        opts=opts,
    )
    k8s.networking.v1.NetworkPolicy(
        f"{name}-isolation",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=f"{APP_NAME}-isolation", namespace=namespaces.app, labels=labels(Owner.APPS, "network")
        ),
        spec=k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={"app.kubernetes.io/name": APP_NAME}),
            policy_types=["Ingress", "Egress"],
            ingress=[],
            egress=[
                k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                    to=[peer(namespaces.database, {CLUSTER_LABEL: CLUSTER_NAME})],
                    ports=ports(POSTGRES_PORT),
                ),
                k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                    to=[peer(namespaces.dns)],
                    ports=[*ports(DNS_PORT, protocol="UDP"), *ports(DNS_PORT)],
                ),
            ],
        ),
        opts=opts,
    )


def _private_ingress(name: str, namespace: str, exposure: ExposureSettings, opts: pulumi.ResourceOptions) -> None:
    """An Ingress on the private class, behind a Traefik ipAllowList of private ranges."""
    allow_list = f"{APP_NAME}-allow-list"
    k8s.apiextensions.CustomResource(
        f"{name}-allow-list",
        api_version="traefik.io/v1alpha1",
        kind="Middleware",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=allow_list, namespace=namespace, labels=labels(Owner.APPS, "ingress")),
        spec={"ipAllowList": {"sourceRange": list(exposure.allow_cidrs)}},
        opts=opts,
    )
    k8s.networking.v1.Ingress(
        f"{name}-ingress",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=APP_NAME,
            namespace=namespace,
            labels=labels(Owner.APPS, "ingress"),
            annotations={"traefik.ingress.kubernetes.io/router.middlewares": f"{namespace}-{allow_list}@kubernetescrd"},
        ),
        spec=k8s.networking.v1.IngressSpecArgs(
            ingress_class_name=exposure.ingress_class,
            rules=[
                k8s.networking.v1.IngressRuleArgs(
                    host=exposure.hostname,
                    http=k8s.networking.v1.HTTPIngressRuleValueArgs(
                        paths=[
                            k8s.networking.v1.HTTPIngressPathArgs(
                                path="/",
                                path_type="Prefix",
                                backend=k8s.networking.v1.IngressBackendArgs(
                                    service=k8s.networking.v1.IngressServiceBackendArgs(
                                        name=FRONT_DOOR_NAME,
                                        port=k8s.networking.v1.ServiceBackendPortArgs(number=API_PORT),
                                    )
                                ),
                            )
                        ]
                    ),
                )
            ],
        ),
        opts=opts,
    )
