"""`StateHubDatabase`: the cnpg Cluster `state-hub-db`, its owner credentials and who may reach it.

Owned by railiance-platform. The cnpg operator and its CRDs are a platform prerequisite,
not part of this stack.
"""

from __future__ import annotations

from urllib.parse import quote

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.network import peer, ports
from statehub.policy.names import (
    APP_NAME,
    CLUSTER_LABEL,
    CNPG_METRICS_PORT,
    CNPG_STATUS_PORT,
    DNS_PORT,
    KUBE_API_PORTS,
    POSTGRES_PORT,
    Owner,
    labels,
)
from statehub.policy.settings import (
    CLIENT_HBA,
    CLUSTER_NAME,
    DATABASE_NAME,
    DATABASE_OWNER,
    DATABASE_SSLMODE,
    OWNER_SECRET_NAME,
    RECOVERY_DRILL_NAME,
    DatabaseSettings,
    Namespaces,
)


class StateHubDatabase(pulumi.ComponentResource):
    cluster: k8s.apiextensions.CustomResource
    owner_secret_name: str
    superuser_secret_name: str | None
    """`state-hub-db-superuser`, which cnpg creates while superuser access is on (the rollback window)."""
    rw_service: str
    """The in-cluster address of the primary (`state-hub-db-rw.<namespace>.svc`)."""
    password: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        settings: DatabaseSettings,
        namespaces: Namespaces,
        *,
        protect: bool,
        checked: pulumi.Output[bool],
        plugins: list[dict[str, object]],
        store_port: int | None = None,
        recovery: dict[str, object] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """`checked`: resolves once the settings pass the checks against the last update; `plugins`: cnpg
        `spec.plugins` (the Barman Cloud WAL archiver from stage stabilise on); `store_port`: the backup
        store's port, which the instances' egress then opens; `recovery`: `bootstrap` and `externalClusters` that
        rebuild a lost state-hub-db from the store instead of initdb (cnpg reads `bootstrap` at creation only)."""
        super().__init__("state-hub-infra:database:StateHubDatabase", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # what the retained Cluster needs stays with it: its owner's Secret, and the policies that close it (a
        # destroy that left the Cluster but took its policies would leave it open to every pod)
        kept = pulumi.ResourceOptions(parent=self, retain_on_delete=True)
        namespace = namespaces.database
        self.owner_secret_name = OWNER_SECRET_NAME
        self.superuser_secret_name = f"{CLUSTER_NAME}-superuser" if settings.superuser_access else None
        self.rw_service = f"{CLUSTER_NAME}-rw.{namespace}.svc"

        if settings.owner_password is None:
            generated = random.RandomPassword(f"{name}-owner-password", length=32, special=False, opts=child)
            self.password = pulumi.Output.secret(generated.result)
        else:
            self.password = pulumi.Output.secret(settings.owner_password)
        owner_secret = k8s.core.v1.Secret(
            f"{name}-owner",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=self.owner_secret_name, namespace=namespace, labels=labels(Owner.PLATFORM, "database")
            ),
            type="kubernetes.io/basic-auth",
            string_data={"username": DATABASE_OWNER, "password": self.password},
            opts=kept,
        )

        storage: list[pulumi.Resource] = [owner_secret]
        if settings.retain_storage_class:
            storage.append(_retain_storage_class(name, settings.storage_class, child))
        self.cluster = k8s.apiextensions.CustomResource(
            f"{name}-cluster",
            api_version="postgresql.cnpg.io/v1",
            kind="Cluster",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=CLUSTER_NAME,
                namespace=namespace,
                labels=labels(Owner.PLATFORM, "database"),
                annotations={"pulumi.com/waitFor": "condition=Ready"},
            ),
            # the spec waits for the checks: a refused size or major leaves the Cluster as it is
            spec=checked.apply(
                lambda _: {
                    **_cluster_spec(settings, self.owner_secret_name),
                    **({"plugins": plugins} if plugins else {}),
                    **(recovery or {}),
                }
            ),
            # retain_on_delete: a stack change that drops the Cluster leaves it (and its volumes) in the cluster;
            # protect (from cutover on) refuses such a change outright.
            opts=pulumi.ResourceOptions(parent=self, depends_on=storage, protect=protect, retain_on_delete=True),
        )
        if settings.extensions:
            _extensions(
                name,
                namespace,
                settings.extensions,
                pulumi.ResourceOptions(parent=self, depends_on=[self.cluster], retain_on_delete=True),
            )

        k8s.networking.v1.NetworkPolicy(
            f"{name}-ingress",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=f"{CLUSTER_NAME}-ingress", namespace=namespace, labels=labels(Owner.PLATFORM, "network")
            ),
            spec=_ingress_policy(namespaces),
            opts=kept,
        )
        k8s.networking.v1.NetworkPolicy(
            f"{name}-egress",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=f"{CLUSTER_NAME}-egress", namespace=namespace, labels=labels(Owner.PLATFORM, "network")
            ),
            spec=_egress_policy(namespaces, store_port),
            # stage stabilise made it as a child of the backups (before it was here from stage empty on): the same
            # object, adopted, not created anew and then deleted with the old name
            opts=pulumi.ResourceOptions(
                parent=self,
                retain_on_delete=True,
                aliases=[
                    pulumi.Alias(
                        name="state-hub-backups-egress",
                        parent=pulumi.create_urn("state-hub-backups", "state-hub-infra:backups:StateHubBackups"),
                    )
                ],
            ),
        )
        self.register_outputs({"cluster": CLUSTER_NAME, "rwService": self.rw_service})

    def database_url(self) -> pulumi.Output[str]:
        """The app's `DATABASE_URL` (SQLAlchemy + psycopg), a Pulumi secret, over TLS (`CLIENT_HBA` refuses less)."""
        return pulumi.Output.secret(
            self.password.apply(
                lambda pw: (
                    f"postgresql+psycopg://{DATABASE_OWNER}:{quote(pw, safe='')}"
                    f"@{self.rw_service}:{POSTGRES_PORT}/{DATABASE_NAME}?sslmode={DATABASE_SSLMODE}"
                )
            )
        )


