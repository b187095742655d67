"""The State Hub migration program: settings -> gates -> components -> exports."""

from datetime import UTC, datetime
from pathlib import Path

import pulumi
import pulumi.runtime.config

from components.app import StateHubApp
from components.backups import StateHubBackups, recovery_from_store, wal_archiver_plugin
from components.cluster_access import StateHubNamespaces, cluster_transformations, kubernetes_provider
from components.database import StateHubDatabase
from components.front_door import FrontDoor
from components.image import StateHubImage
from statehub.policy.gates import check_major_upgrade, check_not_deployed, check_stage, check_storage_size
from statehub.policy.names import Owner
from statehub.policy.operator_hints import api_base, client_access, restore_target
from statehub.policy.project_file import check_declared, read_project_file
from statehub.policy.refusal import Refusal
from statehub.policy.settings import PROJECT, Settings, Stage, load_settings
from statehub.stack_history import DEPLOYED_OUTPUT, MAJOR_OUTPUT, STORAGE_OUTPUT, last_outputs

PROJECT_DIR = Path(__file__).resolve().parent


def main() -> None:
    config = pulumi.Config()
    every_value = {**pulumi.runtime.config.get_config_env(), **pulumi.runtime.config.CONFIG.get()}
    check_declared(read_project_file(PROJECT_DIR), every_value, pulumi.runtime.config.is_config_secret)

    def secret(key: str) -> pulumi.Output[str] | None:
        """A secret key through `get_secret` (Pulumi keeps it a secret); set but empty is unset."""
        return config.get_secret(key) if every_value.get(f"{PROJECT}:{key}") else None

    settings = load_settings(config.get, secret)
    now = datetime.now(UTC)
    plan = check_stage(settings, now)
    for notice in plan.notices:
        pulumi.log.warn(notice)

    image = StateHubImage("state-hub-image", plan.image_source, registry_password=settings.build.password)
    if settings.stage is Stage.IMAGE:
        pulumi.run(_refuse_when_deployed)  # awaited before the update ends: a refusal deletes nothing
    pulumi.export("stage", settings.stage.value)
    pulumi.export("imageRef", image.ref)
    if image.labels is not None:
        pulumi.export("imageLabels", image.labels)
    if plan.deploy_image is None:
        return

    provider = kubernetes_provider(settings.kube)
    namespaces = settings.namespaces
    owned: list[pulumi.Resource] = []
    if settings.kube.create_namespaces:
        owned.append(
            StateHubNamespaces(
                "state-hub-namespaces",
                {namespaces.database: Owner.PLATFORM, namespaces.app: Owner.APPS},
                opts=pulumi.ResourceOptions(
                    providers=[provider], transformations=cluster_transformations(settings.kube)
                ),
            )
        )
    in_cluster = pulumi.ResourceOptions(
        providers=[provider], depends_on=owned, transformations=cluster_transformations(settings.kube)
    )
    checked: pulumi.Output[bool] = pulumi.Output.from_input(_checked_against_last_update(settings, now))
    database = StateHubDatabase(
        "state-hub-db",
        settings.database,
        namespaces,
        protect=plan.protect_database,
        checked=checked,
        plugins=[wal_archiver_plugin(settings.backup.server_name)] if settings.backup else [],
        store_port=settings.backup.store_port if settings.backup else None,
        recovery=recovery_from_store(rebuild)
        if settings.backup and (rebuild := settings.backup.rebuild_from)
        else None,
        opts=in_cluster,
    )
    if settings.backup:
        StateHubBackups(
            "state-hub-backups",
            settings.backup,
            settings.database,
            namespaces,
            cluster=database.cluster,
            kube=settings.kube,
            opts=in_cluster,
        )
    app = StateHubApp(
        "state-hub",
        settings.app,
        settings.exposure,
        namespaces,
        image=plan.deploy_image,
        replicas=plan.app_replicas,
        migrate=plan.migrate,
        database_url=database.database_url(),
        database_host=database.rw_service,
        database=database.cluster,
        opts=in_cluster,
    )
    front_door = FrontDoor(
        "state-hub-front-door", settings.front_door, namespace=namespaces.app, endpoint=plan.endpoint, opts=in_cluster
    )
    pulumi.export("dbNamespace", namespaces.database)
    pulumi.export(DEPLOYED_OUTPUT, database.rw_service)
    pulumi.export("dbOwnerSecret", database.owner_secret_name)
    # through the checks: a refused update must not record the refused values as the last update's
    pulumi.export(STORAGE_OUTPUT, checked.apply(lambda _: settings.database.storage_size))
    pulumi.export(MAJOR_OUTPUT, checked.apply(lambda _: settings.database.postgres_major))
    if database.superuser_secret_name:
        pulumi.export("dbSuperuserSecret", database.superuser_secret_name)
    pulumi.export("appServiceHost", app.service_host)
    pulumi.export("appReplicas", plan.app_replicas)
    pulumi.export("endpoint", plan.endpoint.value)
    pulumi.export("apiBase", api_base(settings.exposure, front_door.host))
    pulumi.export("clientAccess", client_access(settings.exposure, namespaces.app, plan.endpoint))
    if settings.stage is Stage.RESTORE:
        pulumi.export("restoreTarget", restore_target(namespaces.database, database.owner_secret_name))


async def _refuse_when_deployed() -> None:
    try:
        check_not_deployed(await last_outputs(), DEPLOYED_OUTPUT)
    except Refusal as refusal:
        raise pulumi.RunError(str(refusal)) from None


async def _checked_against_last_update(settings: Settings, now: datetime) -> bool:
    """What only the last update's outputs can tell (a volume size or a PostgreSQL major that changed). The
    Cluster's spec waits for it, so a refusal leaves the Cluster as it is."""
    outputs = await last_outputs()
    try:
        check_storage_size(outputs, STORAGE_OUTPUT, settings.database)
        check_major_upgrade(outputs, MAJOR_OUTPUT, settings, now)
    except Refusal as refusal:
        raise pulumi.RunError(str(refusal)) from None
    return True


try:
    main()
except Refusal as refusal:
    raise pulumi.RunError(str(refusal)) from None
