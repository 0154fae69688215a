"""Signed firmware updates (issue #22): the server's bundle (kawamori.updates) checked
by the firmware's ECDSA P-256 code and installed on trial under MicroPython 1.27 and
CPython with the same transcript; confirmed, rolled back, refused; and the whole way
from `kawamori device update` through a real Mosquitto to the firmware's own client."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from kawamori_app import updates
from simulator.firmware import firmware, virtual_gauge
from tests.firmware.helpers import FIRMWARE, HERE, run_cpython, run_micropython, transcript
from tests.firmware.test_in_the_loop import loop_db, worker  # noqa: F401  (fixtures)

VERSION = "9.9.9"
FILES = {"app.mpy": b"new app " * 40, "extra.mpy": b"added module"}


def fixture_module(folder: Path) -> Path:
    """bundle_fixture.py: the key, a bundle signed by the server's code, ECDSA vectors."""
    key = ec.generate_private_key(ec.SECP256R1())
    other = ec.generate_private_key(ec.SECP256R1())
    messages = updates.messages("kw-demo-01", key, VERSION, FILES)
    vectors = []
    for i in range(4):
        message = b"kawamori %d " % i * (i + 1)
        signature = updates.sign(key, message)
        vectors += [(message, signature, True), (message + b"!", signature, False)]
        vectors.append((message, updates.sign(other, message), False))
        vectors.append((message, signature[:32] + bytes(32), False))
    lines = [
        f"KEY = {updates.public_hex(key)!r}",
        f"VERSION = {VERSION!r}",
        f"MESSAGES = {[(t.removeprefix('kawamori/v1/kw-demo-01/'), p) for t, p in messages]!r}",
        f"VECTORS = {vectors!r}",
    ]
    path = folder / "bundle_fixture.py"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> tuple[str, str]:
    folder = tmp_path_factory.mktemp("bundle")
    module = fixture_module(folder)
    script = HERE / "update_scenarios.py"
    return run_micropython(script, module), run_cpython(script, folder)


@pytest.fixture(scope="module")
def values(outputs) -> dict:
    return transcript(outputs[0])


def test_micropython_and_cpython_agree(outputs):
    micro, cpython = outputs
    assert micro.count("\n") >= 6
    assert micro.splitlines() == cpython.splitlines()


def test_the_firmware_checks_the_servers_signatures(values):
    assert values["ecdsa"] == [True] * 16


def test_a_verified_update_is_installed_on_trial_and_confirmed_by_a_stored_reading(values):
    (app_file, extra, previous), trial_fw, resets = values["installed"]
    assert (app_file, extra, previous) == (FILES["app.mpy"], FILES["extra.mpy"], b"old app")
    assert trial_fw == VERSION and resets == 1
    (app_file, extra, previous), trial, rejected, error = values["confirmed"]
    assert (app_file, extra, previous) == (FILES["app.mpy"], FILES["extra.mpy"], None)  # prev/ emptied
    assert trial is None and rejected is None and error is None


def test_an_update_without_a_confirmed_reading_is_rolled_back_and_not_taken_again(values):
    boots, (app_file, extra, previous), rejected, error = values["rolled_back"]
    assert boots <= 9 and (app_file, extra, previous) == (b"old app", None, None)
    assert rejected == [VERSION] and error.startswith(f"update {VERSION} rolled back")
    (app_file, extra, _), offered, trial = values["not_again"]
    assert (app_file, extra, offered, trial) == (b"old app", None, None, None)


def test_forged_unsigned_and_tampered_updates_are_refused(values):
    errors, ready, have = values["refused"]
    assert errors == [
        "update refused: bad signature",
        "update refused: no update_key in config.py",
        None,
        f"update {VERSION}: app.mpy does not match its manifest",
    ]
    assert not ready and have == []
    assert values["restored"] == ("restored", ["9.9.9"])


def test_the_manifest_names_every_file_with_its_hash():
    document = json.loads(updates.manifest(VERSION, FILES))
    assert document == {
        "v": 1,
        "fw": VERSION,
        "files": [
            [name, len(data), hashlib.sha256(data).hexdigest()] for name, data in sorted(FILES.items())
        ],
    }


def test_device_update_reaches_a_gauge_through_mosquitto_and_is_confirmed(tmp_path, loop_db, broker, worker):
    """`kawamori device update-key`, `device update` as the operator runs them, a real
    Mosquitto, the real ingest worker; the firmware's own MQTT client takes the offer,
    checks it, installs it into its root on trial and restarts; started again as the new
    version, its reading is stored and the trial confirmed."""
    from typer.testing import CliRunner

    from kawamori_app.cli import app
    from tests.firmware.test_in_the_loop import DEVICE, LEVEL_MM, site

    runner = CliRunner()
    env = {"KAWAMORI_DATABASE_URL": loop_db, "KAWAMORI_MQTT_URL": broker.url("kawamori-ingest")}
    broker.allow_services("kawamori-config")
    made = runner.invoke(app, ["device", "update-key", "--out", str(tmp_path / "key.pem")], env=env)
    assert made.exit_code == 0, made.output
    public = made.stdout.strip().splitlines()[-1]
    again = runner.invoke(app, ["device", "update-key", "--out", str(tmp_path / "key.pem")], env=env)
    assert again.exit_code == 2  # a signing key is never overwritten
    offered = runner.invoke(
        app, ["device", "update", DEVICE, "--key", str(tmp_path / "key.pem"), "--no-compile"], env=env
    )
    assert offered.exit_code == 0, offered.output
    version = updates.firmware_version()

    root = tmp_path / "root"
    root.mkdir()
    (root / "app.py").write_bytes(b"# the old app")
    start = int(time.time()) - 3600
    gauge, board, clock = virtual_gauge(
        tmp_path / "flash", site(broker, update_key=public), start=start, level_mm=lambda t: LEVEL_MM
    )
    board.reset = reset
    import settings

    flash = str(tmp_path / "flash")
    settings.FIRMWARE = "0.0.1"  # the gauge runs something older than what is offered
    try:
        gauge = firmware()[0].Gauge(gauge.site, board, clock, gauge.sensor, flash, str(root))
        with pytest.raises(Restart):
            board.sleep(gauge.run_cycle())
    finally:
        settings.FIRMWARE = version
    assert (root / "app.py").read_bytes() == (FIRMWARE / "app.py").read_bytes()
    assert (root / "prev" / "app.py").read_bytes() == b"# the old app"
    assert not (root / "main.py").exists() and not (root / "config.py").exists()

    gauge = firmware()[0].Gauge(gauge.site, board, clock, gauge.sensor, flash, str(root))
    board.sleep(gauge.run_cycle())  # the new version: connects at once, its reading is confirmed
    assert gauge.state["trial"] is None and not list((root / "prev").iterdir()), gauge.state


class Restart(BaseException):
    pass


def reset() -> None:
    raise Restart
