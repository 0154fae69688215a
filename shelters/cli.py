"""``kawamori shelters …``: import the registry, hand out access codes, assign door
counters, ask for the nearest shelters. A thin layer over the Python API."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from kawamori import db
from kawamori.cli_support import database_url, fail
from kawamori.model import Hazard
from shelters.errors import ShelterError

app = typer.Typer(help="Shelter registry, access codes and crowding (避難所).", no_args_is_help=True)
console = Console(stderr=True)


@app.command("import")
def import_file(
    path: Annotated[Path, typer.Argument(help="National-format CSV (UTF-8 or Shift_JIS) or GeoJSON")],
    check: Annotated[bool, typer.Option("--check", help="Validate only; do not touch the database")] = False,
) -> None:
    """Import designated shelters; importing the same file again changes nothing.

    Every bad row is reported with its line number and nothing is imported.
    Example: [bold]kawamori shelters import shelters/samples/tsuruoka-shelters.csv[/bold]
    """
    from shelters.opendata import parse_file
    from shelters.registry import import_shelters

    try:
        shelters = parse_file(path.name, path.read_bytes())
    except OSError as error:
        raise fail(console, error) from None
    except ShelterError as error:
        raise fail(console, error) from None
    if check:
        console.print(f"OK: {len(shelters)} shelters")
        return
    with db.connect(database_url()) as conn:
        summary = import_shelters(conn, shelters)
    console.print(f"{len(shelters)} shelters: {summary}")


@app.command("code")
def code(
    shelter_id: Annotated[str, typer.Argument(help="The shelter's id")],
) -> None:
    """Give a shelter a new access code for its staff page and print it.

    Only its hash is kept, so write it down; tablets signed in with the old code are
    signed out. Example: [bold]kawamori shelters code 062031-0001[/bold]
    """
    from shelters.sessions import set_access_code

    with db.connect(database_url()) as conn:
        try:
            new = set_access_code(conn, shelter_id=shelter_id)
        except ShelterError as error:
            raise fail(console, error) from None
    console.print(f"Access code for {shelter_id} / アクセスコード:")
    print(new)


@app.command("listen")
def listen(
    name: Annotated[str, typer.Option(help="Listener name; keep it fixed (it names the session)")] = "1",
) -> None:
    """Store door-counter counts from MQTT (kawamori/v1/<device>/count) as they arrive.

    Example: [bold]kawamori shelters listen[/bold]
    """
    import signal

    from kawamori.cli import _runtime, _settings
    from shelters.counters import CounterListener

    settings = _settings()
    runtime = _runtime(settings)
    listener = CounterListener(
        runtime.database_url, runtime.mqtt_url, f"{settings.mqtt_client_prefix}-shelters-{name}"
    )
    signal.signal(signal.SIGTERM, lambda *_: listener.stop())
    try:
        listener.run()
    except KeyboardInterrupt:
        listener.stop()


@app.command("counter")
def counter(
    device_id: Annotated[str, typer.Argument(help="The door counter's device id (its MQTT user)")],
    shelter_id: Annotated[str, typer.Argument(help="The shelter it counts people for")],
) -> None:
    """Make a device a door counter of a shelter.

    Example: [bold]kawamori shelters counter kw-door-01 062031-0001[/bold]
    """
    from shelters.occupancy import assign_counter

    with db.connect(database_url()) as conn:
        try:
            assign_counter(conn, device_id=device_id, shelter_id=shelter_id)
        except ShelterError as error:
            raise fail(console, error) from None
    console.print(f"{device_id} counts people at {shelter_id}")


@app.command("nearest")
def nearest(
    latitude: Annotated[float, typer.Argument(help="Latitude (decimal degrees)", min=-90, max=90)],
    longitude: Annotated[float, typer.Argument(help="Longitude (decimal degrees)", min=-180, max=180)],
    hazard: Annotated[Hazard, typer.Option(help="The hazard to be safe from")] = Hazard.flood,
    k: Annotated[int, typer.Option("-k", help="How many shelters", min=1, max=20)] = 3,
) -> None:
    """The nearest open shelters with room, and why nearer ones were passed over.

    Only shelters safe for the hazard and outside areas under alert level 4 or higher
    are recommended. Example: [bold]kawamori shelters nearest 38.77 139.88 --hazard flood[/bold]
    """
    from shelters.service import nearest as find

    with db.connect(database_url()) as conn:
        answer = find(conn, latitude=latitude, longitude=longitude, hazard=hazard, k=k).as_dict()
    table = Table(title=f"Nearest shelters / 近くの避難所 ({hazard.value})")
    for column in ("", "shelter", "km", "crowding", "why not"):
        table.add_column(column)
    for rank, s in enumerate(answer["shelters"], start=1):
        table.add_row(
            str(rank), f"{s['name_ja']} / {s['name_en']}", f"{s['distance_m'] / 1000:.1f}", s["label_en"], ""
        )
    for s in answer["excluded"]:
        why = "; ".join(r["en"] for r in s["reasons"])
        table.add_row("–", f"{s['name_ja']} / {s['name_en']}", f"{s['distance_m'] / 1000:.1f}", "", why)
    Console().print(table)
