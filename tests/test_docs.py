"""Docs are tested: a command, a setting, a topic, a rejection reason or a table that
the docs do not mention fails the build."""

from __future__ import annotations

import re
from pathlib import Path

import typer.main

from kawamori import contract, db
from kawamori.cli import app
from kawamori.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def read(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def command_paths(group, prefix: str = "kawamori") -> list[str]:
    paths = []
    for name, command in group.commands.items():
        path = f"{prefix} {name}"
        if hasattr(command, "commands"):
            paths += command_paths(command, path)
        else:
            paths.append(path)
    return paths


def test_every_command_is_documented_with_an_example():
    click_app = typer.main.get_command(app)
    configuration = read("configuration.md")
    paths = command_paths(click_app)
    assert len(paths) >= 9
    for path in paths:
        assert f"`{path}" in configuration, f"{path} is not in docs/configuration.md"
    for name, command in click_app.commands.items():
        subcommands = getattr(command, "commands", {name: command})
        for sub in subcommands.values():
            assert "Example" in (sub.help or ""), f"kawamori {name} {sub.name}: help has no example"


def test_every_setting_is_documented():
    configuration = read("configuration.md")
    for field in Settings.model_fields:
        assert f"`KAWAMORI_{field.upper()}`" in configuration, f"KAWAMORI_{field.upper()} undocumented"


def test_mqtt_doc_covers_every_topic_and_reason():
    mqtt = read("mqtt.md")
    for kind in contract.Kind:
        assert f"`kawamori/v1/<device>/{kind}`" in mqtt
    for reason in contract.Reason:
        assert f"| `{reason}` |" in mqtt, f"reason {reason} is not explained in docs/mqtt.md"


def test_architecture_names_every_table():
    architecture = read("architecture.md")
    created = set()
    for migration in db.migrations():
        created |= set(re.findall(r"CREATE TABLE (\w+)", migration.sql))
    assert created
    for table in created | {"schema_migrations"}:
        assert f"`{table}`" in architecture, f"table {table} is missing from docs/architecture.md"


def test_readme_shows_the_command_ci_runs():
    ci_lines = [
        line.strip()
        for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if line.strip() and not line.startswith(("#", "set ", "cd "))
    ]
    assert ci_lines[-1] in (ROOT / "README.md").read_text()
