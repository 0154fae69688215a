"""What every command line shares (the ``kawamori`` CLI in ``kawamori_app`` and the
components' own commands): this deployment's settings and services, and a failure that
prints the error's own words and exits with 2."""

from __future__ import annotations

import typer
from pydantic import ValidationError
from rich.console import Console

from kawamori.runtime import NotRunning, Runtime, resolve
from kawamori.runtime import database_url as _database_url
from kawamori.settings import Settings

console = Console(stderr=True)


def settings() -> Settings:
    """This deployment's settings (environment, ``.env``); invalid ones exit with 2."""
    try:
        loaded = Settings()
    except ValidationError as error:
        console.print(f"[red]Invalid settings:[/red]\n{error}")
        raise typer.Exit(2) from None
    from kawamori import logs  # structlog: only once a command runs (./kw --help stays quick)

    logs.configure(loaded.log_format)
    return loaded


def services(loaded: Settings) -> Runtime:
    """Where the database and the broker are (settings, or what ``kawamori up`` recorded)."""
    try:
        return resolve(loaded)
    except NotRunning as error:
        raise fail(console, error) from None


def database_url() -> str:
    """This deployment's database; the broker is neither needed nor asked for."""
    try:
        return _database_url(settings())
    except NotRunning as error:
        raise fail(console, error) from None


def fail(console: Console, error: Exception) -> typer.Exit:
    console.print(f"[red]{error}[/red]")
    return typer.Exit(2)
