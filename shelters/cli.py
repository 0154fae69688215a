"""``kawamori shelters …``: import municipal open data, list shelters, open and close them
in bulk, load official head counts, hand out access codes, assign staff and door
counters, ask for the nearest shelters. A thin layer over the Python API; what people
read comes from the text catalogue (``kawamori.texts``, section ``shelters``) in their language."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from kawamori import db
from kawamori.cli_support import database_url, fail
from kawamori.model import Hazard, ShelterStatus
from shelters.errors import ShelterError

app = typer.Typer(help="Shelter registry, access codes and crowding (避難所).", no_args_is_help=True)
console = Console(stderr=True)


Lang = Annotated[
    str | None,
    typer.Option("--lang", help="ja, en or ja-easy (やさしい日本語); default: from LANG / LC_ALL"),
]


def _lang(lang: str | None) -> str:
    from kawamori.texts import from_environment, pick

    return pick(lang, default="en") if lang else from_environment()


def _who() -> str:
    """Who runs a bulk command, for the audit trail: the operating-system user."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _zone():
    """The city's time zone (KAWAMORI_TIME_ZONE): times in files without an offset."""
    from kawamori.cli_support import settings as _settings

    return _settings().zone


def _time(text: str | None) -> datetime:
    from shelters.opendata import snapshot_time

    now = datetime.now(UTC)
    if not text:
        return now
    zone = _zone()
    when = snapshot_time(text, now=now, zone=zone)
    if when is None:
        raise typer.BadParameter(f"{text!r} is not a time like '2024-01-01 21:00' (local time) or 1月1日21時")
    return when.astimezone(zone)


def _say(key: str, lang: str, **params) -> None:
    from kawamori.texts import say

    _print(say(key, lang, **params))


def _print(line: str) -> None:
    """One line of a report as it is (no markup, no wrapping: it may be copied or grepped)."""
    console.print(line, markup=False, highlight=False, soft_wrap=True)


@app.command("import")
def import_file(
    path: Annotated[Path, typer.Argument(help="National-layout CSV (UTF-8 or Shift_JIS) or GeoJSON")],
    check: Annotated[
        bool, typer.Option("--check", help="Preview only: what would change; nothing is written")
    ] = False,
    strict: Annotated[
        bool, typer.Option("--strict", help="All or nothing: import nothing if any row has an error")
    ] = False,
    open_all: Annotated[
        bool,
        typer.Option(
            "--open",
            help="Open every shelter in the file (a list of opened shelters), at its head-count time",
        ),
    ] = False,
    counts: Annotated[
        bool,
        typer.Option(
            "--counts/--no-counts", help="Load the head-count columns (人数_…時点) as official counts"
        ),
    ] = True,
    extent: Annotated[
        str | None,
        typer.Option(
            help="The municipality's extent min_lon,min_lat,max_lon,max_lat; rows outside are errors"
        ),
    ] = None,
    show_all: Annotated[
        bool, typer.Option("--all", help="List every problem and every shelter changed")
    ] = False,
    lang: Lang = None,
) -> None:
    """Import shelters from a municipality's open-data file; a bad row never blocks the others.

    Rows with errors are skipped and listed with their line; warnings are imported as
    described; a summary by kind comes first. Importing the same file again changes
    nothing. Example: [bold]kawamori shelters import --check --lang ja opened.csv[/bold]
    """
    from shelters import bulk, report
    from shelters.geocheck import Extent
    from shelters.opendata import parse_file
    from shelters.registry import import_records, plan

    language = _lang(lang)
    now = datetime.now(UTC)
    try:
        box = Extent.parse(extent) if extent else None
        parsed = parse_file(path.name, path.read_bytes(), now=now, extent=box, zone=_zone())
    except (OSError, ValueError) as error:
        raise fail(console, error) from None
    except ShelterError as error:
        problems = getattr(error, "problems", [])
        for p in problems:
            _print(f"{path.name}: {p.render(language)}")
        _say("shelters.report.nothing", language)
        raise typer.Exit(2) from None
    for line in report.summary(parsed, path.name, language, show_all=show_all):
        _print(line)
    if strict and parsed.errors:
        _say("shelters.report.strict_refused", language, count=len(parsed.skipped_lines))
        raise typer.Exit(1)
    with db.connect(database_url()) as conn:
        if check:
            for line in report.changes(plan(conn, parsed.records), language, preview=True, show_all=show_all):
                _print(line)
            raise typer.Exit(1 if parsed.errors else 0)
        try:
            done = import_records(conn, parsed.records)
        except ShelterError as error:
            raise fail(console, error) from None
        for line in report.changes(done, language, preview=False, show_all=show_all):
            _print(line)
        if open_all:
            times = [s.at for s in parsed.snapshots]
            changed, _ = bulk.set_status(
                conn,
                [r.id for r in parsed.records],
                ShelterStatus.open,
                at=max(times) if times else now,
                now=now,
                entered_by=_who(),
                origin=path.name,
            )
            _say("shelters.report.opened", language, count=changed)
        if counts and parsed.snapshots:
            loaded = bulk.load_snapshots(conn, parsed.snapshots, now=now, entered_by=_who(), source=path.name)
            _say(
                "shelters.report.counts_loaded", language, stored=loaded.stored, duplicates=loaded.duplicates
            )
    raise typer.Exit(1 if parsed.errors else 0)


