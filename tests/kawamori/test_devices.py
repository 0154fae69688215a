"""``kawamori device add`` / ``flash`` against a real database and broker: the new
board's credentials work, only for its own topics, and flashing lists the files."""

from __future__ import annotations

import base64
import json
import runpy
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kawamori import db
from kawamori.broker_auth import verify_password
from kawamori_app import devices
from kawamori_app.cli import app
from simulator.firmware import firmware

runner = CliRunner()


@pytest.fixture
def env(demo_db, tmp_path) -> dict[str, str]:
    return {
        "KAWAMORI_DATABASE_URL": demo_db,
        "KAWAMORI_MQTT_URL": "mqtt://kawamori-ingest:x@gauges.example.org:1883",
        "KAWAMORI_DATA_DIR": str(tmp_path),
    }


def test_add_registers_the_device_and_writes_working_credentials(env, demo_db, broker, tmp_path):
    out = tmp_path / "board" / "config.py"
    result = runner.invoke(
        app,
        [
            "device", "add", "kyoden-jumonji", "--out", str(out), "--accounts", str(broker.accounts.folder),
            "--wifi-ssid", "river", "--no-tls", "--broker-port", str(broker.port),
        ],
        env={**env, "KAWAMORI_WIFI_KEY": "wifi-secret"},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    device_id = result.stdout.strip().splitlines()[-1]
    assert device_id.startswith("kyoden-jumonji-") and "SIGHUP" in result.output
    with db.connect(demo_db) as conn:
        row = conn.execute(
            "SELECT station_id, retired_at FROM devices WHERE id = %s", (device_id,)
        ).fetchone()
    assert row == ("kyoden-jumonji", None)

    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    site = runpy.run_path(str(out))["SETTINGS"]
    password = broker.accounts.password(device_id)
    assert site["device"] == device_id and site["password"] == password and len(password) >= 32
    assert site["broker_host"] == "gauges.example.org" and site["tls"] is False
    assert (site["wifi_ssid"], site["wifi_key"], site["mount_m"]) == ("river", "wifi-secret", 10.3)
    assert (site["fast_on_m"], site["fast_off_m"]) == (4.35, 4.25)  # observation-start level
    line = next(x for x in broker.accounts.passwd_file.read_text().splitlines() if x.startswith(device_id))
    assert verify_password(password, line.split(":", 1)[1])
    assert "pattern write kawamori/v1/%u/reading" in broker.accounts.acl_file.read_text()

    broker.reload()
    _, hw, _ = firmware()
    import mqtt  # the firmware's own client, with the credentials from config.py

    board = mqtt.Client(device_id, site["device"], site["password"])
    board.connect(hw.open_stream("127.0.0.1", broker.port, False, "", 5))
    board.disconnect()
    with pytest.raises(mqtt.Refused):
        mqtt.Client(device_id, device_id, "x" * 32).connect(
            hw.open_stream("127.0.0.1", broker.port, False, "", 5)
        )

    # running it again keeps the password; --rotate replaces it
    again = runner.invoke(
        app,
        ["device", "add", "kyoden-jumonji", "--device", device_id, "--out", str(out),
         "--accounts", str(broker.accounts.folder)],
        env=env,
    )  # fmt: skip
    assert again.exit_code == 0 and broker.accounts.password(device_id) == password
    rotated = runner.invoke(
        app,
        ["device", "add", "kyoden-jumonji", "--device", device_id, "--out", str(out),
         "--accounts", str(broker.accounts.folder), "--rotate"],
        env=env,
    )  # fmt: skip
    assert rotated.exit_code == 0 and broker.accounts.password(device_id) != password


def test_add_refuses_an_unknown_station_and_a_bad_id(env, tmp_path):
    accounts = ["--accounts", str(tmp_path / "accounts"), "--out", str(tmp_path / "c.py")]
    unknown = runner.invoke(app, ["device", "add", "no-such-station", *accounts], env=env)
    assert unknown.exit_code == 2 and "no station" in unknown.output
    bad = runner.invoke(app, ["device", "add", "kyoden-jumonji", "--device", "bad id!", *accounts], env=env)
    assert bad.exit_code == 2 and "not a device id" in bad.output
    assert not (tmp_path / "c.py").exists()


def test_device_ids_are_random_not_derived():
    ids = {devices.new_device_id("kyoden-chiwara") for _ in range(50)}
    assert len(ids) == 50 and all(devices.DEVICE_ID.fullmatch(i) for i in ids)


def test_flash_dry_run_lists_every_file(tmp_path):
    config = tmp_path / "config.py"
    config.write_text("SETTINGS = {}\n")
    result = runner.invoke(
        app, ["device", "flash", "--dry-run", "--config", str(config), "--ca", str(tmp_path / "ca.crt")]
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    for module in ("app", "hw", "mqtt", "measure", "sensors", "settings", "store", "wire", "policy"):
        assert any(line.endswith(f":{module}.mpy (compiled for esp32)") for line in lines), module
    assert any(line.endswith(":main.py (as is)") for line in lines)
    assert f"{config} -> :config.py (as is)" in lines and any(":ca.crt" in line for line in lines)
    assert not any("config_example" in line for line in lines)
    assert lines[-1].startswith("would run: ") and "mpremote connect auto" in lines[-1]


def test_flash_compiles_and_runs_mpremote(tmp_path, monkeypatch):
    """Without a board: mpremote is replaced by a recorder; the .mpy files are real."""
    config = tmp_path / "config.py"
    config.write_text("SETTINGS = {}\n")
    seen: list[list[str]] = []

    def fake_run(command, *args, **kwargs):
        if "mpremote" not in command[0]:
            return real_run(command, *args, **kwargs)
        seen.append(command)
        built = [
            Path(command[i + 3]) for i, part in enumerate(command) if part == "+" and command[i + 1] == "fs"
        ]
        assert all(p.exists() for p in built)
        assert any(p.suffix == ".mpy" and p.read_bytes()[:1] == b"M" for p in built)

        class Done:
            returncode = 0

        return Done()

    real_run = devices.subprocess.run
    monkeypatch.setattr(devices.subprocess, "run", fake_run)
    copies = devices.flash(config, port="/dev/ttyUSB0", board="picow", compile_=True, ca_file=None)
    (command,) = seen
    assert command[1:3] == ["connect", "/dev/ttyUSB0"] and command[-1] == "reset"
    assert ":app.mpy" in command and ":config.py" in command
    sources = [p for p in devices.FIRMWARE.glob("*.py") if p.name not in ("config_example.py", "config.py")]
    assert len(copies) == len(sources) + 1  # and the board's config.py


def test_lorawan_maps_a_dev_eui_to_a_device_without_a_broker_account(env, demo_db, broker):
    args = ["device", "lorawan", "kyoden-jumonji", "--server", "chirpstack", "--application", "app-1"]
    result = runner.invoke(app, [*args, "--dev-eui", "70-b3-d5-7e-d0-05-2c-1a"], env=env)
    assert result.exit_code == 0, result.output
    device_id = result.stdout.strip().splitlines()[-1]
    assert device_id.startswith("kyoden-jumonji-") and broker.accounts.password(device_id) is None
    again = runner.invoke(app, [*args, "--dev-eui", "70B3D57ED0052C1B", "--device", device_id], env=env)
    assert again.exit_code == 0, again.output  # a new board for the same gauge: the old DevEUI goes
    with db.connect(demo_db) as conn:
        rows = conn.execute("SELECT dev_eui, device_id, network_server FROM lorawan_devices").fetchall()
    assert rows == [("70B3D57ED0052C1B", device_id, "chirpstack")]
    for bad, why in [
        (["--dev-eui", "70B3"], "not a DevEUI"),
        (["--dev-eui", "70B3D57ED0052C1A", "--server", "tts"], "--ns-device"),
        (["--dev-eui", "70B3D57ED0052C1A", "--server", "loriot"], "must be one of"),
    ]:
        refused = runner.invoke(app, [*args, *bad], env=env)
        assert refused.exit_code == 2 and why in refused.output, refused.output


def test_config_goes_retained_over_mqtt_or_as_a_downlink_over_lorawan(env, demo_db, broker):
    from kawamori import contract, lorawan
    from simulator.mqtt import Connection, Inbox

    broker.allow_services("kawamori-config", "chirpstack")
    env = {**env, "KAWAMORI_MQTT_URL": broker.url("kawamori-ingest")}
    lora = runner.invoke(
        app,
        ["device", "lorawan", "kyoden-jumonji", "--dev-eui", "70B3D57ED0052C1A", "--server", "chirpstack",
         "--application", "app-1", "--device", "kw-lora-1"],
        env=env,
    )  # fmt: skip
    assert lora.exit_code == 0, lora.output
    inbox = Inbox()
    network_server = Connection(
        broker.url("chirpstack"), "chirpstack", subscriptions=["application/+/device/+/command/down"],
        on_message=inbox.put,
    )  # fmt: skip
    network_server.start()
    try:
        sent = runner.invoke(
            app, ["device", "config", "kw-lora-1", "--cfg", "7", "slow_s=900", "fast_on_m=4.5"], env=env
        )
        assert sent.exit_code == 0, sent.output
        (down,) = inbox.take(max_items=1, max_wait_s=10)
    finally:
        network_server.stop()
    assert down.topic == "application/app-1/device/70b3d57ed0052c1a/command/down"
    body = json.loads(down.payload)
    assert (body["devEui"], body["fPort"]) == ("70b3d57ed0052c1a", 2)
    assert lorawan.decode_config(base64.b64decode(body["data"])) == (7, {"slow_s": 900, "fast_on_m": 4.5})

    retained = runner.invoke(app, ["device", "config", "kw-demo-01", "--cfg", "3", "slow_s=900"], env=env)
    assert retained.exit_code == 0, retained.output
    inbox = Inbox()
    reader = Connection(
        broker.url("kawamori-ingest"),
        "kawamori-ingest",
        subscriptions=[contract.topic("kw-demo-01", "config")],
        on_message=inbox.put,
        persistent=False,
    )
    reader.start()
    try:
        (message,) = inbox.take(max_items=1, max_wait_s=10)
    finally:
        reader.stop()
    assert message.retain and json.loads(message.payload) == {"v": 1, "cfg": 3, "slow_s": 900}

    for args, why in [
        (["kw-demo-01", "--cfg", "4", "password=1"], "not a remote setting"),
        (["kw-demo-01", "--cfg", "4", "slow_s=1"], "slow_s=1 is outside"),
        (["kw-lora-1", "--cfg", "4", "slow_s=900", "fast_s=120", "send_s=900"], "at most two"),
        (["nobody", "--cfg", "4", "slow_s=900"], "no device"),
    ]:
        refused = runner.invoke(app, ["device", "config", *args], env=env)
        assert refused.exit_code == 2 and why in refused.output, refused.output
