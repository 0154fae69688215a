"""``kawamori ingest``: an ingest worker (the ingest component's own command, added to
the ``kawamori`` command by ``kawamori_app``)."""

from __future__ import annotations

from typing import Annotated

import typer

from kawamori.cli_support import console
from kawamori.cli_support import services as _runtime
from kawamori.cli_support import settings as _settings


def ingest(
    worker: Annotated[
        str, typer.Option(help="Worker name; keep it fixed per worker (it names the session)")
    ] = "1",
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve /metrics and /health on this port (127.0.0.1)")
    ] = None,
    max_batch: Annotated[int, typer.Option(min=1, help="Messages per transaction at most")] = 1000,
    max_inflight: Annotated[
        int,
        typer.Option(min=1, max=65535, help="Unacknowledged messages the broker may send (Receive Maximum)"),
    ] = 2000,
    max_wait_ms: Annotated[float, typer.Option(min=0, help="Longest a message waits for its batch")] = 50,
    dead_after: Annotated[
        float,
        typer.Option(min=1, help="Seconds of silence after which another worker drains a worker's session"),
    ] = 30,
    heartbeat: Annotated[float, typer.Option(min=0.1, help="Seconds between heartbeats")] = 5,
) -> None:
    """Run an ingest worker (MQTT → PostgreSQL). Run several with different --worker names
    to share the load. Example: [bold]kawamori ingest --worker 2 --metrics-port 9612[/bold]"""
    import signal

    from ingest.service import IngestConfig, IngestWorker
    from kawamori.messages import MqttError
    from kawamori.settings import MqttEndpoint

    settings = _settings()
    runtime = _runtime(settings)
    if MqttEndpoint(runtime.mqtt_url).password is None:
        console.print("[red]Ingest needs the broker user and password in KAWAMORI_MQTT_URL.[/red]")
        raise typer.Exit(2)
    service = IngestWorker(
        IngestConfig(
            database_url=runtime.database_url,
            mqtt_url=runtime.mqtt_url,
            client_id=f"{settings.mqtt_client_prefix}-ingest-{worker}",
            max_payload_bytes=settings.max_payload_bytes,
            max_batch=max_batch,
            max_inflight=max_inflight,
            max_wait_s=max_wait_ms / 1000,
            dead_after_s=dead_after,
            heartbeat_s=heartbeat,
            metrics_port=metrics_port,
        )
    )
    signal.signal(signal.SIGTERM, lambda *_: service.stop())
    try:
        service.run()
    except KeyboardInterrupt:
        service.stop()
    except MqttError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(1) from None
