"""Backups of state-hub-db (stage stabilise): the Barman Cloud plugin's object store and the schedule.

Pure: no Pulumi import. The target store is an open decision: until it is set, stage stabilise is
refused naming it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from statehub.policy.config_reader import ConfigReader
from statehub.policy.refusal import SettingsError

_DESTINATION = re.compile(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[^\s]*)?$")
_RETENTION = re.compile(r"^[1-9][0-9]*[dwm]$")
_SCHEDULE_EXAMPLE = "'0 0 3 * * *' (seconds first: daily at 03:00)"


@dataclass(frozen=True)
class BackupSettings:
    destination_path: str
    """`s3://bucket/path` of the object store."""
    endpoint_url: str | None
    """The S3 endpoint (a MinIO or other S3-compatible store); None for AWS itself."""
    credentials_secret: str
    """Secret in the database namespace with ACCESS_KEY_ID and ACCESS_SECRET_KEY (the platform makes it)."""
    retention: str
    """How long backups and WAL are kept (`30d`, `8w`, `6m`)."""
    schedule: str
    """cnpg's six-field schedule, seconds first."""
    store_port: int
    """TCP port of the store, opened in the instances' egress policy: the endpoint URL's (its explicit port, else
    443 for https and 80 for http; AWS: 443). A separate setting could only contradict it."""
    sidecar_cpu: str
    sidecar_memory: str
    """The plugin's sidecar in each instance pod, requests = limits: without them the pod loses Guaranteed QoS."""
    recovery_drill: bool
    """Render a throwaway Cluster recovered from the store, to compare with the live one."""
    server_name: str = "state-hub-db"
    """The folder under the destination that state-hub-db archives to (Barman's serverName)."""
    rebuild_from: str | None = None
    """The serverName whose backups and WAL state-hub-db is rebuilt from when its volume was lost (cnpg's
    `bootstrap.recovery`); None: state-hub-db is made by initdb, as always."""


def load_backup_settings(read: ConfigReader) -> BackupSettings:
    needed = "stage stabilise (backups of state-hub-db: an open decision)"
    destination = read.string("backupDestinationPath", example="s3://state-hub-backups/railiance01", needed_for=needed)
    if not _DESTINATION.match(destination):
        raise SettingsError(
            "backupDestinationPath", destination, "it must be s3://bucket[/path]", "s3://state-hub-backups/railiance01"
        )
    endpoint = read.optional_string("backupEndpointUrl")
    if endpoint is not None and not endpoint.startswith(("https://", "http://")):
        raise SettingsError(
            "backupEndpointUrl", endpoint, "it must be an http(s) URL", "https://minio.railiance.internal"
        )
    secret = read.string("backupCredentialsSecret", example="state-hub-backup-credentials", needed_for=needed)
    retention = read.string("backupRetention", example="30d", needed_for=needed)
    if not _RETENTION.match(retention):
        raise SettingsError(
            "backupRetention", retention, "it must be a number and d, w or m (days, weeks, months)", "30d"
        )
    schedule = read.string("backupSchedule", example=_SCHEDULE_EXAMPLE, needed_for=needed)
    fields = schedule.split()
    if len(fields) == 5:
        raise SettingsError(
            "backupSchedule",
            schedule,
            "cnpg's schedule has six fields, seconds first: read as seconds-first, this five-field crontab would "
            "run every hour, not once a day",
            _SCHEDULE_EXAMPLE,
        )
    if len(fields) != 6:
        raise SettingsError("backupSchedule", schedule, "it must have six fields, seconds first", _SCHEDULE_EXAMPLE)
    return BackupSettings(
        destination,
        endpoint,
        secret,
        retention,
        schedule,
        store_port(endpoint),
        read.quantity("backupSidecarCpu", example="200m"),
        read.quantity("backupSidecarMemory", example="256Mi"),
        read.boolean("recoveryDrill"),
        *_server_names(read),
    )


_SERVER_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def _server_names(read: ConfigReader) -> tuple[str, str | None]:
    """Where state-hub-db archives, and the backups it is rebuilt from: never the same folder (barman-cloud
    refuses to archive into a folder that holds another cluster's WAL, and the old timeline must stay intact
    until the rebuild is proven)."""
    server = read.string("backupServerName", example="state-hub-db", needed_for="stage stabilise")
    rebuild = read.optional_string("rebuildFromBackup")
    for key, name in (("backupServerName", server), ("rebuildFromBackup", rebuild)):
        if name is not None and not _SERVER_NAME.match(name):
            raise SettingsError(key, name, "it is not a folder name of the store (a-z, 0-9 and -)", "state-hub-db")
    if rebuild is not None and rebuild == server:
        raise SettingsError(
            "backupServerName",
            server,
            f"rebuilding from {rebuild!r}, state-hub-db must archive into another folder (the rebuilt cluster is a "
            "new timeline, and barman-cloud refuses a folder with WAL in it)",
            "state-hub-db-2",
        )
    return server, rebuild


def store_port(endpoint: str | None) -> int:
    """The TCP port the instances reach the store on, from its endpoint URL."""
    if endpoint is None:
        return 443
    parsed = urlsplit(endpoint)
    try:
        port = parsed.port
    except ValueError:
        raise SettingsError(
            "backupEndpointUrl",
            endpoint,
            "its port is not a number from 1 to 65535",
            "https://minio.railiance.internal:9000",
        ) from None
    return port or (443 if parsed.scheme == "https" else 80)
