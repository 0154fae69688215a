"""The firmware's settings: defaults here, the site's values in ``config.py`` (copy
``config_example.py``; it holds the secrets and is never committed), and the remote
part from the retained ``config`` topic, validated on the device.

A remote configuration is a JSON object ``{"v":1,"cfg":N, key: value, ...}`` with the
keys of ``REMOTE``. It replaces the previous remote configuration as a whole (a key
left out goes back to the site's value). One that is not valid JSON, has an unknown
key, a wrong type, a value outside its bounds or an inconsistent combination is
rejected: the last good one stays in force and the status message says why.
"""

FIRMWARE = "0.1.0"

DEFAULTS = {
    # identity and network (site only; config.py)
    "device": "",
    "password": "",
    "broker_host": "",
    "broker_port": 8883,
    "tls": True,
    "ca_file": "ca.crt",
    "wifi_ssid": "",
    "wifi_key": "",
    "ntp_host": "pool.ntp.org",
    "wifi_timeout_s": 20,
    # cellular instead of Wi-Fi: a modem on a UART, PPP (cellular.py)
    "uplink": "wifi",  # wifi | ppp | lorawan
    "lora_uart": 1,  # a LoRa-E5 modem (lora.py): readings as confirmed 11-byte uplinks
    "lora_tx_pin": 26,
    "lora_rx_pin": 27,
    "lora_join_s": 60,
    "lora_per_wake": 4,  # readings sent per wake-up at most (the duty cycle is the modem's)
    "ppp_apn": "",
    "ppp_uart": 1,
    "ppp_tx_pin": 26,
    "ppp_rx_pin": 27,
    "modem_power_pin": None,  # a GPIO switching the modem's supply (it draws tens of mA idle)
    "ppp_timeout_s": 90,
    # hardware (site only)
    "sensor": "a02yyuw",  # a02yyuw | jsn-sr04t | pressure
    "uart_id": 2,
    "tx_pin": 17,
    "rx_pin": 16,
    "trigger_pin": 5,
    "echo_pin": 18,
    "adc_pin": 34,
    "zero_uv": 500000,
    "full_uv": 2500000,
    "full_mm": 5000,
    "air_temp_c": None,
    "sensor_power_pin": None,  # a GPIO switching the sensor supply (MOSFET): on only while sampling
    "sensor_power_on": 1,  # the pin level that powers the sensor: 1 load switch / N-MOSFET, 0 bare P-MOSFET
    "dead_after": 3,  # a burst whose first N samples all fail is given up: the sensor is dead
    "temp_pin": None,  # a DS18B20 (1-Wire) for the speed of sound; else air_temp_c, else none
    "battery_pin": 35,
    "battery_divider": 2,
    "low_battery_mv": 3300,  # below this at rest: measure and buffer, but no radio (it browns out)
    "empty_battery_mv": 3100,  # below this: not even a measurement, sleep low_battery_sleep_s
    "low_battery_sleep_s": 3600,
    "update_key": None,  # hex P-256 public key that signs firmware updates (`kawamori device update`)
    "not_before": 0,  # Unix time the gauge was provisioned: the clock is never earlier
    "deep_sleep": True,  # battery: deep sleep between cycles, light sleep between samples
    "watchdog_s": 120,
    "buffer_dir": "buf",
    "buffer_max": 8192,  # readings kept on flash until acknowledged (~57 days at 10 min)
    # measurement and reporting (site defaults, remotely configurable)
    "mount_m": 5.0,
    "samples": 20,
    "burst_s": 20,
    "slow_s": 600,
    "fast_s": 120,
    "fast_on_m": 99.0,
    "fast_off_m": 98.0,
    "rise_m_h": 0.5,
    "send_s": 3600,  # slow mode sends hourly (six readings); fast mode sends every reading
    "health_s": 86400,
    "ntp_s": 86400,
    "batch": 50,
    "ack_wait_s": 10,
    "backoff_max_s": 3600,
    "flush_s": 60,  # the most an uplink spends sending the backlog; the rest waits for the next
}

# key: (type, minimum, maximum)
REMOTE = {
    "mount_m": (float, 0.1, 100.0),
    "samples": (int, 5, 120),
    "burst_s": (int, 5, 300),
    "slow_s": (int, 60, 86400),
    "fast_s": (int, 30, 3600),
    "fast_on_m": (float, -100.0, 1000.0),
    "fast_off_m": (float, -100.0, 1000.0),
    "rise_m_h": (float, 0.01, 100.0),
    "send_s": (int, 60, 86400),
    "health_s": (int, 600, 604800),
    "ntp_s": (int, 3600, 604800),
    "batch": (int, 1, 200),
    "ack_wait_s": (int, 1, 120),
    "backoff_max_s": (int, 60, 86400),
}


def site_settings(overrides: dict) -> dict:
    """DEFAULTS with the site's config.py values; unknown names are an error."""
    merged = dict(DEFAULTS)
    for key in overrides:
        if key not in DEFAULTS:
            raise ValueError("config.py: unknown setting %r" % key)
        merged[key] = overrides[key]
    return merged


def check(values: dict):
    """The first problem with a complete settings dict, or None."""
    for key in REMOTE:
        kind, low, high = REMOTE[key]
        value = values[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return "%s must be a number" % key
        if kind is int and not isinstance(value, int):
            return "%s must be an integer" % key
        if not low <= value <= high:
            return "%s=%s is outside %s..%s" % (key, value, low, high)
    if values["fast_s"] > values["slow_s"]:
        return "fast_s must not exceed slow_s"
    if values["fast_off_m"] > values["fast_on_m"]:
        return "fast_off_m must not exceed fast_on_m"
    if values["burst_s"] >= values["fast_s"]:
        return "burst_s must be shorter than fast_s"
    if values["burst_s"] * 1000 // values["samples"] < 100:
        return "samples are closer than 100 ms"
    return None


def remote(site: dict, payload: bytes, current: int):
    """Validate a ``config`` message against the site settings. Returns
    ``(version, values, None)`` to apply, ``(version, None, error)`` to reject, or
    ``None`` when it is the version in force already (retained messages come back on
    every connection)."""
    import hw

    try:
        document = hw.loads(payload)
    except (ValueError, UnicodeError):
        return (-1, None, "config is not valid JSON")
    if not isinstance(document, dict):
        return (-1, None, "config is not a JSON object")
    version = document.get("cfg")
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        return (-1, None, "cfg must be a non-negative integer")
    if version == current:
        return None
    if document.get("v") != 1:
        return (version, None, "unknown config schema v=%r" % document.get("v"))
    if version < current:
        return (version, None, "cfg %d is older than %d in force" % (version, current))
    values = dict(site)
    for key in document:
        if key in ("v", "cfg"):
            continue
        if key not in REMOTE:
            return (version, None, "unknown key %r" % key)
        value = document[key]
        if REMOTE[key][0] is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        values[key] = value
    problem = check(values)
    if problem is not None:
        return (version, None, problem)
    return (version, values, None)
