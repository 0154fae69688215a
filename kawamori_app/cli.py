"""The ``kawamori`` command: a thin layer over the Python API that turns errors into
clear messages and exit codes. Every command's help has an example."""

from __future__ import annotations

import os
import socket
import threading
import webbrowser
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from alerts.cli import app as alerts_app
from dashboard.cli import dashboard
from ingest.cli import ingest
from kawamori.cli_support import database_url, fail
from kawamori.cli_support import services as _runtime
from kawamori.cli_support import settings as _settings
from kawamori.settings import Settings
from kawamori_app.device_cli import device_app
from kawamori_app.staff_cli import staff_app
from notify.cli import app as notify_app
from rescue.cli import app as rescue_app
from shelters.cli import app as shelters_app
from simulator.cli import app as simulate_app

app = typer.Typer(
    help="Kawamori (川守): flood early warning from low-cost river gauges.\n\n"
    "低コスト水位計による洪水早期警戒。",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
network_app = typer.Typer(
    help="Stations, devices, shelters and alert areas from a file.", no_args_is_help=True
)
app.add_typer(network_app, name="network")
broker_app = typer.Typer(help="Broker accounts (passwords and ACLs).", no_args_is_help=True)
app.add_typer(broker_app, name="broker")
app.add_typer(shelters_app, name="shelters")
app.add_typer(device_app, name="device")
app.add_typer(notify_app, name="notify")
app.add_typer(staff_app, name="staff")
app.add_typer(rescue_app, name="rescue")
app.add_typer(alerts_app, name="alerts")
app.add_typer(simulate_app, name="simulate")
console = Console(stderr=True)


@app.command()
def up(
    demo: Annotated[bool, typer.Option(help="Load the demo network (Tsuruoka, 2 rivers)")] = True,
    simulate: Annotated[bool, typer.Option(help="Feed the demo network from virtual gauges")] = True,
    interval: Annotated[float, typer.Option(help="Seconds between simulated readings")] = 10.0,
    browser: Annotated[bool, typer.Option(help="Open the dashboard in a browser")] = True,
) -> None:
    """Run the whole platform on this machine and print the dashboard URL.

    Uses an embedded PostgreSQL and Mosquitto unless KAWAMORI_DATABASE_URL /
    KAWAMORI_MQTT_URL are set. Example: [bold]kawamori up --no-browser[/bold]
    """
    from alerts.rules import RuleSettings
    from kawamori.embedded import EmbeddedError
    from kawamori.network import DEMO_NETWORK, read_network
    from kawamori_app.stack import Stack, dashboard_url, run_stack

    settings = _settings()
    network = read_network(DEMO_NETWORK, check_rules=RuleSettings.for_station) if demo else None
    with socket.socket() as probe:
        if probe.connect_ex((settings.dashboard_host, settings.dashboard_port)) == 0:
            console.print(
                f"[red]Port {settings.dashboard_port} is in use.[/red] "
                "Stop the other program or set KAWAMORI_DASHBOARD_PORT."
            )
            raise typer.Exit(2)
    stack = Stack(settings, network, simulate=simulate and demo, simulate_interval_s=interval)
    url = dashboard_url(settings)

    def ready() -> None:
        console.rule("[bold green]Kawamori is running / 川守 稼働中")
        console.print(f"Dashboard / ダッシュボード: [bold link={url}]{url}[/]")
        if stack.first_admin is not None:
            username, password, path = stack.first_admin
            console.print(
                f"Staff sign-in / 職員ログイン: {url}staff/login — user [bold]{username}[/bold], "
                f"password / パスワード [bold]{password}[/bold]\n"
                f"(shown once; also in {path}, readable only by you. Create personal accounts with "
                "kawamori staff add. / この表示は一度だけです)"
            )
        else:
            console.print(
                f"Staff sign-in / 職員ログイン: {url}staff/login (new accounts: kawamori staff add; "
                "a forgotten password: kawamori staff password / パスワードを忘れたとき)"
            )
        console.print("Stop with Ctrl-C / 停止: Ctrl-C")
        if browser and (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            threading.Thread(target=webbrowser.open, args=(url,), daemon=True).start()  # it answers now

    try:
        run_stack(stack, on_ready=ready)
    except EmbeddedError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(1) from None


@app.command()
def migrate() -> None:
    """Apply database migrations (idempotent), as the migration role (the schema's owner),
    and set the services' role passwords given in KAWAMORI_DB_PASSWORD_<SERVICE>.

    Example: [bold]kawamori migrate[/bold]"""
    from kawamori import db, roles

    settings = _settings()
    try:
        passwords = roles.passwords_from_env()
    except ValueError as error:
        raise fail(console, error) from None
    with db.connect(database_url()) as conn:  # the broker is not needed
        applied = db.migrate(conn)
        db.apply_timescale_policies(
            conn,
            compress_after_days=settings.timescale_compress_after_days,
            retain_years=settings.timescale_retain_years,
        )
        roles.set_passwords(conn, passwords)
    console.print(f"Applied: {applied or 'nothing (up to date)'}")
    if passwords:
        console.print(f"Role passwords set: {', '.join(roles.role(s) for s in sorted(passwords))}")


@network_app.command("load")
def network_load(path: Annotated[Path, typer.Argument(help="A network YAML file")]) -> None:
    """Apply a network file to the database. Example: [bold]kawamori network load river.yaml[/bold]"""
    from alerts.rules import RuleSettings
    from kawamori import db
    from kawamori.network import NetworkError, apply_network, read_network

    settings = _settings()
    try:
        network = read_network(path, check_rules=RuleSettings.for_station)
    except NetworkError as error:
        raise fail(console, error) from None
    with db.connect(_runtime(settings).database_url) as conn:
        counts = apply_network(conn, network)
    console.print(", ".join(f"{n} {kind}" for kind, n in counts.items()))


@network_app.command("check")
def network_check(path: Annotated[Path, typer.Argument(help="A network YAML file")]) -> None:
    """Validate a network file without touching the database.

    Example: [bold]kawamori network check river.yaml[/bold]
    """
    from alerts.rules import RuleSettings
    from kawamori.network import NetworkError, read_network

    try:
        network = read_network(path, check_rules=RuleSettings.for_station)
    except NetworkError as error:
        raise fail(console, error) from None
    console.print(f"OK: {len(network.stations)} stations, {len(network.devices)} devices")


@broker_app.command("init")
def broker_init(
    folder: Annotated[Path, typer.Option(help="Where Mosquitto's passwd and acl files live")],
    password_env: Annotated[
        str, typer.Option(help="Environment variable holding the ingest service's password")
    ] = "KAWAMORI_INGEST_MQTT_PASSWORD",
    secrets: Annotated[
        Path | None,
        typer.Option(
            help="File of the plain passwords, kept apart from the folder the broker reads "
            "(default: secrets.json in --folder)",
            envvar="KAWAMORI_BROKER_SECRETS",
        ),
    ] = None,
    ingest_workers: Annotated[
        int, typer.Option(min=1, help="Accounts for ingest workers 1…N (each named as its client id)")
    ] = 3,
) -> None:
    """Write the broker's service accounts, password files and ACLs (production set-up).

    Example: [bold]kawamori broker init --folder /broker --secrets /secrets/broker.json[/bold]
    """
    from kawamori.broker_auth import SERVICE_SECRET_USER, Accounts

    password = os.environ.get(password_env, "")
    if len(password) < 16:
        console.print(f"[red]{password_env} must hold a password of at least 16 characters.[/red]")
        raise typer.Exit(2)
    accounts = Accounts(folder, secrets_file=secrets)
    accounts.set(SERVICE_SECRET_USER, password, service=True)
    prefix = Settings.model_fields["mqtt_client_prefix"].default
    accounts.ensure_services(
        [
            *(f"{prefix}-ingest-{n}" for n in range(1, ingest_workers + 1)),
            f"{prefix}-shelters-1",
            f"{prefix}-config",  # `kawamori device config / update / rotate`
        ]
    )
    console.print(f"Broker accounts written to {folder}")


# the components' own single commands, after the root's (the order --help lists them in)
app.command()(ingest)
app.command()(dashboard)


def main() -> None:
    app()
