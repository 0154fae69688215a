"""Factories for the delivery queue's tables: a station, an alert and its outbox rows
(as alerts/store.py writes them), and subscriptions sealed with a test subscriber key
(any area id, without the areas table), read back by the production
:class:`notify.compose.SealedDirectory`."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime

from alerts.message import AlertMessage, AreaFacts
from notify.channels import WebPushSubscription
from notify.compose import SealedDirectory
from notify.sealing import SubscriberKey, token_digest
from tests.notify.factories import message

NOW = datetime(2026, 9, 1, 5, 6, tzinfo=UTC)
BASE_URL = "https://bousai.example.jp"
KEY = SubscriberKey(os.urandom(32))


def directory(key: SubscriberKey = KEY) -> SealedDirectory:
    return SealedDirectory(key, BASE_URL)


def area(area_id: str) -> AreaFacts:
    return AreaFacts(
        id=area_id, name_ja=f"{area_id}地区", name_en=area_id, geometry={"type": "Polygon", "coordinates": []}
    )


def add_station(conn, station_id: str = "akagawa-kumaide") -> str:
    conn.execute(
        """INSERT INTO stations (id, name_ja, name_en, river_ja, river_en, latitude, longitude,
                                 mount_height_m, level_min_m, level_max_m)
           VALUES (%s, '熊出', 'Kumaide', '赤川', 'Akagawa', 38.63, 139.83, 6, 0, 6)
           ON CONFLICT (id) DO NOTHING""",
        (station_id,),
    )
    return station_id


def add_alert(conn, *, status: str = "Actual", station_id: str = "akagawa-kumaide") -> int:
    add_station(conn, station_id)
    public = status == "Actual"
    return conn.execute(
        """INSERT INTO alerts (fingerprint, station_id, kind, status, state, public, alert_level,
                               opened_at, updated_at, version)
           VALUES (%s, %s, 'stage', %s, 'active', %s, 4, %s, %s, 1) RETURNING id""",
        (uuid.uuid4().hex, station_id, status, public, NOW, NOW),
    ).fetchone()[0]


def add_outbox(conn, msg: AlertMessage) -> int:
    public = str(msg.status) == "Actual"
    return conn.execute(
        """INSERT INTO alert_outbox (alert_id, version, msg_type, status, public, payload, created_at)
           VALUES (%s, %s, %s, %s, %s, %s::jsonb, %s) RETURNING id""",
        (msg.alert_id, msg.version, str(msg.msg_type), str(msg.status), public, msg.model_dump_json(), NOW),
    ).fetchone()[0]


def alert_message(alert_id: int, areas: list[str], **kw) -> AlertMessage:
    return message(alert_id=alert_id, areas=tuple(area(a) for a in areas), **kw)


def add_subscription(
    conn,
    *,
    channel: str,
    address,
    areas: list[str],
    language: str = "ja",
    cell: tuple[float, float] | None = None,
    key: SubscriberKey = KEY,
) -> uuid.UUID:
    sid = uuid.uuid4()
    if isinstance(address, WebPushSubscription):
        address = {"endpoint": address.endpoint, "p256dh": address.p256dh, "auth": address.auth}
    conn.execute(
        """INSERT INTO subscriptions (id, channel, language, address_sealed, address_digest, areas,
                                      cell_lat, cell_lon, unsubscribe_digest)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)""",
        (
            sid,
            channel,
            language,
            key.seal(address, subscription_id=sid),
            uuid.uuid4().hex,
            areas,
            cell[0] if cell else None,
            cell[1] if cell else None,
            token_digest(key.unsubscribe_token(sid)),
        ),
    )
    return sid