def _extensions(name: str, namespace: str, extensions: tuple[str, ...], opts: pulumi.ResourceOptions) -> None:
    """cnpg's `Database` for the initdb-made state_hub: cnpg (a superuser) creates the extensions the owner
    cannot. `databaseReclaimPolicy: retain`: deleting this object never drops the database."""
    k8s.apiextensions.CustomResource(
        f"{name}-extensions",
        api_version="postgresql.cnpg.io/v1",
        kind="Database",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=f"{CLUSTER_NAME}-{DATABASE_NAME.replace('_', '-')}",
            namespace=namespace,
            labels=labels(Owner.PLATFORM, "database"),
        ),
        spec={
            "cluster": {"name": CLUSTER_NAME},
            "name": DATABASE_NAME,
            "owner": DATABASE_OWNER,
            "ensure": "present",
            "databaseReclaimPolicy": "retain",
            "extensions": [{"name": extension, "ensure": "present"} for extension in extensions],
        },
        opts=opts,
    )


def postgresql_config(settings: DatabaseSettings) -> dict[str, object]:
    """`spec.postgresql` of state-hub-db and of its recovery drill: the parameters, and TLS from the network."""
    return {"parameters": dict(settings.parameters), "pg_hba": list(CLIENT_HBA)}


def _cluster_spec(settings: DatabaseSettings, secret_name: str) -> dict[str, object]:
    resources = settings.resources
    return {
        "instances": settings.instances,
        "imageName": settings.image_name,
        "enableSuperuserAccess": settings.superuser_access,
        # cnpg's PodDisruptionBudget for the only primary would hang every node drain (k3s upgrades)
        "enablePDB": settings.instances > 1,
        "primaryUpdateStrategy": "unsupervised",
        "storage": {"size": settings.storage_size, "storageClass": settings.storage_class},
        "resources": {
            "requests": {"cpu": resources.cpu_request, "memory": resources.memory_request},
            "limits": {"cpu": resources.cpu_limit, "memory": resources.memory_limit},
        },
        "postgresql": postgresql_config(settings),
        "bootstrap": {
            "initdb": {
                "database": DATABASE_NAME,
                "owner": DATABASE_OWNER,
                "secret": {"name": secret_name},
                "dataChecksums": True,
                "encoding": "UTF8",
                # the WSL2 database's: cnpg's own default is C, and a copy into another locale fails its compare
                **({"localeCollate": settings.locale, "localeCType": settings.locale} if settings.locale else {}),
            }
        },
    }


