"""New credentials for a gauge in the field (issue #22), against a real Mosquitto,
ingest worker and PostgreSQL: `kawamori device rotate` seals them for the gauge, the
gauge reports them, `--finish` switches the broker, and at no point can the gauge not
connect; the old password stops working. The seal is opened by the firmware's own code."""

from __future__ import annotations

import time

import pytest
from typer.testing import CliRunner

from kawamori import db
from kawamori_app import devices
from kawamori_app.cli import app
from simulator.firmware import firmware, virtual_gauge
from tests.firmware.test_in_the_loop import DEVICE, LEVEL_MM, loop_db, site, stored, worker  # noqa: F401
from tests.helpers import wait_for

runner = CliRunner()


def extra(database_url: str) -> dict:
    with db.connect(database_url) as conn:
        row = conn.execute("SELECT extra FROM device_status WHERE device_id = %s", (DEVICE,)).fetchone()
    return row[0] if row else {}


def test_the_seal_opens_with_the_gauges_password_only():
    firmware()
    import secret

    sealed = devices.seal_secret("the-current-password", b'{"n":3,"password":"a-new-password-of-32-characters"}')
    assert secret.offered("the-current-password", sealed, 2) == {
        "n": 3,
        "password": "a-new-password-of-32-characters",
        "tries": 0,
    }
    assert secret.offered("the-current-password", sealed, 3) is None  # not newer
    assert secret.offered("another-password", sealed, 0).startswith("secret refused")
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    assert secret.offered("the-current-password", tampered, 0).startswith("secret refused")
    assert b"a-new-password" not in sealed


def test_credentials_rotate_in_two_steps_and_never_lock_the_gauge_out(tmp_path, loop_db, broker, worker):
    env = {"KAWAMORI_DATABASE_URL": loop_db, "KAWAMORI_MQTT_URL": broker.url("kawamori-ingest")}
    broker.allow_services("kawamori-config")
    old = broker.accounts.password(DEVICE)
    gauge, board, _ = virtual_gauge(
        tmp_path / "flash", site(broker), start=int(time.time()) - 6 * 3600, level_mm=lambda t: LEVEL_MM
    )
    board.sleep(gauge.run_cycle())
    rotate = ["device", "rotate", DEVICE, "--accounts", str(broker.accounts.folder)]
    started = runner.invoke(app, rotate, env=env)
    assert started.exit_code == 0, started.output
    early = runner.invoke(app, [*rotate, "--finish"], env=env)
    assert early.exit_code == 2 and "has not reported rotation 1" in early.output  # it could lock it out

    board.sleep(gauge.run_cycle())  # the gauge takes the sealed secret and says so
    wait_for(lambda: extra(loop_db).get("rot") == 1)
    board.sleep(gauge.run_cycle())  # the broker does not know the new password yet: the old one, at once
    assert gauge.state["rotate"]["tries"] == 1 and not gauge.state["err"], gauge.state

    finished = runner.invoke(app, [*rotate, "--finish"], env=env)
    assert finished.exit_code == 0, finished.output
    broker.reload()
    board.sleep(gauge.run_cycle())  # the new password works: it is the gauge's own now
    assert gauge.state["rot_ok"] == 1 and gauge.state["rotate"] is None, gauge.state
    assert gauge.site["password"] == broker.accounts.password(DEVICE) != old
    wait_for(lambda: extra(loop_db).get("rot_ok") == 1)
    rows = wait_for(lambda: (rows := stored(loop_db)) and len(rows) == 4 and rows)
    assert [seq for seq, _, _ in rows] == [0, 1, 2, 3]  # every reading, through all of it

    _, hw, _ = firmware()
    import mqtt

    with pytest.raises(mqtt.Refused):  # the old password is gone
        mqtt.Client(DEVICE, DEVICE, old).connect(hw.open_stream("127.0.0.1", broker.port, False, "", 5))
    restarted, board, _ = virtual_gauge(
        tmp_path / "flash", site(broker, password=old), start=int(time.time()) - 3600, level_mm=lambda t: LEVEL_MM
    )
    board.sleep(restarted.run_cycle())  # after a restart, config.py's old password is not used
    assert restarted.state["net_fails"] == 0 and restarted.site["password"] != old
