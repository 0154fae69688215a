from __future__ import annotations

import pytest
from pydantic import ValidationError

from kawamori.settings import MqttEndpoint, Settings

PRODUCTION = {
    "environment": "production",
    "database_url": "postgresql://db/k",
    "mqtt_url": "mqtts://ingest:secret-password@broker:8883",
    "cap_sender": "kawamori@city.example.lg.jp",
    "public_url": "https://bousai.example.lg.jp",
}


def test_environment_variables_with_prefix(monkeypatch):
    monkeypatch.setenv("KAWAMORI_DASHBOARD_PORT", "9000")
    monkeypatch.setenv("KAWAMORI_DATABASE_URL", "postgresql://u:p@db:5432/k")
    settings = Settings(_env_file=None)
    assert settings.dashboard_port == 9000
    assert settings.database_url == "postgresql://u:p@db:5432/k"
    assert settings.embedded  # the broker is still embedded


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"database_url": "mysql://x"}, "postgresql://"),
        ({"mqtt_url": "http://x"}, "mqtt://"),
        ({"environment": "production"}, "production needs explicit"),
        (
            {
                "environment": "production",
                "database_url": "postgresql://db/k",
                "mqtt_url": "mqtt://ingest@broker",
            },
            "user and password",
        ),
        ({"dashboard_port": 70000}, "less than or equal"),
        ({"log_format": "xml"}, "pattern"),
        ({"cap_sender": "kawamori city"}, "no spaces, commas"),
        ({"cap_sender": "a,b"}, "no spaces, commas"),
        ({"public_url": "ftp://example.jp"}, "http"),
        ({"public_url": "https://example.jp/?x=1"}, "without query"),
        (
            {
                "environment": "production",
                "database_url": "postgresql://db/k",
                "mqtt_url": "mqtt://u:p@broker",
            },
            "KAWAMORI_CAP_SENDER",
        ),
        ({**PRODUCTION, "public_url": None}, "KAWAMORI_PUBLIC_URL"),
        ({"shelter_crowding_bands": "60,30,80"}, "three ascending percentages"),
        ({"shelter_crowding_bands": "30,60"}, "three ascending percentages"),
        ({"shelter_crowding_bands": "a,b,c"}, "three ascending percentages"),
        ({"vapid_subject": "bousai@example.jp"}, "mailto:"),
        ({"time_zone": "JST"}, "not a time zone name"),
        ({"time_zone": "Asia/Nowhere"}, "not a time zone name"),
        ({"time_zone": "../etc/passwd"}, "not a time zone name"),
        ({"vapid_private_key": "k" * 43}, "KAWAMORI_VAPID_SUBJECT"),
        ({"smtp_host": "mail.example.jp"}, "KAWAMORI_SMTP_FROM"),
        ({"gateway_url": "ftp://gateway"}, "http"),
        ({**PRODUCTION, "vapid_subject": "mailto:a@example.jp"}, "KAWAMORI_VAPID_PRIVATE_KEY"),
        ({**PRODUCTION, "line_channel_access_token": "t", "line_channel_secret": " "}, "LINE_CHANNEL_SECRET"),
        ({**PRODUCTION, "smtp_host": "mx", "smtp_from": "a@example.jp", "smtp_user": "u"}, "SMTP_PASSWORD"),
        ({**PRODUCTION, "gateway_url": "https://gw.example.jp", "gateway_secret": "short"}, "GATEWAY_SECRET"),
        (
            {**PRODUCTION, "gateway_url": "http://gw.example.jp", "gateway_secret": "s" * 32},
            "https:// in production",
        ),
    ],
)
def test_invalid_settings_are_refused_at_start(values, message):
    with pytest.raises(ValidationError, match=message):
        Settings(_env_file=None, **values)


def test_production_with_explicit_services():
    settings = Settings(_env_file=None, **PRODUCTION)
    assert not settings.embedded
    assert settings.links_url == "https://bousai.example.lg.jp"


def test_endpoint_hides_its_password():
    endpoint = MqttEndpoint("mqtts://ingest:hunter2@broker.example:8883")
    assert (endpoint.host, endpoint.port, endpoint.tls, endpoint.username) == (
        "broker.example",
        8883,
        True,
        "ingest",
    )
    assert "hunter2" not in repr(endpoint) and "hunter2" not in str(endpoint.password)
    assert MqttEndpoint("mqtt://broker").port == 1883


def test_cap_defaults_and_public_url():
    settings = Settings(_env_file=None, public_url="https://bousai.example.jp/kawamori/")
    assert settings.public_url == "https://bousai.example.jp/kawamori"
    assert settings.links_url == "https://bousai.example.jp/kawamori"
    assert Settings(_env_file=None, dashboard_port=8080).links_url == "http://localhost:8080"  # development
    assert settings.cap_sender.startswith("kawamori@") and " " not in settings.cap_sender


def test_production_channels_with_their_secrets():
    settings = Settings(
        _env_file=None,
        **PRODUCTION,
        vapid_subject="mailto:bousai@example.jp",
        vapid_private_key="GYalE6Q8Pq7u1BIggNe8QAwoqWgV4ZFeY4nYKd_w-Qo",
        line_channel_access_token="line-access-xyz",
        line_channel_secret="line-secret-xyz",
        smtp_host="mail.example.jp",
        smtp_from="bousai@example.jp",
        gateway_url="https://gateway.example.jp/kawamori",
        gateway_secret="g" * 32,
    )
    assert "line-access-xyz" not in repr(settings) and "g" * 32 not in repr(settings)


def test_the_city_s_time_zone_defaults_to_japan_and_can_be_set():
    assert Settings(_env_file=None).zone.key == "Asia/Tokyo"
    assert Settings(_env_file=None, time_zone="Pacific/Guam").zone.key == "Pacific/Guam"
