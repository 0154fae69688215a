"""One settings class for every Kawamori process.

Values come from ``KAWAMORI_*`` environment variables (or a ``.env`` file), are
validated once at start-up and passed explicitly from there on. When the
database or broker URL is unset the embedded defaults are used: a PostgreSQL
cluster and a Mosquitto broker managed by ``kawamori up`` inside ``data_dir``.
"""

from __future__ import annotations

import base64
import re
import socket
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Environment(StrEnum):
    development = "development"
    production = "production"


class Settings(BaseSettings):
    # env_ignore_empty: ``VAR=`` (as deploy/env.example lists the optional channels) is unset
    model_config = SettingsConfigDict(
        env_prefix="KAWAMORI_", env_file=".env", extra="ignore", env_ignore_empty=True
    )

    environment: Environment = Environment.development
    data_dir: Path = Field(default=Path(".kawamori"), description="Embedded services' state")
    database_url: str | None = Field(
        default=None, description="postgresql://… ; unset: the embedded PostgreSQL"
    )
    mqtt_url: str | None = Field(
        default=None, description="mqtt://user:password@host:port ; unset: the embedded broker"
    )
    mqtt_client_prefix: str = "kawamori"
    dashboard_host: str = "127.0.0.1"
    dashboard_port: int = Field(default=8700, ge=0, le=65535)
    timescale_compress_after_days: int = Field(default=7, ge=1)
    timescale_retain_years: int = Field(default=10, ge=1)
    max_payload_bytes: int = Field(default=65_536, ge=256)
    log_format: str = Field(default="console", pattern="^(console|json)$")
    shelter_crowding_bands: str = Field(
        default="30,60,80",
        description="Percent of capacity where a shelter becomes somewhat crowded, crowded, full",
    )
    cap_sender: str = Field(
        default_factory=lambda: f"kawamori@{socket.gethostname() or 'localhost'}",
        description="CAP <sender>: globally unique id of this installation, e.g. kawamori@city.example.lg.jp",
    )
    cap_sender_name: str = Field(
        default="川守 Kawamori", min_length=1, description="CAP <senderName>: who issues the alerts"
    )
    alert_policy: Path | None = Field(
        default=None,
        description="YAML file of the municipality's approval policy (docs/alerts.md): which levels go out "
        "by themselves, which need one or two approvers, from which level lowering is staff's; the "
        "evaluator and the dashboard read the same file",
    )
    time_zone: str = Field(
        default="Asia/Tokyo",
        description="The city's IANA time zone (e.g. Asia/Tokyo, Pacific/Guam): times shown to people in "
        "pages, messages, CAP and logs for people, and times without an offset in imported files",
    )
    public_url: str | None = Field(
        default=None,
        description="https://… the dashboard's public address: links in residents' messages, CAP and Atom; "
        "required in production",
    )

    @field_validator("time_zone")
    @classmethod
    def _time_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"KAWAMORI_TIME_ZONE {value!r} is not a time zone name (e.g. Asia/Tokyo)"
            ) from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        """The city's time zone (``time_zone``)."""
        return ZoneInfo(self.time_zone)

    @field_validator("cap_sender")
    @classmethod
    def _cap_sender(cls, value: str) -> str:
        if not re.fullmatch(r"[^\s,<&]+", value):
            raise ValueError("KAWAMORI_CAP_SENDER must have no spaces, commas, '<' or '&' (CAP 1.2)")
        return value

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.hostname or parts.query or parts.fragment:
            raise ValueError("KAWAMORI_PUBLIC_URL must be an http(s):// address without query")
        return value.rstrip("/")

    # resident notification channels (docs/notifications.md); a channel is enabled when
    # its first setting (VAPID subject, LINE token, SMTP host, gateway URL) is set
    vapid_subject: str | None = Field(default=None, description="mailto: or https: contact for push services")
    vapid_private_key: SecretStr | None = None
    line_channel_access_token: SecretStr | None = None
    line_channel_secret: SecretStr | None = None
    line_api_base_url: str = "https://api.line.me"
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str | None = None
    smtp_starttls: bool = True
    gateway_url: str | None = None
    gateway_secret: SecretStr | None = None
    notify_timeout_s: float = Field(default=10.0, gt=0, le=120)
    subscriber_key: SecretStr | None = Field(
        default=None,
        description="base64 of 32 random bytes: seals residents' addresses (kawamori notify subscriber-key); "
        "required in production; unset in development: the key file `kawamori up` writes in the data dir",
    )
    subscribe_limit_per_hour: int = Field(
        default=10, ge=1, le=10_000, description="Subscribe requests per client address per hour"
    )
    # residents during a disaster (docs/residents.md)
    city_phone: str | None = Field(
        default=None, max_length=40, description="The city's disaster line, e.g. 0235-25-2111"
    )
    line_friend_url: str | None = Field(
        default=None, description="https:// link that adds the city's LINE official account as a friend"
    )
    name_readings: Path | None = Field(
        default=None, description="YAML of words and their kana readings: furigana on やさしい日本語 pages"
    )
    rescue_retention_days: int = Field(
        default=30, ge=1, le=3650, description="Days check-ins and closed rescue requests are kept"
    )
    # web and API hardening (docs/operations.md, "Security settings")
    max_body_bytes: int = Field(
        default=1_048_576, ge=4096, le=64 * 1_048_576, description="Largest request body the dashboard reads"
    )
    staff_require_totp: bool = Field(
        default=False,
        description="Approvers and admins must sign in with a TOTP code (kawamori staff totp); "
        "recommended in production",
    )
    push_hosts: str = Field(
        default="",
        description="Comma-separated push services residents' browsers may use (host names; a leading "
        "'.' allows sub-domains), e.g. .push.services.mozilla.com,fcm.googleapis.com; empty: any public host",
    )
    push_private_addresses: bool = Field(
        default=False,
        description="Let Web Push endpoints be private addresses (local test push services; refused in "
        "production)",
    )

    # the staff map's basemap (docs/staff.md, "The basemap"); checked at start-up
    map_basemap: str = Field(
        default="gsi-pale",
        description="gsi-std, gsi-pale, gsi-photo (地理院タイル), xyz (KAWAMORI_MAP_TILE_URL), pmtiles "
        "(KAWAMORI_MAP_PMTILES, served by the dashboard) or none",
    )
    map_tile_url: str | None = Field(
        default=None, description="https://tiles.city.example.lg.jp/{z}/{x}/{y}.png : the city's tile server"
    )
    map_tile_attribution: str | None = Field(
        default=None, description="Whose map the tiles are (plain text), for xyz and pmtiles"
    )
    map_pmtiles: Path | None = Field(default=None, description="A raster .pmtiles file for offline maps")
    map_max_zoom: int | None = Field(default=None, ge=0, le=24, description="The xyz server's highest zoom")

    @field_validator("database_url")
    @classmethod
    def _postgres_only(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme not in {"postgresql", "postgres"}:
            raise ValueError("KAWAMORI_DATABASE_URL must be a postgresql:// URL")
        return value

    @field_validator("mqtt_url")
    @classmethod
    def _mqtt_only(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme not in {"mqtt", "mqtts"}:
            raise ValueError("KAWAMORI_MQTT_URL must be an mqtt:// or mqtts:// URL")
        return value

    @field_validator("shelter_crowding_bands")
    @classmethod
    def _three_ascending_percentages(cls, value: str) -> str:
        try:
            numbers = [float(part) for part in value.split(",")]
        except ValueError:
            numbers = []
        if len(numbers) != 3 or not 0 < numbers[0] < numbers[1] < numbers[2] <= 100:
            raise ValueError(
                "KAWAMORI_SHELTER_CROWDING_BANDS must be three ascending percentages, e.g. 30,60,80"
            )
        return value

    @field_validator("vapid_subject")
    @classmethod
    def _vapid_contact(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("mailto:", "https://")):
            raise ValueError("KAWAMORI_VAPID_SUBJECT must be a mailto: or https:// URL")
        return value

    @field_validator("line_friend_url")
    @classmethod
    def _https_url(cls, value: str | None) -> str | None:
        if value is not None and (urlsplit(value).scheme != "https" or not urlsplit(value).netloc):
            raise ValueError("must be an https:// URL")
        return value

    @field_validator("line_api_base_url", "gateway_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and (
            urlsplit(value).scheme not in {"http", "https"} or not urlsplit(value).netloc
        ):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @field_validator("subscriber_key")
    @classmethod
    def _subscriber_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            try:
                raw = base64.b64decode(value.get_secret_value().strip(), validate=True)
            except ValueError:
                raw = b""
            if len(raw) != 32:
                raise ValueError(
                    "KAWAMORI_SUBSCRIBER_KEY must be base64 of 32 bytes (kawamori notify subscriber-key)"
                )
        return value

    @model_validator(mode="after")
    def _channels_are_complete(self) -> Settings:
        """An enabled channel needs its secrets: in production an empty or missing one
        refuses to start; its other settings are checked everywhere."""
        production = self.environment is Environment.production
        problems: list[str] = []

        def secret(name: str, minimum: int = 1) -> None:
            value: SecretStr | None = getattr(self, name)
            if production and (value is None or len(value.get_secret_value().strip()) < minimum):
                problems.append(f"KAWAMORI_{name.upper()} (at least {minimum} characters)")

        if self.vapid_subject or self.vapid_private_key:
            if not self.vapid_subject:
                problems.append("KAWAMORI_VAPID_SUBJECT")
            secret("vapid_private_key", 40)
        if self.line_channel_access_token or self.line_channel_secret:
            secret("line_channel_access_token")
            secret("line_channel_secret")
            if production and not self.line_api_base_url.startswith("https://"):
                problems.append("KAWAMORI_LINE_API_BASE_URL (https:// in production)")
        if self.smtp_host:
            if not self.smtp_from or "@" not in self.smtp_from:
                problems.append("KAWAMORI_SMTP_FROM (an e-mail address)")
            if self.smtp_user:
                secret("smtp_password")
        if self.gateway_url:
            secret("gateway_secret", 32)
            if production and not self.gateway_url.startswith("https://"):
                problems.append("KAWAMORI_GATEWAY_URL (https:// in production)")
        if problems:
            raise ValueError("notification channel settings missing or unsafe: " + ", ".join(problems))
        return self

    @model_validator(mode="after")
    def _production_needs_real_services(self) -> Settings:
        if self.environment is Environment.production:
            if self.push_private_addresses:
                raise ValueError("KAWAMORI_PUSH_PRIVATE_ADDRESSES is for tests; production refuses it")
            missing = [name for name in ("database_url", "mqtt_url") if getattr(self, name) is None]
            if missing:
                raise ValueError(
                    "production needs explicit "
                    + ", ".join(f"KAWAMORI_{m.upper()}" for m in missing)
                    + " (the embedded services are for development and demos)"
                )
            # a service that connects needs both; one that only checks the broker (the
            # dashboard's health) gets its address alone, not the ingest password
            mqtt = urlsplit(self.mqtt_url or "")
            if mqtt.username and not mqtt.password:
                raise ValueError("production MQTT needs a user and password in KAWAMORI_MQTT_URL")
            if "cap_sender" not in self.model_fields_set:
                raise ValueError(
                    "production needs KAWAMORI_CAP_SENDER: aggregators tell installations apart by it"
                )
            if self.public_url is None:
                raise ValueError(
                    "production needs KAWAMORI_PUBLIC_URL (https://… the address residents open): "
                    "the links in residents' messages are made with it"
                )
        return self

    @property
    def embedded(self) -> bool:
        return self.database_url is None or self.mqtt_url is None

    @property
    def links_url(self) -> str:
        """The base of the links in residents' messages: KAWAMORI_PUBLIC_URL (required
        in production), else the local dashboard (development)."""
        return self.public_url or f"http://localhost:{self.dashboard_port}"


class MqttEndpoint:
    """A parsed broker URL. Secrets stay out of ``repr``."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.tls = parts.scheme == "mqtts"
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (8883 if self.tls else 1883)
        self.username = parts.username
        self.password = SecretStr(parts.password) if parts.password else None

    def __repr__(self) -> str:
        return f"MqttEndpoint({'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port})"