@app.command("list")
def list_shelters(
    as_csv: Annotated[
        bool, typer.Option("--csv", help="CSV on standard output (UTF-8 with BOM, opens in Excel)")
    ] = False,
    lang: Lang = None,
) -> None:
    """Every shelter: id, name, state, head count, capacity, crowding, when last counted.

    Example: [bold]kawamori shelters list --lang ja[/bold]; as a spreadsheet:
    [bold]kawamori shelters list --csv > shelters.csv[/bold]
    """
    import csv
    import sys

    from kawamori.cli_support import settings as _settings
    from kawamori.texts import say
    from shelters.bulk import listing
    from shelters.crowding import describe, parse_bands
    from shelters.crowding import label as crowding_label

    language = _lang(lang)
    settings = _settings()
    bands = parse_bands(settings.shelter_crowding_bands)  # as the dashboard shows them
    with db.connect(database_url()) as conn:
        rows = listing(conn)
    keys = (
        "col_id",
        "col_name",
        "col_kind",
        "col_state",
        "col_count",
        "col_capacity",
        "col_crowding",
        "col_counted",
    )
    head = [say(f"shelters.cli.{k}", language) for k in keys]
    body = []
    for r in rows:
        look = describe(r["occupancy"], r["capacity"], bands)
        label = crowding_label(look["crowding"], language)
        counted = (
            r["counted_at"].astimezone(settings.zone).strftime("%Y-%m-%d %H:%M") if r["counted_at"] else ""
        )
        body.append(
            [
                r["id"],
                r["name_en"] if language == "en" else r["name_ja"],
                say("shelters.cli.temporary" if r["temporary"] else "shelters.cli.designated", language),
                say(f"shelters.cli.state_{r['status']}", language),
                str(r["occupancy"]),
                str(r["capacity"]) if r["capacity"] else say("shelters.cli.unknown", language),
                f"{look['icon']} {label}",
                counted,
            ]
        )
    if as_csv:
        sys.stdout.write("\ufeff")
        writer = csv.writer(sys.stdout, lineterminator="\r\n")
        writer.writerow(head)
        writer.writerows(body)
        return
    table = Table(title=say("shelters.cli.list_title", language))
    for column in head:
        table.add_column(column)
    for row in body:
        table.add_row(*row)
    Console(width=200).print(table)


def _status_command(status: ShelterStatus):
    def command(
        ids: Annotated[list[str] | None, typer.Argument(help="Shelter ids")] = None,
        hazard: Annotated[
            Hazard | None, typer.Option(help="Every shelter designated for this hazard")
        ] = None,
        file: Annotated[
            Path | None, typer.Option("--file", help="Every shelter in this registry file")
        ] = None,
        everything: Annotated[bool, typer.Option("--all", help="Every shelter")] = False,
        at: Annotated[
            str | None,
            typer.Option(help="When it happened (local time), e.g. '2024-01-01 16:30'; default now"),
        ] = None,
        lang: Lang = None,
    ) -> None:
        from kawamori.texts import say
        from shelters.bulk import select, set_status
        from shelters.opendata import parse_file

        language = _lang(lang)
        chosen = list(ids or [])
        if file is not None:
            try:
                parsed = parse_file(file.name, file.read_bytes(), now=datetime.now(UTC), zone=_zone())
            except (OSError, ShelterError) as error:
                raise fail(console, error) from None
            chosen += [r.id for r in parsed.records]
        with db.connect(database_url()) as conn:
            try:
                picked = select(conn, ids=chosen, hazard=hazard, everything=everything)
            except ShelterError as error:
                _say("shelters.cli.unknown_ids", language, ids=str(error).removeprefix("unknown shelter: "))
                raise typer.Exit(2) from None
            if not picked:
                _say("shelters.cli.none_selected", language)
                raise typer.Exit(2)
            changed, unchanged = set_status(
                conn,
                picked,
                status,
                at=_time(at),
                now=datetime.now(UTC),
                entered_by=_who(),
                origin=str(file.name) if file else "cli",
            )
        _say(
            "shelters.cli.status_changed",
            language,
            count=changed,
            unchanged=unchanged,
            status=say(f"shelters.cli.state_{status.value}", language),
        )

    return command