LOCAL_PATH_PROVISIONER = "rancher.io/local-path"


def _retain_storage_class(name: str, class_name: str, opts: pulumi.ResourceOptions) -> k8s.storage.v1.StorageClass:
    """k3s's local-path provisioner with reclaimPolicy Retain: a deleted PVC leaves its folder on the node."""
    return k8s.storage.v1.StorageClass(
        f"{name}-storage-class",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=class_name, labels=labels(Owner.PLATFORM, "storage")),
        provisioner=LOCAL_PATH_PROVISIONER,
        reclaim_policy="Retain",
        volume_binding_mode="WaitForFirstConsumer",
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(retain_on_delete=True)),
    )


def _instances() -> k8s.meta.v1.LabelSelectorArgs:
    """The instances of state-hub-db and of its recovery drill (a Cluster of its own name, the same policies)."""
    return k8s.meta.v1.LabelSelectorArgs(
        match_expressions=[
            k8s.meta.v1.LabelSelectorRequirementArgs(
                key=CLUSTER_LABEL, operator="In", values=[CLUSTER_NAME, RECOVERY_DRILL_NAME]
            )
        ]
    )


def _egress_policy(namespaces: Namespaces, store_port: int | None) -> k8s.networking.v1.NetworkPolicySpecArgs:
    """The instances' egress, from stage empty on: DNS, the API server, each other, and (stage stabilise) the
    backup store."""
    instances = k8s.networking.v1.NetworkPolicyPeerArgs(pod_selector=_instances())
    anywhere = k8s.networking.v1.NetworkPolicyPeerArgs(ip_block=k8s.networking.v1.IPBlockArgs(cidr="0.0.0.0/0"))
    rules = [
        k8s.networking.v1.NetworkPolicyEgressRuleArgs(
            to=[peer(namespaces.dns)], ports=[*ports(DNS_PORT, protocol="UDP"), *ports(DNS_PORT)]
        ),
        k8s.networking.v1.NetworkPolicyEgressRuleArgs(to=[anywhere], ports=ports(*KUBE_API_PORTS)),
        k8s.networking.v1.NetworkPolicyEgressRuleArgs(to=[instances], ports=ports(POSTGRES_PORT, CNPG_STATUS_PORT)),
    ]
    if store_port is not None:
        rules.append(k8s.networking.v1.NetworkPolicyEgressRuleArgs(to=[anywhere], ports=ports(store_port)))
    return k8s.networking.v1.NetworkPolicySpecArgs(pod_selector=_instances(), policy_types=["Egress"], egress=rules)


def _ingress_policy(namespaces: Namespaces) -> k8s.networking.v1.NetworkPolicySpecArgs:
    """Only the app and its migration Job, the cnpg operator, the cluster's own instances and (when named) the
    platform's Prometheus on the metrics port."""
    return k8s.networking.v1.NetworkPolicySpecArgs(
        pod_selector=_instances(),
        policy_types=["Ingress"],
        ingress=[
            k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                from_=[
                    peer(namespaces.app, {"app.kubernetes.io/name": APP_NAME}),
                ],
                ports=ports(POSTGRES_PORT),
            ),
            k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                from_=[peer(namespaces.operator, {"app.kubernetes.io/name": "cloudnative-pg"})],  # the operator only
                ports=ports(POSTGRES_PORT, CNPG_STATUS_PORT),
            ),
            k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                from_=[k8s.networking.v1.NetworkPolicyPeerArgs(pod_selector=_instances())],
                ports=ports(POSTGRES_PORT, CNPG_STATUS_PORT),
            ),
            *(
                [
                    k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                        from_=[peer(monitoring)], ports=ports(CNPG_METRICS_PORT)
                    )
                ]
                if (monitoring := namespaces.monitoring)
                else []
            ),
        ],
    )
