from __future__ import annotations

from typer.testing import CliRunner

from kawamori.settings import Settings
from kawamori_app.cli import app
from notify.channels.webpush import public_key_of
from notify.config import notifiers

runner = CliRunner()


def test_vapid_keys_prints_a_usable_pair():
    result = runner.invoke(app, ["notify", "vapid-keys"])
    assert result.exit_code == 0, result.output
    first, second = result.stdout.strip().splitlines()
    name, _, private = first.partition("=")
    assert name == "KAWAMORI_VAPID_PRIVATE_KEY"
    assert second.endswith(public_key_of(private))
    settings = Settings(_env_file=None, vapid_subject="mailto:bousai@example.jp", vapid_private_key=private)
    assert set(notifiers(settings)) == {"webpush"}


def test_preview_renders_every_language_and_channel():
    for language in ("ja", "en", "ja-easy"):
        for channel in ("line", "sms", "voice"):
            result = runner.invoke(app, ["notify", "preview", "--language", language, "--channel", channel])
            assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["notify", "preview", "--exercise", "--level", "5"])
    assert "【訓練】" in result.stdout and "緊急安全確保" in result.stdout


def test_preview_of_an_unknown_language_is_a_clean_error():
    result = runner.invoke(app, ["notify", "preview", "--language", "xx"])
    assert result.exit_code == 2
    assert "no texts for language" in result.output


def test_every_channel_from_settings():
    settings = Settings(
        _env_file=None,
        line_channel_access_token="token",
        line_channel_secret="secret",
        smtp_host="127.0.0.1",
        smtp_from="bousai@example.jp",
        gateway_url="http://127.0.0.1:9/gw",
        gateway_secret="s" * 32,
    )
    assert set(notifiers(settings)) == {"line", "email", "webhook"}


def test_subscriber_key_prints_a_usable_key(tmp_path):
    from notify.sealing import load_key

    result = runner.invoke(app, ["notify", "subscriber-key"])
    assert result.exit_code == 0, result.output
    name, _, value = result.stdout.strip().partition("=")
    assert name == "KAWAMORI_SUBSCRIBER_KEY"
    assert load_key(Settings(_env_file=None, subscriber_key=value, data_dir=tmp_path))


def test_staff_register_and_forget_a_resident_without_a_smartphone(demo_db, tmp_path, monkeypatch):
    from kawamori import db
    from notify.sealing import generate_key

    monkeypatch.setenv("KAWAMORI_DATABASE_URL", demo_db)
    monkeypatch.setenv("KAWAMORI_MQTT_URL", "mqtt://unused:1883")
    monkeypatch.setenv("KAWAMORI_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("KAWAMORI_SUBSCRIBER_KEY", generate_key())
    number = "fax:+81235001234"
    result = runner.invoke(app, ["notify", "subscribe", "--area", "area-kyoden-lower"], input=number + "\n")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines()[-1].startswith("subscribed: ")
    with db.connect(demo_db) as conn:
        assert conn.execute("SELECT channel, areas FROM subscriptions").fetchall() == [
            ("gateway", ["area-kyoden-lower"])
        ]
    # staff enter e-mail addresses from paper forms: confirmed at once, no confirmation e-mail
    staff_entered = ["notify", "subscribe", "--channel", "email", "--area", "area-kyoden-lower"]
    assert runner.invoke(app, [*staff_entered, "--address", "paper@example.jp"]).exit_code == 0
    with db.connect(demo_db) as conn:
        assert conn.execute("SELECT count(*) FROM subscriptions WHERE channel = 'email'").fetchone()[0] == 1
        assert conn.execute("SELECT count(*) FROM subscription_requests").fetchone()[0] == 0
    refused = runner.invoke(app, ["notify", "subscribe", "--area", "nowhere", "--address", number])
    assert refused.exit_code == 2 and "nowhere" in refused.output
    forgotten = runner.invoke(app, ["notify", "forget"], input="fax:+81 235 001 234\n")
    assert forgotten.exit_code == 0 and "deleted" in forgotten.stdout
    again = runner.invoke(app, ["notify", "forget", "--address", number])
    assert "no such subscription" in again.stdout