app.command(
    "open",
    help="Open shelters by id, by hazard, from a file or all (at an official time if given).\n\n"
    "A temporary shelter (臨時避難所) is opened the same way once imported. "
    "Example: [bold]kawamori shelters open --hazard tsunami --at '2024-01-01 16:30'[/bold]",
)(_status_command(ShelterStatus.open))
app.command(
    "close",
    help="Close shelters by id, by hazard, from a file or all.\n\n"
    "Example: [bold]kawamori shelters close --all[/bold]",
)(_status_command(ShelterStatus.closed))


@app.command("counts")
def load_counts(
    path: Annotated[
        Path, typer.Argument(help="CSV: ID,人数,時点 rows, or the national layout with 人数_…時点 columns")
    ],
    lang: Lang = None,
) -> None:
    """Load head counts for many shelters with their official time, whatever its age.

    Each count is stored as an exact count at its own time, with who loaded it and from
    which file; loading the same file again stores nothing.
    Example: [bold]kawamori shelters counts counts-0101-2100.csv[/bold]
    """
    from shelters.bulk import load_snapshots, read_counts

    language = _lang(lang)
    now = datetime.now(UTC)
    try:
        snapshots, problems = read_counts(path.read_bytes(), now=now, zone=_zone())
    except (OSError, ShelterError) as error:
        raise fail(console, error) from None
    _say("shelters.cli.counts_head", language, source=path.name, rows=len(snapshots))
    for p in problems:
        _print(f"  {p.render(language)}")
    with db.connect(database_url()) as conn:
        loaded = load_snapshots(conn, snapshots, now=now, entered_by=_who(), source=path.name)
    _say(
        "shelters.cli.counts_done",
        language,
        stored=loaded.stored,
        duplicates=loaded.duplicates,
        shelters=len(loaded.shelters),
    )
    if loaded.unknown:
        _say("shelters.cli.unknown_ids", language, ids=", ".join(loaded.unknown))
    if loaded.unknown or loaded.conflicts or problems:
        raise typer.Exit(1)


@app.command("code")
def code(
    shelter_id: Annotated[str, typer.Argument(help="The shelter's id")],
    revoke: Annotated[
        bool, typer.Option("--revoke", help="Also sign out every tablet signed in at this shelter")
    ] = False,
    lang: Lang = None,
) -> None:
    """Give a shelter a new access code for its staff page and print it.

    Only its hash is kept, so write it down. Tablets already counting stay signed in
    unless --revoke. Example: [bold]kawamori shelters code 062031-0001[/bold]
    """
    from shelters.sessions import set_access_code

    language = _lang(lang)
    with db.connect(database_url()) as conn:
        try:
            new = set_access_code(conn, shelter_id=shelter_id, revoke=revoke)
        except ShelterError as error:
            raise fail(console, error) from None
    _say("shelters.cli.code_head", language, id=shelter_id)
    print(new)
    _say("shelters.cli.code_revoked" if revoke else "shelters.cli.code_kept", language)


@app.command("assign")
def assign(
    username: Annotated[str, typer.Argument(help="A staff account (kawamori staff add)")],
    shelter_ids: Annotated[list[str], typer.Argument(help="Shelter ids")],
    remove: Annotated[bool, typer.Option("--remove", help="Stop counting for these shelters")] = False,
    lang: Lang = None,
) -> None:
    """Let a staff account (operator or above) count for shelters on the staff page.

    A district lead signs in once (/staff/login) and switches between their shelters.
    Example: [bold]kawamori shelters assign sato 062031-0001 062031-0002[/bold]
    """
    from shelters.sessions import assign as assign_shelters

    language = _lang(lang)
    with db.connect(database_url()) as conn:
        try:
            shelters = assign_shelters(conn, username=username, shelter_ids=shelter_ids, remove=remove)
        except ShelterError as error:
            raise fail(console, error) from None
    _say("shelters.cli.assigned", language, user=username, ids=", ".join(shelters) or "-")


@app.command("listen")
def listen(
    name: Annotated[str, typer.Option(help="Listener name; keep it fixed (it names the session)")] = "1",
) -> None:
    """Store door-counter counts from MQTT (kawamori/v1/<device>/count) as they arrive.

    Example: [bold]kawamori shelters listen[/bold]
    """
    import signal

    from kawamori.cli_support import services as _runtime
    from kawamori.cli_support import settings as _settings
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
