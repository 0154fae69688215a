"""The ``kawamori`` command: a thin layer over the Python API that turns errors into
clear messages and exit codes. Every command's help has an example."""

from __future__ import annotations

import os
import socket
import threading
import webbrowser
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from kawamori import db, logs
from kawamori.cli_support import database_url, fail
from kawamori.device_cli import device_app
from kawamori.embedded import EmbeddedError
from kawamori.mqtt import MqttError
from kawamori.network import DEMO_NETWORK, NetworkError, read_network
from kawamori.runtime import NotRunning, Runtime, resolve
from kawamori.settings import Settings
from kawamori.staff_cli import staff_app
from notify.cli import app as notify_app
from rescue.cli import app as rescue_app
from shelters.cli import app as shelters_app

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
console = Console(stderr=True)


class ApproveMode(StrEnum):
    auto = "auto"
    never = "never"


def _policy(settings: Settings):
    """The municipality's approval policy (``KAWAMORI_ALERT_POLICY``), or the defaults."""
    from alerts.policy import ApprovalPolicy, load_policy

    return load_policy(settings.alert_policy) if settings.alert_policy else ApprovalPolicy()


def _settings() -> Settings:
    try:
        settings = Settings()
    except ValidationError as error:
        console.print(f"[red]Invalid settings:[/red]\n{error}")
        raise typer.Exit(2) from None
    logs.configure(settings.log_format)
    return settings


def _runtime(settings: Settings) -> Runtime:
    try:
        return resolve(settings)
    except NotRunning as error:
        raise fail(console, error) from None


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
    from kawamori.stack import Stack, dashboard_url, run_stack

    settings = _settings()
    network = read_network(DEMO_NETWORK) if demo else None
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
        console.print("Stop with Ctrl-C / 停止: Ctrl-C")
        if browser and (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            threading.Timer(2.0, webbrowser.open, (url,)).start()

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
    from kawamori import roles

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
    from kawamori.network import apply_network

    settings = _settings()
    try:
        network = read_network(path)
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
    try:
        network = read_network(path)
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
        [*(f"{prefix}-ingest-{n}" for n in range(1, ingest_workers + 1)), f"{prefix}-shelters-1"]
    )
    console.print(f"Broker accounts written to {folder}")


@app.command()
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


alerts_app = typer.Typer(invoke_without_command=True, no_args_is_help=False, rich_markup_mode="rich")
app.add_typer(alerts_app, name="alerts")


@alerts_app.callback()
def alerts(
    ctx: typer.Context,
    tick: Annotated[float, typer.Option(help="Seconds between full evaluations")] = 30.0,
    rules: Annotated[
        Path | None, typer.Option(help="YAML file of alert-rule settings for every station (docs/alerts.md)")
    ] = None,
) -> None:
    """Run the alert evaluator. Example: [bold]kawamori alerts --tick 30 --rules rules.yaml[/bold]"""
    if ctx.invoked_subcommand is not None:
        return
    import signal

    from alerts.policy import PolicyError
    from alerts.rules import RuleSettingsError, load_rules
    from alerts.service import run

    settings = _settings()
    try:
        base = load_rules(rules) if rules else None
        policy = _policy(settings)
    except (RuleSettingsError, PolicyError) as error:
        raise fail(console, error) from None
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    try:
        run(
            _runtime(settings).database_url,
            tick_s=tick,
            stopping=stopping,
            rules=base,
            sender=settings.cap_sender,
            policy=policy,
        )
    except KeyboardInterrupt:
        stopping.set()


