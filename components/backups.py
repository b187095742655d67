"""`StateHubBackups`: backups of state-hub-db with the Barman Cloud plugin (stage stabilise).

The plugin and cert-manager are installed by the platform in `cnpg-system`; this renders the
`ObjectStore`, the first `Backup` (the stage waits for it), the `ScheduledBackup` and, on request, a
throwaway recovery Cluster. The instances' egress to the store is part of their egress policy
(components/database.py). cnpg's in-tree `barmanObjectStore` is deprecated and is not used.
Volume snapshots are not available on k3s local-path.
"""

from __future__ import annotations

import asyncio

import pulumi
import pulumi_kubernetes as k8s

from components.database import postgresql_config
from statehub.cluster.instance_rollout import RolloutError, wait_with_kubeconfig
from statehub.policy.backup_settings import BackupSettings
from statehub.policy.names import Owner, labels
from statehub.policy.settings import (
    CLUSTER_NAME,
    DATABASE_NAME,
    DATABASE_OWNER,
    OBJECT_STORE_NAME,
    OWNER_SECRET_NAME,
    RECOVERY_DRILL_NAME,
    DatabaseSettings,
    KubeSettings,
    Namespaces,
)

BARMAN_PLUGIN = "barman-cloud.cloudnative-pg.io"
BARMAN_SIDECAR = "plugin-barman-cloud"
"""The container the plugin adds to every instance pod; a backup needs it running there."""
ROLLOUT_SECONDS = 15 * 60
FIRST_BACKUP_NAME = f"{CLUSTER_NAME}-first"


def _by_the_plugin() -> dict[str, object]:
    return {"method": "plugin", "pluginConfiguration": {"name": BARMAN_PLUGIN}}


def wal_archiver_plugin(server_name: str) -> dict[str, object]:
    """`spec.plugins[]` of the live Cluster: the store archives its WAL into the folder `server_name` (the
    plugin's default, the Cluster's own name, is left implicit: an explicit one would roll the instance)."""
    parameters = {"barmanObjectName": OBJECT_STORE_NAME}
    if server_name != CLUSTER_NAME:
        parameters["serverName"] = server_name
    return {"name": BARMAN_PLUGIN, "isWALArchiver": True, "parameters": parameters}


def recovery_from_store(server_name: str) -> dict[str, object]:
    """cnpg's `bootstrap` and `externalClusters` of a Cluster recovered from the backups and WAL the store holds
    for `server_name`, with the live database's name and owner and the live owner's Secret (cnpg would otherwise
    make one with a new password and set it on the role: the app's DATABASE_URL would no longer log in)."""
    return {
        "bootstrap": {
            "recovery": {
                "source": OBJECT_STORE_NAME,
                "database": DATABASE_NAME,
                "owner": DATABASE_OWNER,
                "secret": {"name": OWNER_SECRET_NAME},
            }
        },
        "externalClusters": [
            {
                "name": OBJECT_STORE_NAME,
                "plugin": {
                    "name": BARMAN_PLUGIN,
                    "parameters": {"barmanObjectName": OBJECT_STORE_NAME, "serverName": server_name},
                },
            }
        ],
    }


