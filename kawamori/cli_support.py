"""What the sub-command CLIs (staff, shelters) share: this deployment's database and a
failure that prints the error's own words and exits with 2."""

from __future__ import annotations

import typer
from rich.console import Console


def database_url() -> str:
    from kawamori.cli import _runtime, _settings  # the parent CLI owns settings and services

    return _runtime(_settings()).database_url


def fail(console: Console, error: Exception) -> typer.Exit:
    console.print(f"[red]{error}[/red]")
    return typer.Exit(2)