@alerts_app.command("replay")
def alerts_replay(
    stations: Annotated[
        Path,
        typer.Option(help="stations.csv (crisis-gauge format) or a network YAML file (kawamori network)"),
    ],
    readings: Annotated[
        Path,
        typer.Option(
            help="Readings CSV (.gz too): station_id,time,level_m[,quality], or code,observed_at,level_m"
        ),
    ],
    network: Annotated[
        Path | None,
        typer.Option(help="Network YAML whose areas (and downstream relations) group the stations"),
    ] = None,
    rules: Annotated[
        Path | None, typer.Option(help="YAML file of alert-rule settings (docs/alerts.md)")
    ] = None,
    policy: Annotated[
        Path | None,
        typer.Option(
            help="YAML file of the approval policy (default: KAWAMORI_ALERT_POLICY, or the defaults)"
        ),
    ] = None,
    start: Annotated[
        str | None, typer.Option("--from", help="Replay readings from this time (ISO 8601)")
    ] = None,
    end: Annotated[str | None, typer.Option("--to", help="…up to this time (ISO 8601)")] = None,
    station: Annotated[
        list[str] | None, typer.Option(help="Only this station (repeat for more)", show_default=False)
    ] = None,
    approve: Annotated[
        ApproveMode, typer.Option(help="auto: staff approve every proposal at once; never: nobody acts")
    ] = ApproveMode.auto,
    timeline: Annotated[
        Path | None, typer.Option(help="Write every change a person would see here (JSON Lines)")
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar on stderr")] = True,
) -> None:
    """Replay a history of readings through the real alert rules and area decisions.

    Example: [bold]kawamori alerts replay --stations stations.csv --readings observations.csv.gz
    --approve auto --timeline timeline.jsonl[/bold]"""
    from alerts import replay_cli

    try:
        report = replay_cli.run(
            stations=stations,
            readings=readings,
            network=network,
            rules=rules,
            policy=policy,
            start=start,
            end=end,
            only=station or (),
            approve=approve.value,
            timeline=timeline,
            progress=console if progress else None,
        )
    except replay_cli.ReplayError as error:
        raise fail(console, error) from None
    replay_cli.print_report(Console(), report)


@app.command()
def dashboard() -> None:
    """Serve the dashboard and API. Example: [bold]KAWAMORI_DASHBOARD_PORT=8080 kawamori dashboard[/bold]"""
    import uvicorn

    from alerts.policy import PolicyError
    from dashboard.main import create_app
    from dashboard.routers.residents import ResidentConfig
    from dashboard.security import SecurityConfig
    from kawamori.settings import MqttEndpoint
    from notify.errors import SubscriberKeyError
    from shelters.crowding import parse_bands

    settings = _settings()
    try:
        residents_config = ResidentConfig.from_settings(settings)
        policy = _policy(settings)
    except (SubscriberKeyError, PolicyError) as error:
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
        ),
        host=settings.dashboard_host,
        port=settings.dashboard_port,
        log_level="warning",
        # X-Forwarded-For/-Proto only from the addresses in FORWARDED_ALLOW_IPS (uvicorn's
        # setting; default 127.0.0.1): compose sets it to the TLS proxy's fixed address
        proxy_headers=True,
    )


simulate_app = typer.Typer(invoke_without_command=True, no_args_is_help=False)
app.add_typer(simulate_app, name="simulate")


@simulate_app.callback()
def simulate(
    ctx: typer.Context,
    interval: Annotated[float, typer.Option(help="Seconds between readings of each gauge")] = 10.0,
    rounds: Annotated[int | None, typer.Option(help="Stop after this many rounds")] = None,
    typhoon: Annotated[bool, typer.Option(help="Start a typhoon flood event now")] = False,
    peak_minutes: Annotated[float, typer.Option(help="Minutes from start to the upstream peak")] = 20.0,
    network_file: Annotated[Path, typer.Option("--network", help="Network file")] = DEMO_NETWORK,
) -> None:
    """Publish readings from virtual gauges over MQTT, each with its own credentials.

    With [bold]--typhoon[/bold] while the demo's simulator is running, the typhoon is
    handed to it. Example: [bold]kawamori simulate --typhoon --peak-minutes 15[/bold]
    """
    if ctx.invoked_subcommand is not None:
        return
    from rich.progress import Progress

    from simulator.control import Control
    from simulator.fleet import run_fleet
    from simulator.hydrograph import Event

    settings = _settings()
    control = Control(settings.data_dir)
    if typhoon:
        event = Event(
            start=datetime.now(UTC),
            time_to_peak=timedelta(minutes=peak_minutes),
            lag_per_reach=timedelta(minutes=peak_minutes / 4),
        )
        running = control.running_fleet()
        if running is not None:
            control.add(event)
            console.print(
                f"Typhoon started on the running simulator (pid {running}); upstream peak in "
                f"{peak_minutes:g} min. / 台風イベントを開始しました。"
            )
            return
    elif control.running_fleet() is not None:
        console.print("[red]A simulator is already running for this data folder.[/red]")
        raise typer.Exit(2)
    runtime = _runtime(settings)
    accounts = runtime.accounts()
    if accounts is None:
        console.print("[red]Simulating against an external broker needs the devices' credentials.[/red]")
        raise typer.Exit(2)
    network = read_network(network_file)

    def password(device_id: str) -> str:
        secret = accounts.password(device_id)
        if secret is None:
            raise typer.BadParameter(f"no credentials for device {device_id}")
        return secret

    stopping = threading.Event()
    control.claim()
    if typhoon:
        control.add(event)
    try:
        with Progress(console=console, disable=rounds is None) as progress:
            task = progress.add_task("Publishing / 送信中", total=rounds)
            stats = run_fleet(
                list(network.stations),
                list(network.devices),
                broker_url=runtime.devices_url,
                password_for=password,
                interval_s=interval,
                events=control.events,
                count=rounds,
                stopping=stopping,
                on_round=lambda n: progress.update(task, completed=n),
            )
    except KeyboardInterrupt:
        stopping.set()
        return
    finally:
        control.release()
    table = Table(title="Simulator / シミュレータ")
    table.add_column("device")
    table.add_column("readings", justify="right")
    for device_id, n in sorted(stats.per_device.items()):
        table.add_row(device_id, str(n))
    table.add_row("failed / 失敗", str(stats.failed))
    Console().print(table)


