"""``kawamori simulate …``: virtual gauges, firmware fleets and scenario files (the
simulator's own commands, added to the ``kawamori`` command by ``kawamori_app``)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from kawamori.cli_support import services as _runtime
from kawamori.cli_support import settings as _settings

console = Console(stderr=True)

app = typer.Typer(invoke_without_command=True, no_args_is_help=False)


@app.callback()
def simulate(
    ctx: typer.Context,
    interval: Annotated[float, typer.Option(help="Seconds between readings of each gauge")] = 10.0,
    rounds: Annotated[int | None, typer.Option(help="Stop after this many rounds")] = None,
    typhoon: Annotated[bool, typer.Option(help="Start a typhoon flood event now")] = False,
    peak_minutes: Annotated[float, typer.Option(help="Minutes from start to the upstream peak")] = 20.0,
    network_file: Annotated[
        Path | None, typer.Option("--network", help="Network file (default: the demo network)")
    ] = None,
) -> None:
    """Publish readings from virtual gauges over MQTT, each with its own credentials.

    With [bold]--typhoon[/bold] while the demo's simulator is running, the typhoon is
    handed to it. Example: [bold]kawamori simulate --typhoon --peak-minutes 15[/bold]
    """
    from alerts.rules import RuleSettings
    from kawamori.network import DEMO_NETWORK, read_network

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
    network = read_network(network_file or DEMO_NETWORK, check_rules=RuleSettings.for_station)

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


@app.command("fleet")
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

    from kawamori import db
    from kawamori.broker_auth import accounts_at, reload_embedded_broker
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


@app.command("validate")
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


@app.command("check")
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

    from kawamori import logs
    from kawamori.embedded import EmbeddedError
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
