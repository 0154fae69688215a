"""``kawamori alerts …``: the alert evaluator and the replay (the alert engine's own
commands, added to the ``kawamori`` command by ``kawamori_app``)."""

from __future__ import annotations

import threading
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from kawamori.cli_support import fail
from kawamori.cli_support import services as _runtime
from kawamori.cli_support import settings as _settings

console = Console(stderr=True)


class ApproveMode(StrEnum):
    auto = "auto"
    never = "never"


app = typer.Typer(invoke_without_command=True, no_args_is_help=False, rich_markup_mode="rich")


@app.callback()
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

    from alerts.policy import PolicyError, configured_policy
    from alerts.rules import RuleSettingsError, load_rules
    from alerts.service import run

    settings = _settings()
    try:
        base = load_rules(rules) if rules else None
        policy = configured_policy(settings.alert_policy)
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


@app.command("replay")
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