@simulate_app.command("fleet")
def simulate_fleet(
    devices: Annotated[int, typer.Option(min=1, help="Virtual gauges to run")] = 100,
    minutes: Annotated[float, typer.Option(min=1, help="Minutes of virtual time to simulate")] = 60.0,
    accelerate: Annotated[
        float | None,
        typer.Option(min=1, help="Virtual time this many times faster than real (default: flat out)"),
    ] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker threads running the gauges")] = 64,
) -> None:
    """Run gauges that execute the real firmware (firmware/app.py), each with its own
    broker account, against the running stack, and show what the server acknowledged.

    Registers stations fleet-00001… (copies of the network's) with one device each,
    measures every 10 min and sends hourly like a real gauge; at the end each gauge
    sends what waits on its flash. Example: [bold]kawamori simulate fleet --devices 1000 --minutes 120[/bold]
    """
    import time

    from rich.progress import Progress, TimeElapsedColumn

    from kawamori.devices import accounts_at, reload_embedded_broker
    from kawamori.settings import MqttEndpoint
    from simulator.firmware_fleet import FirmwareFleet, start_for
    from simulator.fleet_setup import register_fleet

    settings = _settings()
    runtime = _runtime(settings)
    if runtime.accounts_dir is None:
        console.print("[red]A fleet needs the embedded broker's accounts (run `kawamori up`).[/red]")
        raise typer.Exit(2)
    accounts = accounts_at(Path(runtime.accounts_dir))
    endpoint = MqttEndpoint(runtime.devices_url)
    if endpoint.tls:
        console.print("[red]The firmware fleet speaks plain MQTT only.[/red]")
        raise typer.Exit(2)
    start = start_for(time.time(), minutes, accelerate)
    with db.connect(runtime.database_url) as conn:
        specs = register_fleet(
            conn, accounts, devices, installed_at=datetime.fromtimestamp(start, UTC) - timedelta(hours=1)
        )
    reload_embedded_broker(accounts.folder)
    time.sleep(0.5)  # the broker reads its password file
    site = {"broker_host": endpoint.host, "broker_port": endpoint.port, "tls": False}
    fleet = FirmwareFleet(
        specs, folder=settings.data_dir / "simulator" / "fleet", site=site, start=start, workers=workers
    )
    stopping = threading.Event()
    try:
        with Progress(*Progress.get_default_columns(), TimeElapsedColumn(), console=console) as progress:
            task = progress.add_task(f"{devices} gauges / 水位計", total=1.0)
            report = fleet.run(
                minutes=minutes,
                accelerate=accelerate,
                stopping=stopping,
                on_progress=lambda done: progress.update(task, completed=done),
            )
    except KeyboardInterrupt:
        stopping.set()
        raise typer.Exit(130) from None
    table = Table(title="Firmware fleet / ファームウェア群")
    for column in ("gauges", "readings", "acked", "uplinks", "errors", "wall s", "readings/s", "CPU s/1k"):
        table.add_column(column, justify="right")
    table.add_row(
        str(report.devices),
        f"{report.taken:,}",
        f"{report.acknowledged:,}",
        f"{report.uplinks:,}",
        str(report.errors),
        f"{report.wall_s:.1f}",
        f"{report.readings_per_s:,.0f}",
        f"{report.cpu_s_per_1000:.2f}",
    )
    Console().print(table)
    if report.last_error:
        console.print(f"last error: {report.last_error}")
    if report.acknowledged < report.taken:
        raise typer.Exit(1)


def _scenario_files(paths: list[Path]) -> list[Path]:
    files = []
    for path in paths:
        files += sorted(path.glob("*.yaml")) + sorted(path.glob("*.yml")) if path.is_dir() else [path]
    return files


