"""Where the services are: explicit settings, or what ``kawamori up`` recorded for
the embedded services in ``<data_dir>/services.json``."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from kawamori.broker_auth import Accounts
from kawamori.settings import Settings


class NotRunning(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Runtime:
    database_url: str
    mqtt_url: str  # the ingest service's account, on the services' listener
    accounts_dir: str | None = None  # embedded broker: the accounts (device passwords)
    device_url: str | None = None  # embedded broker: the devices' listener (no credentials)

    @property
    def devices_url(self) -> str:
        """Where gauges connect: the devices' listener when recorded, else the broker's host."""
        return self.device_url or self.mqtt_url

    def accounts(self) -> Accounts | None:
        return Accounts(Path(self.accounts_dir)) if self.accounts_dir else None


def services_file(settings: Settings) -> Path:
    return settings.data_dir.resolve() / "services.json"


def record(settings: Settings, runtime: Runtime) -> None:
    path = services_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(asdict(runtime), handle, indent=1)
    os.replace(path.with_suffix(".tmp"), path)


def database_url(settings: Settings) -> str:
    """The database alone, for commands that never touch the broker (``migrate``,
    ``shelters import`` …): KAWAMORI_DATABASE_URL, else the running embedded one. No
    MQTT URL is asked for."""
    if settings.database_url:
        return settings.database_url
    path = services_file(settings)
    if not path.exists():
        raise NotRunning(
            "No database configured and the embedded services are not running. "
            "Start them with `kawamori up`, or set KAWAMORI_DATABASE_URL."
        )
    return json.loads(path.read_text())["database_url"]


def resolve(settings: Settings) -> Runtime:
    recorded: dict = {}
    path = services_file(settings)
    if settings.embedded:
        if not path.exists():
            raise NotRunning(
                "No database/broker configured and the embedded services are not running. "
                "Start them with `kawamori up`, or set KAWAMORI_DATABASE_URL and KAWAMORI_MQTT_URL."
            )
        recorded = json.loads(path.read_text())
    return Runtime(
        database_url=settings.database_url or recorded["database_url"],
        mqtt_url=settings.mqtt_url or recorded["mqtt_url"],
        accounts_dir=recorded.get("accounts_dir") if settings.mqtt_url is None else None,
        device_url=recorded.get("device_url") if settings.mqtt_url is None else None,
    )
