"""What the sub-command CLIs (staff, shelters) share: this deployment's database and a
failure that prints the error's own words and exits with 2."""

from __future__ import annotations

import typer
from rich.console import Console


def database_url() -> str:
    """This deployment's database; the broker is neither needed nor asked for."""
    from kawamori.cli import _settings  # the parent CLI owns settings and services
    from kawamori.runtime import NotRunning
    from kawamori.runtime import database_url as resolve

    try:
        return resolve(_settings())
    except NotRunning as error:
        raise fail(Console(stderr=True), error) from None


def fail(console: Console, error: Exception) -> typer.Exit:
    console.print(f"[red]{error}[/red]")
    return typer.Exit(2)