@simulate_app.command("validate")
def simulate_validate(
    paths: Annotated[list[Path], typer.Argument(help="Scenario files, or folders of them")],
    timeline: Annotated[
        bool, typer.Option(help="Also print when each station's river reaches each stage")
    ] = False,
) -> None:
    """Check scenario files against the schema (docs/simulator.md) without running them.

    Example: [bold]kawamori simulate validate scenarios/ --timeline[/bold]
    """
    from simulator.plan import plan
    from simulator.scenario import ScenarioError, format_offset, load_scenario

    files = _scenario_files(paths)
    if not files:
        console.print("[red]No scenario files found.[/red]")
        raise typer.Exit(2)
    failed = 0
    for path in files:
        try:
            scenario = load_scenario(path)
        except ScenarioError as error:
            console.print(f"[red]{error}[/red]", highlight=False, soft_wrap=True)
            failed += 1
            continue
        console.print(
            f"OK {path}: {scenario.name} ({scenario.status}), {len(scenario.network.stations)} stations, "
            f"{len(scenario.faults)} faults, {len(scenario.expectations)} expectations",
            highlight=False,
            soft_wrap=True,
        )
        if timeline:
            table = Table(title=f"{scenario.name}: river timeline / 水位の推移")
            table.add_column("station")
            table.add_column("stage")
            table.add_column("reached at", justify="right")
            for station_id, river in plan(scenario).stations.items():
                for stage, when in river.crossings().items():
                    reached = "–" if when is None else format_offset(when - scenario.time.start)
                    table.add_row(station_id, stage, reached)
            Console().print(table)
    if failed:
        console.print(f"[red]{failed} of {len(files)} scenario file(s) invalid.[/red]")
        raise typer.Exit(2)


@simulate_app.command("check")
def simulate_check(
    paths: Annotated[list[Path], typer.Argument(help="Scenario files, or folders of them")],
    timeline: Annotated[bool, typer.Option(help="Also print each scenario's produced timeline")] = False,
) -> None:
    """Run each scenario against the real platform on an embedded PostgreSQL and
    Mosquitto in simulated time, compare what staff would see with its expectations,
    and exit non-zero on any mismatch (the CI gate; docs/simulator.md).

    Example: [bold]kawamori simulate check scenarios/ --timeline[/bold]
    """
    import logging

    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from simulator.check import check
    from simulator.check import timeline as produced_timeline
    from simulator.runner import RunnerError, embedded_stack, run_scenario
    from simulator.scenario import ScenarioError, format_offset, load_scenario

    logs.configure(level=logging.WARNING)
    files = _scenario_files(paths)
    if not files:
        console.print("[red]No scenario files found.[/red]")
        raise typer.Exit(2)
    scenarios = []
    for path in files:
        try:
            scenarios.append(load_scenario(path))
        except ScenarioError as error:
            console.print(f"[red]{error}[/red]", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
    failed: list[str] = []
    summary = Table(title="Scenarios / シナリオ")
    for column in ("scenario", "simulated", "wall", "expectations", "result"):
        summary.add_column(column, justify="left" if column == "scenario" else "right")
    try:
        with embedded_stack() as stack:
            for scenario in scenarios:
                with Progress(
                    TextColumn("{task.description}"),
                    BarColumn(),
                    TextColumn("{task.fields[at]}"),
                    TimeElapsedColumn(),
                    console=console,
                    transient=True,
                ) as progress:
                    task = progress.add_task(scenario.name, total=None, at="")
                    step = scenario.time.step

                    def advance(done: int, total: int, task=task, step=step) -> None:
                        progress.update(task, completed=done, total=total, at=format_offset(step * done))

                    outcome = run_scenario(scenario, stack, on_step=advance)
                verdicts = check(outcome)
                ok = all(v.ok for v in verdicts)
                table = Table(title=f"{scenario.name} ({scenario.status})", title_justify="left")
                table.add_column("")
                table.add_column("expectation")
                table.add_column("expected")
                table.add_column("produced")
                for verdict in verdicts:
                    mark = "[green]✓[/green]" if verdict.ok else "[red]✗[/red]"
                    table.add_row(mark, verdict.what, verdict.expected, verdict.produced)
                Console().print(table)
                if timeline:
                    for offset, text in produced_timeline(outcome):
                        console.print(
                            f"  {format_offset(offset):>8}  {text}", highlight=False, soft_wrap=True
                        )
                passed = sum(v.ok for v in verdicts)
                summary.add_row(
                    scenario.name,
                    format_offset(scenario.time.duration),
                    f"{outcome.wall_s:.1f} s",
                    f"{passed}/{len(verdicts)}",
                    "[green]pass[/green]" if ok else "[red]FAIL[/red]",
                )
                if not ok:
                    failed.append(scenario.name)
    except (RunnerError, EmbeddedError) as error:
        console.print(f"[red]The run failed: {error}[/red]")
        raise typer.Exit(2) from None
    Console().print(summary)
    if failed:
        console.print(f"[red]{len(failed)} of {len(scenarios)} scenario(s) failed: {', '.join(failed)}[/red]")
        raise typer.Exit(1)
    console.print(f"[green]All {len(scenarios)} scenario(s) behave as expected.[/green]")


def main() -> None:
    app()
