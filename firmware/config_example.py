"""Site settings for one gauge. Copy to config.py (never committed) and fill in, or
let `kawamori device add` write config.py for you. Every name is a key of
settings.DEFAULTS; what is left out keeps its default."""

SETTINGS = {
    "device": "kw-tsuruoka-07",  # the MQTT user name, from `kawamori device add`
    "password": "paste-the-generated-password-here",
    "broker_host": "mqtt.example.org",
    "broker_port": 8883,
    "tls": True,
    "ca_file": "ca.crt",  # the broker's CA certificate, copied next to this file
    "wifi_ssid": "river-gauges",
    "wifi_key": "wifi-password",
    "ntp_host": "ntp.nict.jp",
    "sensor": "a02yyuw",  # a02yyuw (UART) | jsn-sr04t (trigger/echo) | pressure (ADC)
    "rx_pin": 16,
    "tx_pin": 17,
    "mount_m": 15.8,  # sensor height above the gauge datum, metres
    "fast_on_m": 10.75,  # observation-start level: report every 2 minutes from here
    "fast_off_m": 10.5,  # back to every 10 minutes below this
    "deep_sleep": True,
}
