"""Which package may import which: the import-linter contracts of ``pyproject.toml``
(the shared core at the bottom, the composition root at the top, the components in
layers between), private names kept private, and ``docs/architecture.md`` naming every
table once and the layers as the contracts have them."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from kawamori import db

ROOT = Path(__file__).resolve().parent.parent
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
PACKAGES = CONFIG["root_packages"]
ARCHITECTURE = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")


def test_import_contracts_are_kept():
    lint = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(CONFIG['contracts'])} kept, 0 broken" in result.stdout


def test_the_contracts_catch_an_upward_import(tmp_path):
    """The contracts are not vacuous: a core module importing a component breaks them."""
    for package in PACKAGES:
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "kawamori" / "bad.py").write_text("import alerts\n")
    (tmp_path / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    lint = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(
        [str(lint), "--no-cache"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(tmp_path)},
    )
    assert result.returncode != 0
    assert "kawamori.bad -> alerts" in result.stdout


def imports_of_private_names() -> list[str]:
    """``from other_package.module import _name`` (or a ``_module``) across packages."""
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.ImportFrom) or not node.module or node.level:
                    continue
                parts = node.module.split(".")
                if parts[0] not in PACKAGES or parts[0] == package:
                    continue
                private = [a.name for a in node.names if a.name.startswith("_")]
                private += [p for p in parts if p.startswith("_") and not p.startswith("__")]
                if private:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.module} {private}")
    return found


def test_no_package_imports_another_packages_private_names():
    assert imports_of_private_names() == []


def test_architecture_lists_every_table_once():
    tables = re.findall(r"^\| `(\w+)` \|", ARCHITECTURE.split("## Tables", 1)[1].split("\n## ", 1)[0], re.M)
    created = {"schema_migrations"}
    for migration in db.migrations():
        created |= set(re.findall(r"CREATE TABLE (?:IF NOT EXISTS )?(\w+)", migration.sql))
    assert sorted(t for t in set(tables) if tables.count(t) > 1) == [], "tables listed twice"
    assert sorted(created - set(tables)) == [], "tables missing from docs/architecture.md"
    assert sorted(set(tables) - created) == [], "tables in docs/architecture.md that no migration creates"


def test_architecture_shows_the_layers_the_contracts_enforce():
    layers = next(c for c in CONFIG["contracts"] if c["type"] == "layers")["layers"]
    section = ARCHITECTURE.split("## Layers", 1)[1].split("\n## ", 1)[0]
    shown = " → ".join(" | ".join(f"`{name.strip()}`" for name in layer.split("|")) for layer in layers)
    assert shown in section, f"docs/architecture.md does not show the layers as {shown}"
    for package in PACKAGES:
        assert f"`{package}`" in section, f"{package} is not placed in docs/architecture.md's layers"
