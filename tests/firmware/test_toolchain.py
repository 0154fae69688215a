"""CI checks for the firmware: every file compiles with mpy-cross (ESP32 and
Pico W bytecode) and type-checks with mypy against the MicroPython ESP32 stubs."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.firmware.helpers import FIRMWARE, firmware_files

SITE = Path(sysconfig.get_paths()["purelib"])
BIN = Path(sys.executable).parent


@pytest.mark.parametrize("arch", ["xtensawin", "armv6m"])  # ESP32, Raspberry Pi Pico W
def test_every_firmware_file_compiles_with_mpy_cross(tmp_path, arch):
    files = firmware_files()
    assert {"app.py", "hw.py", "mqtt.py", "main.py", "config_example.py"} <= {p.name for p in files}
    for path in files:
        out = tmp_path / (path.stem + ".mpy")
        done = subprocess.run(
            [str(BIN / "mpy-cross"), f"-march={arch}", "-o", str(out), str(path)],
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, f"{path.name}: {done.stderr}"
        assert out.read_bytes()[:1] == b"M"


def stubs(tmp_path: Path) -> tuple[Path, Path]:
    """The ESP32 stubs as mypy wants them: a typeshed folder (MicroPython's stdlib
    stubs) and a folder with the port's modules (machine, network, …)."""
    typeshed = tmp_path / "typeshed"
    typeshed.mkdir()
    (typeshed / "stdlib").symlink_to(SITE / "stdlib")
    (typeshed / "stubs").symlink_to(SITE / "stubs")
    modules = tmp_path / "modules"
    record = next(SITE.glob("micropython_esp32_stubs-*.dist-info")) / "RECORD"
    for line in record.read_text().splitlines():
        name = line.split(",")[0]
        if name.endswith(".pyi"):
            target = modules / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.exists():
                target.symlink_to(SITE / name)
    if not (modules / "_mpy_shed").exists():
        (modules / "_mpy_shed").symlink_to(SITE / "_mpy_shed")
    assert (modules / "machine.pyi").exists() and (typeshed / "stdlib" / "VERSIONS").exists()
    return typeshed, modules


def mypy(tmp_path: Path, files: list[Path]) -> subprocess.CompletedProcess:
    typeshed, modules = stubs(tmp_path)
    return subprocess.run(
        [
            str(BIN / "mypy"),
            "--config-file",
            str(FIRMWARE / "mypy.ini"),
            "--custom-typeshed-dir",
            str(typeshed),
            "--cache-dir",
            str(tmp_path / "cache"),
            *map(str, files),
        ],
        capture_output=True,
        text=True,
        cwd=files[0].parent,
        env={"MYPYPATH": str(modules), "PATH": str(BIN)},
        timeout=600,
    )


def test_firmware_type_checks_against_the_esp32_stubs(tmp_path):
    done = mypy(tmp_path, firmware_files())
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Success" in done.stdout


def test_the_type_check_is_real(tmp_path):
    """A call the ESP32 port does not have fails the check."""
    copy = tmp_path / "fw"
    shutil.copytree(FIRMWARE, copy, ignore=shutil.ignore_patterns("tests-node", "config.py"))
    (copy / "bad.py").write_text("import machine\n\nmachine.deepsleep('ten minutes')\n")
    done = mypy(tmp_path, [copy / "bad.py"])
    assert done.returncode == 1 and "bad.py:3" in done.stdout, done.stdout
