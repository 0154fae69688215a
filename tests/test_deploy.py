"""The production files: no default secrets, no anonymous broker, non-root services."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
REQUIRED = re.compile(r"\$\{[A-Z_]+:\?[^}]+\}")
UNSET = re.compile(r"\$\{[A-Z_]+:-\}")  # an optional channel's secret: empty means not configured


def compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def environments(document: dict):
    for name, service in document["services"].items():
        yield name, service.get("environment") or {}


def test_every_secret_in_compose_is_required_not_defaulted():
    text = (ROOT / "compose.yaml").read_text()
    for line in text.splitlines():
        if "PASSWORD" in line and ":" in line and not line.strip().startswith("#"):
            value = line.split(":", 1)[1]
            if "${" in value:
                found = re.findall(r"\$\{[^}]+\}", value)
                assert all(REQUIRED.fullmatch(m) or UNSET.fullmatch(m) for m in found), line
    for name, env in environments(compose()):
        for key, value in env.items():
            if "PASSWORD" in key or ("URL" in key and "@" in str(value)):  # credentials
                assert "${" in str(value), f"{name}.{key} has a literal value"


def test_compose_runs_the_platform_in_production_mode():
    services = compose()["services"]
    assert {"timescaledb", "mosquitto", "migrate", "ingest", "alerts", "notify", "dashboard"} <= set(services)
    assert services["notify"]["command"] == ["notify", "deliver"]
    assert any(v.endswith(":/var/lib/kawamori/deliver-journal") for v in services["notify"]["volumes"])
    assert services["ingest"]["environment"]["KAWAMORI_ENVIRONMENT"] == "production"
    for name in ("KAWAMORI_CAP_SENDER", "KAWAMORI_PUBLIC_URL"):  # production settings refuse to start without
        assert REQUIRED.fullmatch(services["dashboard"]["environment"][name]), name
    assert "timescale" in services["timescaledb"]["image"]


def broker_listeners() -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """The broker's global settings and each listener's (by port)."""
    conf = (ROOT / "deploy" / "mosquitto" / "mosquitto.conf").read_text()
    general: dict[str, str] = {}
    listeners: dict[str, dict[str, str]] = {}
    current = general
    for line in conf.splitlines():
        if not line or line.startswith("#"):
            continue
        key, value = line.split(None, 1)
        if key == "listener":
            current = listeners.setdefault(value.split()[0], {})
        elif key in {"persistence", "max_queued_messages", "per_listener_settings"}:
            general[key] = value
        else:
            current[key] = value
    return general, listeners


def test_broker_refuses_anonymous_clients_and_keeps_backlogs():
    general, listeners = broker_listeners()
    assert general["per_listener_settings"] == "true"
    assert general["persistence"] == "true"
    assert int(general["max_queued_messages"]) >= 1_000_000
    assert set(listeners) == {"1883", "8883"}
    for listener in listeners.values():
        assert listener["allow_anonymous"] == "false"
        assert listener["password_file"] and listener["acl_file"]


def test_devices_listener_binds_client_ids_to_accounts_and_services_have_their_own():
    _, listeners = broker_listeners()
    devices, services = listeners["8883"], listeners["1883"]
    assert devices["use_username_as_clientid"] == "true" and "certfile" in devices
    assert services["use_username_as_clientid"] == "true"  # each ingest worker its own account
    assert devices["password_file"] != services["password_file"]
    assert devices["acl_file"] != services["acl_file"]


def test_service_image_does_not_run_as_root():
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    users = re.findall(r"^USER (\S+)", dockerfile, re.MULTILINE)
    assert users and users[-1] not in {"root", "0"}


def test_service_image_holds_every_package_the_wheel_has():
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    pyproject = (ROOT / "pyproject.toml").read_text()
    packages = re.search(r"packages = \[([^\]]+)\]", pyproject).group(1)
    for package in re.findall(r'"(\w+)"', packages):
        assert f"COPY {package} ./{package}" in dockerfile, package


def test_every_container_is_hardened():
    """Read-only root file systems, every capability dropped (a few given back where an
    image needs them), no privilege escalation (issue 20, finding 12)."""
    services = compose()["services"]
    allowed_caps = {
        "timescaledb": {"CHOWN", "DAC_OVERRIDE", "FOWNER", "SETGID", "SETUID"},
        "proxy": {"NET_BIND_SERVICE"},
    }
    for name, service in services.items():
        assert service["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in service["security_opt"], name
        assert set(service.get("cap_add", [])) <= allowed_caps.get(name, set()), name
        assert service["read_only"] is (name != "tools"), name


def test_the_broker_never_mounts_the_plain_passwords():
    services = compose()["services"]
    mounts = services["mosquitto"]["volumes"]
    assert "broker-accounts:/broker:ro" in mounts
    assert not any("broker-secrets" in mount for mount in mounts)
    assert services["broker-setup"]["environment"]["KAWAMORI_BROKER_SECRETS"].startswith("/secrets/")
    assert services["mosquitto"]["user"] == "1883:1883"


def test_each_service_gets_its_own_secrets_only():
    services = compose()["services"]
    for name, role in {
        "ingest": "kawamori_ingest",
        "alerts": "kawamori_alerts",
        "notify": "kawamori_notify",
        "dashboard": "kawamori_dashboard",
    }.items():
        env = services[name]["environment"]
        assert env["KAWAMORI_DATABASE_URL"].startswith(f"postgresql://{role}:"), name
        others = {k for k in env if k.startswith("KAWAMORI_DB_PASSWORD")}
        assert not others, (name, others)
        assert "env_file" not in services[name], name
        if name != "ingest":  # only ingest logs in to the broker
            assert "@" not in env["KAWAMORI_MQTT_URL"], name
    dashboard = services["dashboard"]["environment"]
    for secret in ("KAWAMORI_INGEST_MQTT_PASSWORD", "KAWAMORI_GATEWAY_SECRET", "KAWAMORI_DB_PASSWORD"):
        assert secret not in dashboard


def test_the_dashboard_is_reached_through_the_tls_proxy_it_trusts():
    services = compose()["services"]
    assert "ports" not in services["dashboard"]
    proxy = services["proxy"]
    assert "443:443" in proxy["ports"]
    assert (
        services["dashboard"]["environment"]["FORWARDED_ALLOW_IPS"]
        == proxy["networks"]["edge"]["ipv4_address"]
    )
    caddyfile = (ROOT / "deploy" / "caddy" / "Caddyfile").read_text()
    assert "Strict-Transport-Security" in caddyfile and "reverse_proxy dashboard:8700" in caddyfile
