"""Provisioning sensor boards: register a device for a station, give it a broker
account with a random password, write the board's ``config.py``, and put the
firmware on a board over USB.

Passwords come from :func:`kawamori.broker_auth.new_password` (random, never derived
from a serial number). The broker's ACL patterns already limit every device to its
own topics, so a new account needs no ACL edit beyond the regenerated files; the
broker picks them up on SIGHUP (:func:`kawamori.broker_auth.reload_embedded_broker` for the embedded one).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import psycopg

from kawamori import contract, lorawan
from kawamori.broker_auth import Accounts, new_password

FIRMWARE = Path(__file__).resolve().parent.parent / "firmware"
DEVICE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
BOARDS = {"esp32": "xtensawin", "picow": "armv6m"}  # mpy-cross -march for each board
SOURCE_ONLY = {"main.py", "config.py"}  # run from source (main.py) or edited on the board
NOT_COPIED = {"config_example.py"}


class DeviceError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Registered:
    device_id: str
    station_id: str
    mount_m: float
    fast_on_m: float | None
    password: str


def new_device_id(station_id: str) -> str:
    """``<station>-<6 random hex>``: unique, and says nothing about the hardware."""
    return f"{station_id[:56]}-{secrets.token_hex(3)}"


def register(
    conn: psycopg.Connection,
    accounts: Accounts,
    *,
    station_id: str,
    device_id: str | None = None,
    note: str = "",
    rotate: bool = False,
) -> Registered:
    """Register (or move) a device for ``station_id`` and make sure it has a broker
    account; ``rotate`` gives an existing account a new password."""
    device_id, station = _register_row(conn, station_id=station_id, device_id=device_id, note=note)
    if rotate or accounts.password(device_id) is None:
        accounts.set(device_id, new_password())
    password = accounts.password(device_id)
    assert password is not None
    mount_m, stages = station
    levels = [stage["level_m"] for stage in stages]
    return Registered(device_id, station_id, mount_m, levels[0] if levels else None, password)


def _register_row(
    conn: psycopg.Connection, *, station_id: str, device_id: str | None, note: str
) -> tuple[str, tuple]:
    """The ``devices`` row (registered, or moved to ``station_id``); ``(device id, the
    station's (mount height, stages))``."""
    device_id = device_id or new_device_id(station_id)
    if not DEVICE_ID.fullmatch(device_id):
        raise DeviceError(f"{device_id!r} is not a device id (1–64 of A–Z a–z 0–9 _ . -)")
    station = conn.execute(
        "SELECT mount_height_m, stages FROM stations WHERE id = %s", (station_id,)
    ).fetchone()
    if station is None:
        raise DeviceError(f"no station {station_id!r}; load it with `kawamori network load FILE` first")
    with conn.transaction():
        conn.execute(
            """INSERT INTO devices (id, station_id, note) VALUES (%s, %s, %s)
               ON CONFLICT (id) DO UPDATE SET
                   installed_at = CASE WHEN devices.station_id IS DISTINCT FROM EXCLUDED.station_id
                                       THEN now() ELSE devices.installed_at END,
                   station_id = EXCLUDED.station_id, retired_at = NULL,
                   note = CASE WHEN EXCLUDED.note = '' THEN devices.note ELSE EXCLUDED.note END""",
            (device_id, station_id, note),
        )
    return device_id, station


def register_lorawan(
    conn: psycopg.Connection,
    *,
    station_id: str,
    dev_eui: str,
    server: str,
    application: str,
    ns_device: str | None = None,
    device_id: str | None = None,
    note: str = "",
) -> str:
    """Register a LoRaWAN gauge: its ``devices`` row (no broker account: it never
    connects to the broker itself) and its DevEUI, under which the network server's
    events name it. A DevEUI moved to another device leaves the old one unmapped."""
    eui = dev_eui.replace("-", "").replace(":", "").upper()
    if not re.fullmatch(r"[0-9A-F]{16}", eui):
        raise DeviceError(f"{dev_eui!r} is not a DevEUI (16 hex digits)")
    if server not in lorawan.SERVERS:
        raise DeviceError(f"network server must be one of {', '.join(lorawan.SERVERS)}")
    if not application or "/" in application or "+" in application or "#" in application:
        raise DeviceError("give the network server's application id (no / + #)")
    if server == "tts" and not ns_device:
        raise DeviceError("The Things Stack names its devices: give --ns-device (its device id)")
    device_id, _ = _register_row(conn, station_id=station_id, device_id=device_id, note=note)
    with conn.transaction():
        conn.execute("DELETE FROM lorawan_devices WHERE device_id = %s AND dev_eui <> %s", (device_id, eui))
        conn.execute(
            """INSERT INTO lorawan_devices (dev_eui, device_id, network_server, application, ns_device)
               VALUES (%s, %s, %s, %s, %s)
               ON CONFLICT (dev_eui) DO UPDATE SET device_id = EXCLUDED.device_id,
                   network_server = EXCLUDED.network_server, application = EXCLUDED.application,
                   ns_device = EXCLUDED.ns_device""",
            (eui, device_id, server, application, ns_device),
        )
    return device_id


def config_message(
    conn: psycopg.Connection, device_id: str, cfg: int, values: dict[str, float]
) -> tuple[str, bytes, bool]:
    """``(topic, payload, retain)`` that changes a gauge's remote configuration: a retained
    ``config`` document for a gauge on MQTT, a downlink through its network server for
    one on LoRaWAN (it changes only the settings it names). Each value is checked here
    against the firmware's own bounds (``firmware/settings.py``) so a typo fails at the
    desk; the gauge checks again, with the combinations of its own settings."""
    import runpy

    firmware = runpy.run_path(str(FIRMWARE / "settings.py"))
    unknown = sorted(set(values) - set(firmware["REMOTE"]))
    if unknown:
        raise DeviceError(f"not a remote setting: {', '.join(unknown)} (see firmware/README.md)")
    for key, value in values.items():  # each within its bounds (combinations: the gauge knows its own)
        kind, low, high = firmware["REMOTE"][key]
        if kind is int and not isinstance(value, int):
            raise DeviceError(f"{key} must be an integer")
        if not low <= value <= high:
            raise DeviceError(f"{key}={value} is outside {low}..{high}")
    if conn.execute("SELECT 1 FROM devices WHERE id = %s", (device_id,)).fetchone() is None:
        raise DeviceError(f"no device {device_id!r}")
    lora = conn.execute(
        "SELECT network_server, application, dev_eui, ns_device FROM lorawan_devices WHERE device_id = %s",
        (device_id,),
    ).fetchone()
    if lora is None:
        return contract.topic(device_id, "config"), contract.encode_config(cfg, values), True
    server, application, dev_eui, ns_device = lora
    try:
        data = lorawan.encode_config(cfg, values)
    except ValueError as error:
        raise DeviceError(str(error)) from None
    topic, payload = lorawan.downlink(
        server, application=application, dev_eui=dev_eui, device=ns_device, data=data
    )
    return topic, payload, False


def seal_secret(password: str, plaintext: bytes, nonce: bytes | None = None) -> bytes:
    """New credentials sealed for a gauge with the password it uses now: the format
    ``firmware/secret.py`` opens (SHA-256 counter-mode keystream, HMAC-SHA-256 over
    nonce and ciphertext). The tests open it with the firmware's own code."""
    nonce = nonce or secrets.token_bytes(16)
    base = hashlib.sha256(b"kawamori-secret-v1" + password.encode()).digest()
    enc = hashlib.sha256(base + b"enc").digest()
    mac = hashlib.sha256(base + b"mac").digest()
    blocks = range(len(plaintext) // 32 + 1)
    stream = b"".join(hashlib.sha256(enc + nonce + n.to_bytes(4, "big")).digest() for n in blocks)
    body = bytes(a ^ b for a, b in zip(plaintext, stream, strict=False))
    return b"\x01" + nonce + hmac.new(mac, nonce + body, hashlib.sha256).digest() + body


def rotation_file(folder: Path) -> Path:
    return folder / "rotations.json"


def start_rotation(
    accounts: Accounts, device_id: str, *, wifi_ssid: str | None = None, wifi_key: str | None = None
) -> tuple[int, bytes]:
    """New credentials for ``device_id``: ``(rotation number, sealed secret)``. They wait
    in ``rotations.json`` (0600, next to the accounts) until :func:`finish_rotation`;
    the broker keeps the old password until then."""
    current = accounts.password(device_id)
    if current is None:
        raise DeviceError(f"{device_id!r} has no broker account")
    path = rotation_file(accounts.folder)
    pending = json.loads(path.read_text()) if path.exists() else {}
    previous = pending.get(device_id, {})
    number = max(previous.get("n", 0), previous.get("done", 0)) + 1
    document: dict[str, object] = {"n": number, "password": new_password()}
    if wifi_ssid is not None:
        document.update(wifi_ssid=wifi_ssid, wifi_key=wifi_key or "")
    pending[device_id] = {**document, "done": previous.get("done", 0)}
    write_secret(path, json.dumps(pending))
    return number, seal_secret(current, json.dumps(document).encode())


def finish_rotation(accounts: Accounts, device_id: str, reported: int | None, *, force: bool = False) -> int:
    """Switch the broker to the pending password once the gauge said it has it
    (``reported``: the ``rot`` of its last status); returns the rotation number."""
    path = rotation_file(accounts.folder)
    pending = json.loads(path.read_text()) if path.exists() else {}
    entry = pending.get(device_id)
    if not entry or "password" not in entry:
        raise DeviceError(f"no rotation under way for {device_id!r}")
    if reported != entry["n"] and not force:
        raise DeviceError(
            f"{device_id} has not reported rotation {entry['n']} yet (its status says {reported}); "
            "switching now could lock it out (--force to do it anyway)"
        )
    accounts.set(device_id, entry["password"])
    pending[device_id] = {"done": entry["n"]}
    write_secret(path, json.dumps(pending))
    return int(entry["n"])


def board_config(
    registered: Registered,
    *,
    broker_host: str,
    broker_port: int,
    tls: bool,
    wifi_ssid: str,
    wifi_key: str,
    sensor: str = "a02yyuw",
    not_before: int = 0,
    update_key: str | None = None,
) -> str:
    """The board's ``config.py`` (it holds the device's password: keep it 0600).
    ``not_before`` (Unix seconds, the time of provisioning) is the earliest its clock
    may be set to when NTP is unreachable after a power cut."""
    values: dict[str, object] = {
        "device": registered.device_id,
        "password": registered.password,
        "broker_host": broker_host,
        "broker_port": broker_port,
        "tls": tls,
        "wifi_ssid": wifi_ssid,
        "wifi_key": wifi_key,
        "sensor": sensor,
        "mount_m": round(registered.mount_m, 3),
    }
    if not_before:
        values["not_before"] = not_before
    if update_key:  # the public key that signs its updates (kawamori device update-key)
        values["update_key"] = update_key
    if registered.fast_on_m is not None:  # the first stage (observation start) switches to fast mode
        values["fast_on_m"] = round(registered.fast_on_m, 3)
        values["fast_off_m"] = round(registered.fast_on_m - 0.1, 3)
    lines = [
        f'"""Kawamori gauge {registered.device_id} at station {registered.station_id}.',
        "Written by `kawamori device add`; holds this device's secret. See config_example.py.",
        '"""',
        "",
        "SETTINGS = {",
        *(f"    {key!r}: {value!r}," for key, value in values.items()),
        "}",
        "",
    ]
    return "\n".join(lines)


def write_secret(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(temporary, path)


# -- flashing -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Copy:
    source: Path  # what is copied (a compiled .mpy or a .py)
    target: str  # path on the board
    origin: Path  # the firmware source it comes from


def plan_copies(config: Path, *, build_dir: Path, compile_: bool, ca_file: Path | None = None) -> list[Copy]:
    """What goes on the board: every firmware module (compiled to .mpy unless
    ``compile_`` is False), main.py as source, the board's config.py and CA file."""
    copies = []
    for source in sorted(FIRMWARE.glob("*.py")):
        if source.name in NOT_COPIED or source.name in SOURCE_ONLY:
            continue
        if compile_:
            copies.append(Copy(build_dir / f"{source.stem}.mpy", f":{source.stem}.mpy", source))
        else:
            copies.append(Copy(source, f":{source.name}", source))
    copies.append(Copy(FIRMWARE / "main.py", ":main.py", FIRMWARE / "main.py"))
    copies.append(Copy(config, ":config.py", config))
    if ca_file is not None:
        copies.append(Copy(ca_file, ":ca.crt", ca_file))
    return copies


def mpy_cross() -> list[str]:
    candidate = Path(sys.executable).parent / "mpy-cross"
    if candidate.exists():
        return [str(candidate)]
    found = shutil.which("mpy-cross")
    if found:
        return [found]
    raise DeviceError("mpy-cross is not installed (uv sync installs it); or flash with --no-compile")


def compile_firmware(copies: list[Copy], board: str) -> None:
    for copy in copies:
        if copy.source.suffix != ".mpy":
            continue
        copy.source.parent.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [*mpy_cross(), f"-march={BOARDS[board]}", "-o", str(copy.source), str(copy.origin)],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise DeviceError(f"mpy-cross {copy.origin.name}: {done.stderr.strip()}")


def mpremote_command(copies: list[Copy], port: str) -> list[str]:
    """One mpremote run: make /data, copy every file, reset the board."""
    local = Path(sys.executable).parent / "mpremote"
    command = [str(local) if local.exists() else "mpremote", "connect", port]
    command += ["exec", "import os\ntry:\n    os.mkdir('/data')\nexcept OSError:\n    pass"]
    for copy in copies:
        command += ["+", "fs", "cp", str(copy.source), copy.target]
    return [*command, "+", "reset"]


def flash(config: Path, *, port: str, board: str, compile_: bool, ca_file: Path | None) -> list[Copy]:
    if not config.exists():
        raise DeviceError(f"{config} does not exist; write it with `kawamori device add`")
    with tempfile.TemporaryDirectory(prefix="kawamori-flash-") as build:
        copies = plan_copies(config, build_dir=Path(build), compile_=compile_, ca_file=ca_file)
        if compile_:
            compile_firmware(copies, board)
        done = subprocess.run(mpremote_command(copies, port))
        if done.returncode != 0:
            raise DeviceError(f"mpremote failed with exit code {done.returncode}; is the board on {port}?")
    return copies
