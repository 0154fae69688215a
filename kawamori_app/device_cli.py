"""``kawamori device``: provision and flash sensor boards (a thin layer over
:mod:`kawamori_app.devices`)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import typer
from rich.console import Console

from kawamori import db
from kawamori.broker_auth import accounts_at, reload_embedded_broker
from kawamori_app import devices

device_app = typer.Typer(help="Sensor boards: register, provision and flash them.", no_args_is_help=True)
console = Console(stderr=True)
BOARD_CONFIG = Path("firmware/config.py")


@contextmanager
def _refusals() -> Iterator[None]:
    """A refused registration is a clean message and exit code 2."""
    try:
        yield
    except devices.DeviceError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None


def _publish(prefix: str, mqtt_url: str, messages: list[tuple[str, bytes, bool]]) -> None:
    """Publish ``(topic, payload, retain)`` as the ``<prefix>-config`` service account,
    each acknowledged by the broker; a broker problem is a clean message, exit 1."""
    from kawamori.broker_auth import service_url
    from kawamori.messages import MqttError
    from kawamori.mqtt_direct import DirectConnection

    client_id = f"{prefix}-config"
    connection = DirectConnection(service_url(mqtt_url, client_id), client_id, persistent=False)
    try:
        connection.open(wait_s=10)
        for topic, payload, retain in messages:
            connection.publish_confirmed(topic, payload, retain=retain, wait_s=10)
    except MqttError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(1) from None
    finally:
        connection.close()


@device_app.command("add")
def add(
    station: Annotated[str, typer.Argument(help="The station the board measures for")],
    device: Annotated[str | None, typer.Option(help="Device id (default: <station>-<random hex>)")] = None,
    out: Annotated[Path, typer.Option(help="Where to write the board's config.py")] = BOARD_CONFIG,
    broker_host: Annotated[str | None, typer.Option(help="Broker host the board connects to")] = None,
    broker_port: Annotated[int, typer.Option(help="Broker port (8883 for MQTT over TLS)")] = 8883,
    tls: Annotated[bool, typer.Option(help="Connect with TLS (copy the CA file with flash --ca)")] = True,
    wifi_ssid: Annotated[str, typer.Option(help="Wi-Fi network at the site")] = "",
    wifi_key: Annotated[str, typer.Option(help="Wi-Fi password", envvar="KAWAMORI_WIFI_KEY")] = "",
    sensor: Annotated[str, typer.Option(help="a02yyuw | jsn-sr04t | pressure")] = "a02yyuw",
    accounts: Annotated[
        Path | None, typer.Option(help="The broker's accounts folder (production; default: embedded broker)")
    ] = None,
    secrets: Annotated[
        Path | None,
        typer.Option(
            help="File of the devices' plain passwords, kept apart from the folder the broker reads "
            "(default: secrets.json in the accounts folder)",
            envvar="KAWAMORI_BROKER_SECRETS",
        ),
    ] = None,
    rotate: Annotated[bool, typer.Option(help="Give an existing device a new password")] = False,
    update_key: Annotated[
        str | None,
        typer.Option(
            help="Public key (hex) that signs its firmware updates: from `kawamori device update-key`"
        ),
    ] = None,
    note: Annotated[str, typer.Option(help="A note, e.g. the board's label")] = "",
) -> None:
    """Register a board for a station with its own broker account; write its config.py.

    The password is random (never derived from a serial number); config.py is mode 0600.
    Example: [bold]kawamori device add kyoden-chiwara --broker-host mqtt.example --wifi-ssid gauges[/bold]
    """
    from kawamori.cli_support import services as _runtime
    from kawamori.cli_support import settings as _settings

    if sensor not in ("a02yyuw", "jsn-sr04t", "pressure"):
        raise typer.BadParameter("sensor must be a02yyuw, jsn-sr04t or pressure", param_hint="--sensor")
    settings = _settings()
    runtime = _runtime(settings)
    folder = accounts or (Path(runtime.accounts_dir) if runtime.accounts_dir else None)
    if folder is None:
        console.print("[red]Give the broker's accounts folder with --accounts DIR.[/red]")
        raise typer.Exit(2)
    with _refusals(), db.connect(runtime.database_url) as conn:
        registered = devices.register(
            conn,
            accounts_at(folder, secrets),
            station_id=station,
            device_id=device,
            note=note,
            rotate=rotate,
        )
    host = broker_host or urlsplit(runtime.mqtt_url).hostname or "localhost"
    text = devices.board_config(
        registered,
        broker_host=host,
        broker_port=broker_port,
        tls=tls,
        wifi_ssid=wifi_ssid,
        wifi_key=wifi_key,
        sensor=sensor,
        not_before=int(time.time()),
        update_key=update_key,
    )
    devices.write_secret(out, text)
    if accounts is None and reload_embedded_broker(folder):
        console.print("Embedded broker reloaded.")
    else:
        console.print(
            "Reload the broker so it knows the account: send Mosquitto SIGHUP "
            "(docker compose kill -s SIGHUP mosquitto)."
        )
    console.print(f"Device [bold]{registered.device_id}[/bold] at {station}; board config in {out}")
    print(registered.device_id)


@device_app.command("lorawan")
def lorawan_add(
    station: Annotated[str, typer.Argument(help="The station the gauge measures for")],
    dev_eui: Annotated[str, typer.Option(help="The gauge's DevEUI (16 hex digits, from its label)")],
    server: Annotated[str, typer.Option(help="chirpstack | tts (The Things Stack)")],
    application: Annotated[
        str, typer.Option(help="The network server's application id (TTS: app@tenant as in its topics)")
    ],
    ns_device: Annotated[str | None, typer.Option(help="The Things Stack's device id for the gauge")] = None,
    device: Annotated[str | None, typer.Option(help="Device id (default: <station>-<random hex>)")] = None,
    note: Annotated[str, typer.Option(help="A note, e.g. the board's label")] = "",
) -> None:
    """Register a LoRaWAN gauge for a station: map its DevEUI to a device id.

    Its readings arrive through the network server's MQTT integration (see
    firmware/HARDWARE.md); firmware/lorawan/codec.js is the payload formatter to install there.
    Example: [bold]kawamori device lorawan kyoden-chiwara --dev-eui 70B3D57ED0052C1A --server chirpstack
    --application 3f0b6c0e-8a4d-4a53-9c8e-6b1f0c2d7e51[/bold]
    """
    from kawamori.cli_support import services as _runtime
    from kawamori.cli_support import settings as _settings

    runtime = _runtime(_settings())
    with _refusals(), db.connect(runtime.database_url) as conn:
        device_id = devices.register_lorawan(
            conn,
            station_id=station,
            dev_eui=dev_eui,
            server=server,
            application=application,
            ns_device=ns_device,
            device_id=device,
            note=note,
        )
    console.print(f"LoRaWAN gauge [bold]{device_id}[/bold] at {station} on {server}")
    print(device_id)


@device_app.command("config")
def config(
    device: Annotated[str, typer.Argument(help="The device to configure")],
    cfg: Annotated[int, typer.Option(help="Configuration version: must grow with every change")],
    settings: Annotated[list[str], typer.Argument(help="KEY=VALUE remote settings, e.g. slow_s=900")],
) -> None:
    """Change a gauge's remote configuration: a retained config message on MQTT, or a
    downlink through its LoRaWAN network server (at most two settings per downlink).

    Example: [bold]kawamori device config kyoden-chiwara-3fa2c1 --cfg 4 slow_s=900 fast_on_m=10.75[/bold]
    """
    from kawamori.cli_support import services as _runtime
    from kawamori.cli_support import settings as _settings

    values: dict[str, float] = {}
    for item in settings:
        key, sep, text = item.partition("=")
        try:
            values[key] = int(text) if text.lstrip("-").isdigit() else float(text)
        except ValueError:
            sep = ""
        if not sep:
            raise typer.BadParameter(f"{item!r} is not KEY=NUMBER", param_hint="SETTINGS")
    app_settings = _settings()
    runtime = _runtime(app_settings)
    with _refusals(), db.connect(runtime.database_url) as conn:
        topic, payload, retain = devices.config_message(conn, device, cfg, values)
    _publish(app_settings.mqtt_client_prefix, runtime.mqtt_url, [(topic, payload, retain)])
    console.print(f"Configuration {cfg} for {device} published on {topic}")


@device_app.command("update-key")
def update_key_command(
    out: Annotated[
        Path, typer.Option(help="Where to write the private key (mode 0600; keep it off the server)")
    ],
) -> None:
    """Make the key that signs firmware updates; prints the public key for config.py.

    Give the public key to `kawamori device add --update-key` (or as update_key in config.py).
    Example: [bold]kawamori device update-key --out ~/kawamori-update-key.pem[/bold]
    """
    from kawamori_app import updates

    if out.exists():
        console.print(f"[red]{out} exists; refusing to replace a signing key.[/red]")
        raise typer.Exit(2)
    pem, public = updates.new_key()
    devices.write_secret(out, pem.decode())
    console.print(f"Private key written to {out}; the gauges' update_key:")
    print(public)


@device_app.command("update")
def update_command(
    device: Annotated[str, typer.Argument(help="The gauge to update")],
    key: Annotated[Path, typer.Option(help="The update key's private PEM file")],
    board: Annotated[str, typer.Option(help="esp32 | picow (bytecode architecture)")] = "esp32",
    compile_: Annotated[
        bool, typer.Option("--compile/--no-compile", help="Send .mpy (as flash does) or sources")
    ] = True,
) -> None:
    """Offer a gauge the firmware in firmware/, signed: it checks the signature and every
    file's SHA-256 before installing, and rolls back if the new version does not get a
    reading confirmed.

    Bump FIRMWARE in firmware/settings.py first: a gauge takes only a version it is not running.
    Example: [bold]kawamori device update kyoden-chiwara-3fa2c1 --key ~/kawamori-update-key.pem[/bold]
    """
    import tempfile

    from kawamori.cli_support import services as _runtime
    from kawamori.cli_support import settings as _settings
    from kawamori_app import updates

    if board not in devices.BOARDS:
        raise typer.BadParameter("board must be esp32 or picow", param_hint="--board")
    app_settings = _settings()
    runtime = _runtime(app_settings)
    with _refusals():
        signing = updates.load_key(key.read_bytes())
        with tempfile.TemporaryDirectory() as build:
            files = updates.firmware_files(build_dir=Path(build), compile_=compile_, board=board)
        version = updates.firmware_version()
        with db.connect(runtime.database_url) as conn:
            if conn.execute("SELECT 1 FROM devices WHERE id = %s", (device,)).fetchone() is None:
                raise devices.DeviceError(f"no device {device!r}")
    offer = [(topic, payload, True) for topic, payload in updates.messages(device, signing, version, files)]
    _publish(app_settings.mqtt_client_prefix, runtime.mqtt_url, offer)
    console.print(
        f"Firmware {version} ({len(files)} files) offered to {device}; it installs at its next uplink."
    )


@device_app.command("rotate")
def rotate(
    device: Annotated[str, typer.Argument(help="The gauge whose credentials change")],
    accounts: Annotated[
        Path | None, typer.Option(help="The broker's accounts folder (production; default: embedded broker)")
    ] = None,
    secrets: Annotated[
        Path | None,
        typer.Option(help="File of the devices' plain passwords", envvar="KAWAMORI_BROKER_SECRETS"),
    ] = None,
    wifi_ssid: Annotated[str | None, typer.Option(help="A new Wi-Fi network for the gauge")] = None,
    wifi_key: Annotated[str | None, typer.Option(help="Its password", envvar="KAWAMORI_WIFI_KEY")] = None,
    finish: Annotated[bool, typer.Option(help="Switch the broker to the new password")] = False,
    force: Annotated[bool, typer.Option(help="With --finish: even if the gauge has not confirmed")] = False,
) -> None:
    """Give a gauge a new broker password (and Wi-Fi) in the field, in two steps.

    First the new credentials go to the gauge, sealed with its current password; its
    status then reports rot=N. Then --finish switches the broker. The gauge tries the new
    ones first and the old ones right after, so it is never locked out.
    Example: [bold]kawamori device rotate kyoden-chiwara-3fa2c1[/bold], later with [bold]--finish[/bold]
    """
    from kawamori.cli_support import services as _runtime
    from kawamori.cli_support import settings as _settings

    app_settings = _settings()
    runtime = _runtime(app_settings)
    folder = accounts or (Path(runtime.accounts_dir) if runtime.accounts_dir else None)
    if folder is None:
        console.print("[red]Give the broker's accounts folder with --accounts DIR.[/red]")
        raise typer.Exit(2)
    store = accounts_at(folder, secrets)
    topic = f"kawamori/v1/{device}/secret"
    with _refusals():
        if finish:
            with db.connect(runtime.database_url) as conn:
                row = conn.execute(
                    "SELECT (extra->>'rot')::int FROM device_status WHERE device_id = %s", (device,)
                ).fetchone()
            number = devices.finish_rotation(store, device, row[0] if row else None, force=force)
            payload = b""  # the sealed secret is no longer needed: clear the retained message
        else:
            number, payload = devices.start_rotation(store, device, wifi_ssid=wifi_ssid, wifi_key=wifi_key)
    _publish(app_settings.mqtt_client_prefix, runtime.mqtt_url, [(topic, payload, True)])
    if finish:
        if accounts is None and reload_embedded_broker(folder):
            console.print(f"Rotation {number} of {device} done; embedded broker reloaded.")
        else:
            console.print(f"Rotation {number} of {device} done: send Mosquitto SIGHUP to load it.")
    else:
        console.print(
            f"Rotation {number} sent to {device}; when its status shows rot={number}, run --finish."
        )


@device_app.command("flash")
def flash(
    config: Annotated[Path, typer.Option(help="The board's config.py")] = BOARD_CONFIG,
    port: Annotated[str, typer.Option(help="Serial port, or 'auto'")] = "auto",
    board: Annotated[str, typer.Option(help="esp32 | picow (bytecode architecture)")] = "esp32",
    compile_: Annotated[
        bool, typer.Option("--compile/--no-compile", help="Compile with mpy-cross (MicroPython ≥ 1.23)")
    ] = True,
    ca: Annotated[Path | None, typer.Option(help="The broker's CA certificate, copied as ca.crt")] = None,
    dry_run: Annotated[bool, typer.Option(help="List what would be copied; touch nothing")] = False,
) -> None:
    """Compile the firmware with mpy-cross and copy it to a board on USB with mpremote.

    Copies config.py and the broker's CA file too, then restarts the board.
    Example: [bold]kawamori device flash --port /dev/ttyUSB0 --ca deploy/mosquitto/certs/ca.crt[/bold]
    """
    if board not in devices.BOARDS:
        raise typer.BadParameter("board must be esp32 or picow", param_hint="--board")
    if dry_run:
        copies = devices.plan_copies(config, build_dir=Path("build"), compile_=compile_, ca_file=ca)
        for copy in copies:
            how = f"compiled for {board}" if copy.source.suffix == ".mpy" else "as is"
            print(f"{copy.origin} -> {copy.target} ({how})")
        print("would run: " + " ".join(devices.mpremote_command(copies, port)[:3]) + " …")
        return
    try:
        copies = devices.flash(config, port=port, board=board, compile_=compile_, ca_file=ca)
    except devices.DeviceError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(1) from None
    console.print(f"Copied {len(copies)} files; the board restarted.")