class StateHubBackups(pulumi.ComponentResource):
    object_store: k8s.apiextensions.CustomResource

    def __init__(
        self,
        name: str,
        settings: BackupSettings,
        database: DatabaseSettings,
        namespaces: Namespaces,
        *,
        cluster: pulumi.CustomResource,
        kube: KubeSettings,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("state-hub-infra:backups:StateHubBackups", name, None, opts)
        namespace = namespaces.database
        child = pulumi.ResourceOptions(parent=self)

        def meta(resource_name: str, component: str) -> k8s.meta.v1.ObjectMetaArgs:
            return k8s.meta.v1.ObjectMetaArgs(
                name=resource_name, namespace=namespace, labels=labels(Owner.PLATFORM, component)
            )

        self.object_store = k8s.apiextensions.CustomResource(
            f"{name}-object-store",
            api_version="barmancloud.cnpg.io/v1",
            kind="ObjectStore",
            metadata=meta(OBJECT_STORE_NAME, "backup"),
            spec=_object_store_spec(settings),
            opts=child,
        )
        # the first backup is part of the stage: `pulumi up` at stabilise ends when it has completed, so a stage
        # that succeeded has a base backup to recover from; it is asked for once every instance runs the sidecar
        rolled_out: pulumi.Output[bool] = cluster.id.apply(lambda _: _sidecars_running(kube, namespace))
        first = k8s.apiextensions.CustomResource(
            f"{name}-first",
            api_version="postgresql.cnpg.io/v1",
            kind="Backup",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=FIRST_BACKUP_NAME,
                namespace=namespace,
                labels=labels(Owner.PLATFORM, "backup"),
                annotations={"pulumi.com/waitFor": "jsonpath={.status.phase}=completed"},
            ),
            spec={"cluster": {"name": CLUSTER_NAME}, **_by_the_plugin()},
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=rolled_out.apply(lambda _: [self.object_store, cluster]),
                custom_timeouts=pulumi.CustomTimeouts(create="30m"),
            ),
        )
        k8s.apiextensions.CustomResource(
            f"{name}-schedule",
            api_version="postgresql.cnpg.io/v1",
            kind="ScheduledBackup",
            metadata=meta(f"{CLUSTER_NAME}-daily", "backup"),
            spec={
                "schedule": settings.schedule,
                "cluster": {"name": CLUSTER_NAME},
                **_by_the_plugin(),
                "backupOwnerReference": "self",
                "immediate": False,
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[first]),
        )
        if settings.recovery_drill:
            k8s.apiextensions.CustomResource(
                f"{name}-recovery-drill",
                api_version="postgresql.cnpg.io/v1",
                kind="Cluster",
                metadata=meta(RECOVERY_DRILL_NAME, "recovery-drill"),
                spec=_recovery_spec(database, settings.server_name),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.object_store]),
            )
        self.register_outputs({"objectStore": OBJECT_STORE_NAME})


async def _sidecars_running(kube: KubeSettings, namespace: str) -> bool:
    """After the Cluster's update, wait (in a thread: the program's other resources go on) until its instances
    run the plugin's sidecar (statehub/cluster/instance_rollout.py says why its status cannot tell). Not in a
    preview, where nothing changed, nor on an API server without nodes."""
    if pulumi.runtime.is_dry_run() or kube.api_only_cluster:
        return False
    try:
        await asyncio.to_thread(
            wait_with_kubeconfig,
            kube.kubeconfig,
            kube.context,
            namespace=namespace,
            cluster=CLUSTER_NAME,
            sidecar=BARMAN_SIDECAR,
            seconds=ROLLOUT_SECONDS,
        )
    except RolloutError as error:
        raise pulumi.RunError(str(error)) from None
    return True


def _object_store_spec(settings: BackupSettings) -> dict[str, object]:
    secret = settings.credentials_secret
    configuration: dict[str, object] = {
        "destinationPath": settings.destination_path,
        "s3Credentials": {
            "accessKeyId": {"name": secret, "key": "ACCESS_KEY_ID"},
            "secretAccessKey": {"name": secret, "key": "ACCESS_SECRET_KEY"},
        },
        "wal": {"compression": "gzip"},
        "data": {"compression": "gzip"},
    }
    if settings.endpoint_url:
        configuration["endpointURL"] = settings.endpoint_url
    sidecar = {"cpu": settings.sidecar_cpu, "memory": settings.sidecar_memory}
    return {
        "configuration": configuration,
        "retentionPolicy": settings.retention,
        # requests = limits: the sidecar joins every instance pod, which would otherwise lose Guaranteed QoS
        "instanceSidecarConfiguration": {"resources": {"requests": sidecar, "limits": dict(sidecar)}},
    }


DRILL_REQUESTS = {"cpu": "100m", "memory": "256Mi"}
"""The drill asks little (Burstable): it shares the live node and must not crowd the live instance out."""


def _recovery_spec(database: DatabaseSettings, server_name: str) -> dict[str, object]:
    """A one-instance Cluster bootstrapped from the store's latest backup and WAL (its own volume, as large as
    the live one: it holds the same data), with the live database's name, owner and parameters; the live
    Cluster's policies select it too (components/database.py)."""
    resources = database.resources
    return {
        "instances": 1,
        "imageName": database.image_name,
        "enablePDB": False,
        "storage": {"size": database.storage_size, "storageClass": database.storage_class},
        "resources": {
            "requests": DRILL_REQUESTS,
            "limits": {"cpu": resources.cpu_limit, "memory": resources.memory_limit},
        },
        "postgresql": postgresql_config(database),
        # the live owner's Secret: the runbook's compare of the drill with the live database (same user, same
        # password) would be refused with another
        **recovery_from_store(server_name),
    }
