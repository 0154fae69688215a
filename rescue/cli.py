"""``kawamori rescue …``: who may see and work rescue requests, and the retention purge.
A thin layer over :mod:`rescue.store`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from rich.console import Console

from kawamori import db
from kawamori.cli_support import database_url, fail
from rescue.errors import RescueError

app = typer.Typer(help="Rescue requests and safety check-ins (救助要請・安否確認).", no_args_is_help=True)
console = Console(stderr=True)


def _who() -> str:
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


@app.command("grant")
def grant(username: Annotated[str, typer.Argument(help="a staff account (kawamori staff add)")]) -> None:
    """Let a staff account see and work rescue requests (the triage page /rescue).

    Example: kawamori rescue grant suzuki
    """
    from rescue import store

    with db.connect(database_url()) as conn:
        try:
            added = store.grant(conn, username=username, by=_who(), now=datetime.now(UTC))
        except RescueError as error:
            raise fail(console, error) from None
    console.print(f"{username}: rescue permission {'granted' if added else 'already held'}")


@app.command("revoke")
def revoke(username: Annotated[str, typer.Argument(help="a staff account")]) -> None:
    """Take the rescue permission away from a staff account.

    Example: kawamori rescue revoke suzuki
    """
    from rescue import store

    with db.connect(database_url()) as conn:
        removed = store.revoke(conn, username=username)
    console.print(f"{username}: rescue permission {'revoked' if removed else 'was not held'}")


@app.command("purge")
def purge(
    days: Annotated[
        int | None, typer.Option("--days", min=1, help="keep this many days (default: the setting)")
    ] = None,
) -> None:
    """Delete check-ins and closed rescue requests older than the retention period
    (KAWAMORI_RESCUE_RETENTION_DAYS); an open request is never deleted by age.

    Example: kawamori rescue purge --days 30
    """
    from kawamori.settings import Settings
    from rescue import store

    keep = days or Settings().rescue_retention_days
    with db.connect(database_url()) as conn:
        checkins, requests = store.purge(conn, now=datetime.now(UTC), retention=timedelta(days=keep))
    console.print(f"deleted {checkins} check-ins and {requests} closed rescue requests ({keep} days kept)")
