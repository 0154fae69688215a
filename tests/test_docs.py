"""Docs are tested: a command, a setting, a topic, a rejection reason or a table that
the docs do not mention fails the build."""

from __future__ import annotations

import re
from pathlib import Path

import typer.main

from kawamori import contract, db
from kawamori.settings import Settings
from kawamori_app.cli import app

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


def scenario_models():
    """Every pydantic model a scenario file is made of, except the network (documented
    with network files in configuration.md)."""
    import types
    import typing

    from pydantic import BaseModel

    from kawamori.network import Network
    from simulator.scenario import Scenario

    seen: list[type[BaseModel]] = []

    def visit(annotation) -> None:
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            if annotation not in seen and annotation is not Network:
                seen.append(annotation)
                for field in annotation.model_fields.values():
                    visit(field.annotation)
            return
        for argument in typing.get_args(annotation):
            visit(argument)
        if isinstance(annotation, types.UnionType):
            for argument in annotation.__args__:
                visit(argument)

    visit(Scenario)
    return seen


def test_simulator_doc_covers_every_scenario_field_and_kind():
    import typing

    simulator = read("simulator.md")
    models = scenario_models()
    assert len(models) > 20
    for model in models:
        for name, field in model.model_fields.items():
            if name == "kind":
                (kind,) = typing.get_args(field.annotation)
                assert f"`{kind}`" in simulator, f"{model.__name__}: kind {kind} is not in docs/simulator.md"
            else:
                assert f"`{name}`" in simulator, f"{model.__name__}.{name} is not in docs/simulator.md"


def test_simulator_doc_examples_are_valid(tmp_path):
    import yaml

    from simulator.scenario import load_scenario

    blocks = re.findall(r"```yaml\n(.*?)```", read("simulator.md"), re.S)
    assert len(blocks) >= 8
    base = {
        "name": "doc",
        "time": {"start": "2025-09-20T21:00:00+09:00", "duration": "14:00"},
        "network": str(ROOT / "kawamori" / "demo" / "network.yaml"),
    }
    for index, block in enumerate(blocks):
        document = {**base, **yaml.safe_load(block)}
        if document["network"] != base["network"] and isinstance(document["network"], str):
            document["network"] = str((DOCS / document["network"]).resolve())
        stations = (
            {s["id"] for s in document["network"]["stations"]}
            if isinstance(document["network"], dict)
            else ()
        )
        if "kurose-kurose" in stations:
            continue  # the inline network example stands alone
        path = tmp_path / f"example-{index}.yaml"
        path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
        load_scenario(path)
