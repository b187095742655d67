"""`StateHubBackups`: backups of state-hub-db with the Barman Cloud plugin (stage stabilise).

The plugin and cert-manager are installed by the platform in `cnpg-system`; this renders the
`ObjectStore`, the `ScheduledBackup`, the egress the instances need to reach the store, and, on
request, a throwaway recovery Cluster. cnpg's in-tree `barmanObjectStore` is deprecated and is not
used. Volume snapshots are not available on k3s local-path.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from statehub.components.network import peer, ports
from statehub.policy.backup_settings import BackupSettings
from statehub.policy.names import CLUSTER_LABEL, CNPG_STATUS_PORT, POSTGRES_PORT, Owner, labels
from statehub.policy.settings import CLUSTER_NAME, OBJECT_STORE_NAME, DatabaseSettings, Namespaces

BARMAN_PLUGIN = "barman-cloud.cloudnative-pg.io"
RECOVERY_DRILL_NAME = f"{CLUSTER_NAME}-recovery-drill"
"""A name of its own: the drill never touches the live Cluster."""
KUBE_API_PORTS = (443, 6443)
"""The instance manager talks to the API server (its Service port and, after DNAT, the k3s server's)."""
DNS_PORT = 53


def wal_archiver_plugin() -> dict[str, object]:
    """`spec.plugins[]` of the live Cluster: the store archives its WAL."""
    return {"name": BARMAN_PLUGIN, "isWALArchiver": True, "parameters": {"barmanObjectName": OBJECT_STORE_NAME}}


class StateHubBackups(pulumi.ComponentResource):
    object_store: k8s.apiextensions.CustomResource

    def __init__(
        self,
        name: str,
        settings: BackupSettings,
        database: DatabaseSettings,
        namespaces: Namespaces,
        *,
        cluster: pulumi.Resource,
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
        k8s.apiextensions.CustomResource(
            f"{name}-schedule",
            api_version="postgresql.cnpg.io/v1",
            kind="ScheduledBackup",
            metadata=meta(f"{CLUSTER_NAME}-daily", "backup"),
            spec={
                "schedule": settings.schedule,
                "cluster": {"name": CLUSTER_NAME},
                "method": "plugin",
                "pluginConfiguration": {"name": BARMAN_PLUGIN},
                "backupOwnerReference": "self",
                "immediate": True,
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.object_store, cluster]),
        )
        k8s.networking.v1.NetworkPolicy(
            f"{name}-egress",
            metadata=meta(f"{CLUSTER_NAME}-egress", "network"),
            spec=_egress_policy(settings, namespaces),
            opts=child,
        )
        if settings.recovery_drill:
            k8s.apiextensions.CustomResource(
                f"{name}-recovery-drill",
                api_version="postgresql.cnpg.io/v1",
                kind="Cluster",
                metadata=meta(RECOVERY_DRILL_NAME, "recovery-drill"),
                spec=_recovery_spec(database),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.object_store]),
            )
        self.register_outputs({"objectStore": OBJECT_STORE_NAME})


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
    return {"configuration": configuration, "retentionPolicy": settings.retention}


def _egress_policy(settings: BackupSettings, namespaces: Namespaces) -> k8s.networking.v1.NetworkPolicySpecArgs:
    """All the instances' egress once a policy selects them: DNS, the API server, each other, the store."""
    instances = k8s.networking.v1.NetworkPolicyPeerArgs(
        pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={CLUSTER_LABEL: CLUSTER_NAME})
    )
    anywhere = k8s.networking.v1.NetworkPolicyPeerArgs(ip_block=k8s.networking.v1.IPBlockArgs(cidr="0.0.0.0/0"))
    return k8s.networking.v1.NetworkPolicySpecArgs(
        pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={CLUSTER_LABEL: CLUSTER_NAME}),
        policy_types=["Egress"],
        egress=[
            k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                to=[peer(namespaces.dns)], ports=[*ports(DNS_PORT, protocol="UDP"), *ports(DNS_PORT)]
            ),
            k8s.networking.v1.NetworkPolicyEgressRuleArgs(to=[anywhere], ports=ports(*KUBE_API_PORTS)),
            k8s.networking.v1.NetworkPolicyEgressRuleArgs(to=[instances], ports=ports(POSTGRES_PORT, CNPG_STATUS_PORT)),
            k8s.networking.v1.NetworkPolicyEgressRuleArgs(to=[anywhere], ports=ports(settings.store_port)),
        ],
    )


def _recovery_spec(database: DatabaseSettings) -> dict[str, object]:
    """A one-instance Cluster bootstrapped from the store's latest backup and WAL (its own volume)."""
    resources = database.resources
    return {
        "instances": 1,
        "imageName": database.image_name,
        "enablePDB": False,
        "storage": {"size": database.storage_size, "storageClass": database.storage_class},
        "resources": {
            "requests": {"cpu": resources.cpu_request, "memory": resources.memory_request},
            "limits": {"cpu": resources.cpu_limit, "memory": resources.memory_limit},
        },
        "bootstrap": {"recovery": {"source": OBJECT_STORE_NAME}},
        "externalClusters": [
            {
                "name": OBJECT_STORE_NAME,
                "plugin": {
                    "name": BARMAN_PLUGIN,
                    "parameters": {"barmanObjectName": OBJECT_STORE_NAME, "serverName": CLUSTER_NAME},
                },
            }
        ],
    }
