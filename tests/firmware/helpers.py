"""Running firmware scripts under CPython and under real MicroPython (Node)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE = ROOT / "firmware"
NODE_DIR = FIRMWARE / "tests-node"
HERE = Path(__file__).resolve().parent


def firmware_files() -> list[Path]:
    return sorted(p for p in FIRMWARE.glob("*.py") if p.name != "config.py")


def ensure_node_modules() -> None:
    if not (NODE_DIR / "node_modules" / "@micropython").exists():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=NODE_DIR,
            check=True,
            timeout=300,
        )


def run_micropython(script: Path, *extra: Path) -> str:
    ensure_node_modules()
    modules = [str(p) for p in [*firmware_files(), HERE / "fakes.py", *extra]]
    done = subprocess.run(
        ["node", "run.mjs", *modules, "--", str(script)],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def run_cpython(script: Path, *extra: Path) -> str:
    """``extra``: more folders on the path (modules a test wrote)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(map(str, [FIRMWARE, HERE, *extra]))}
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, env=env, cwd=ROOT
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def transcript(output: str) -> dict[str, object]:
    """``name: repr`` lines as a dict of Python values (other lines are ignored)."""
    values: dict[str, object] = {}
    for line in output.splitlines():
        name, sep, value = line.partition(": ")
        if sep and name.isidentifier():
            try:
                values[name] = ast.literal_eval(value)
            except (ValueError, SyntaxError):  # a log line of the firmware
                continue
    return values
