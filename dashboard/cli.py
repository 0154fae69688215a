"""``kawamori dashboard``: serve the dashboard and API (the dashboard's own command,
added to the ``kawamori`` command by ``kawamori_app``)."""

from __future__ import annotations

from kawamori.cli_support import console, fail
from kawamori.cli_support import services as _runtime
from kawamori.cli_support import settings as _settings


def dashboard() -> None:
    """Serve the dashboard and API. Example: [bold]KAWAMORI_DASHBOARD_PORT=8080 kawamori dashboard[/bold]"""
    import uvicorn

    from alerts.policy import PolicyError, configured_policy
    from dashboard.main import BasemapError, basemap_from_settings, create_app
    from dashboard.routers.residents import ResidentConfig
    from dashboard.security import SecurityConfig
    from kawamori.settings import MqttEndpoint
    from notify.errors import SubscriberKeyError
    from shelters.crowding import parse_bands

    settings = _settings()
    try:
        residents_config = ResidentConfig.from_settings(settings)
        policy = configured_policy(settings.alert_policy)
        basemap = basemap_from_settings(settings)
    except (SubscriberKeyError, PolicyError, BasemapError) as error:
        raise fail(console, error) from None
    runtime = _runtime(settings)
    broker = MqttEndpoint(runtime.mqtt_url)  # its address only, for /api/health
    uvicorn.run(
        create_app(
            runtime.database_url,
            broker_address=(broker.host, broker.port),
            production=settings.environment == "production",
            shelter_bands=parse_bands(settings.shelter_crowding_bands),
            public_url=settings.public_url,
            cap_sender_name=settings.cap_sender_name,
            cap_sender=settings.cap_sender,
            policy=policy,
            residents_config=residents_config,
            security=SecurityConfig.from_settings(settings),
            basemap=basemap,
            zone=settings.zone,
        ),
        host=settings.dashboard_host,
        port=settings.dashboard_port,
        log_level="warning",
        # X-Forwarded-For/-Proto only from the addresses in FORWARDED_ALLOW_IPS (uvicorn's
        # setting; default 127.0.0.1): compose sets it to the TLS proxy's fixed address
        proxy_headers=True,
    )
