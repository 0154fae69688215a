"""Residents' subscriptions: service functions over one connection.

A subscription is one channel address and the alert areas it wants; nothing else
about the person. The address is stored only sealed (:mod:`notify.sealing`) plus a
keyed digest that finds the same address again; a point (home, school) is stored only
as the areas it lies in and a cell rounded to 0.01° (about 1 km).

============================  ===============================================================
``subscribe``                 new or updated subscription at once → ``(id, unsubscribe
                              token)``, the same answer whether the address was known or
                              not (Web Push, LINE, staff); it is :func:`check` then
                              :func:`store`. A public e-mail request waits for
                              confirmation first (:mod:`notify.pending`)
``set_language``              a subscriber changes the language (LINE)
``language_of``               the language of an address's subscription or choice
``unsubscribe``               by the token every message carries
``delete_address``            a deletion request by address (LINE unfollow, a phone call)
``forget_gone``               the channel said the address is gone (Web Push 404/410, …)
``recipients_for``            the delivery workers' query: every subscriber of some areas
``allow_subscribe_attempt``   rate limiting of the public subscribe endpoint
============================  ===============================================================

Every row of ``subscriptions`` gets alerts. An e-mail address asked for on the public
side is written here only once its owner has confirmed it (until then it waits in
``subscription_requests``, which fan-out never reads); staff-entered ones at once.

Deleting a subscription deletes its queued deliveries and its notification log rows
(``ON DELETE CASCADE`` in migration 0007): nothing about the subscriber remains.

Address forms per channel (what ``address`` is):

* ``webpush`` — the browser's ``PushSubscription.toJSON()``:
  ``{"endpoint": "https://…", "keys": {"p256dh": "…", "auth": "…"}}``
* ``line`` — a LINE user id, ``U`` and 32 hex digits
* ``email`` — an e-mail address (stored lower-cased)
* ``gateway`` — ``<medium>:<number or zone>`` with medium ``sms``, ``voice``, ``fax`` or
  ``radio`` (e.g. ``fax:+81235001234``); the delivery worker renders for that medium
  (:func:`gateway_channel`).
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import psycopg
import structlog
from shapely.geometry import Point, shape
from shapely.prepared import prep

from kawamori import texts
from notify.channels.base import Recipient, WebPushSubscription
from notify.channels.http import public_address
from notify.errors import InvalidAddress, OutsideAreas, SealError, SubscriptionError, UnknownArea
from notify.render import Channel
from notify.sealing import SubscriberKey, token_digest

CHANNELS = ("webpush", "line", "email", "gateway")
LANGUAGES = texts.LANGUAGES
GATEWAY_MEDIA = ("sms", "voice", "fax", "radio")
CELL_DEGREES = 0.01  # a point is kept only as this grid cell: ~1.1 km north–south, ~0.9 km east–west
MAX_AREAS = 50
FETCH_ROWS = 2000  # rows per round trip of the server-side cursor in recipients_for

SUBSCRIBE_LIMIT = 10  # per client address …
SUBSCRIBE_WINDOW = timedelta(hours=1)  # … per window

log = structlog.get_logger("notify.subscriptions")

_LINE_USER = re.compile(r"U[0-9a-f]{32}")
_EMAIL = re.compile(r"[^@\s<>,;\"]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}\.)+[A-Za-z]{2,63}")
_GATEWAY = re.compile(r"(sms|voice|fax|radio):([+]?[0-9A-Za-z._-]{2,40})")
_B64URL = re.compile(r"[A-Za-z0-9_=-]{8,200}")


class Subscriber(NamedTuple):
    """One row of :func:`recipients_for`. ``cell`` is ``(lat, lon)`` rounded, or ``None``."""

    id: uuid.UUID
    channel: str
    language: str
    recipient: Recipient
    cell: tuple[float, float] | None

    def __repr__(self) -> str:  # the recipient's repr is already a fingerprint
        return f"Subscriber({self.id}, {self.channel}, {self.language}, {self.recipient!r})"


# --- addresses ---------------------------------------------------------------------------------


def normalise(channel: str, address: Any) -> tuple[str, Any]:
    """``(digest input, what is sealed)`` of an address; raises :class:`InvalidAddress`.
    Error messages never repeat the address."""
    if channel == "webpush":
        if not isinstance(address, dict):
            raise InvalidAddress("a Web Push address is a PushSubscription object")
        endpoint = address.get("endpoint")
        keys = address.get("keys") or {}
        p256dh, auth = keys.get("p256dh"), keys.get("auth")
        if not isinstance(endpoint, str) or not endpoint.startswith("https://") or len(endpoint) > 2048:
            raise InvalidAddress("a push endpoint is an https:// URL")
        if not _public_host(urlsplit(endpoint).hostname or ""):
            raise InvalidAddress("a push endpoint must be a public host")  # no requests to our own network
        if not all(isinstance(v, str) and _B64URL.fullmatch(v) for v in (p256dh, auth)):
            raise InvalidAddress("a push subscription needs keys.p256dh and keys.auth (base64url)")
        return endpoint, {"endpoint": endpoint, "p256dh": p256dh, "auth": auth}
    if not isinstance(address, str):
        raise InvalidAddress(f"a {channel} address is a string")
    text = address.strip()
    if channel == "line":
        if not _LINE_USER.fullmatch(text):
            raise InvalidAddress("a LINE user id is U and 32 hex digits")
        return text, text
    if channel == "email":
        text = text.lower()
        if len(text) > 254 or not _EMAIL.fullmatch(text):
            raise InvalidAddress("not an e-mail address")
        return text, text
    if channel == "gateway":
        text = re.sub(r"[\s()]|(?<=\d)-(?=\d)", "", text)
        if not _GATEWAY.fullmatch(text):
            raise InvalidAddress("a gateway address is sms:, voice:, fax: or radio: and a number or zone")
        return text, text
    raise InvalidAddress(f"unknown channel; one of {CHANNELS}")


_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")
_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".lan", ".home.arpa", ".localdomain")


def _public_host(host: str) -> bool:
    """Whether a push endpoint's host may be called: a public IP address written the
    one standard way, or a host name of at least two labels that is not a local one.
    Numbers in other forms (``127.1``, ``0x7f.0.0.1``, ``0177.0.0.1``, ``2130706433``),
    which resolvers read as addresses, are refused. A name's addresses are checked
    again when a delivery worker connects (:mod:`notify.channels.http`)."""
    host = host.strip("[]").lower()
    if not host or host.rstrip(".") == "localhost" or host.rstrip(".").endswith(_LOCAL_SUFFIXES):
        return False
    labels = host.rstrip(".").split(".")
    if ":" in host or _NUMERIC_LABEL.match(labels[-1]):
        try:
            ipaddress.ip_address(host)  # strict: a dotted quad without leading zeros, or IPv6
        except ValueError:
            return False
        return public_address(host)
    return len(labels) >= 2 and all(_HOST_LABEL.match(label) for label in labels)


def recipient(channel: str, opened: Any) -> Recipient:
    """The :class:`Recipient` a notifier takes, from an opened address."""
    if channel == "webpush":
        return Recipient(WebPushSubscription(opened["endpoint"], opened["p256dh"], opened["auth"]))
    return Recipient(opened)


def gateway_channel(recipient: Recipient) -> Channel:
    """The rendering channel of a gateway recipient (``fax:+81…`` → ``Channel.fax``)."""
    return Channel(str(recipient.address).split(":", 1)[0])


def cell_of(latitude: float, longitude: float) -> tuple[float, float]:
    """A point rounded to the 0.01° grid (about 1 km): all that is kept of it."""
    return round(round(latitude / CELL_DEGREES) * CELL_DEGREES, 2), round(
        round(longitude / CELL_DEGREES) * CELL_DEGREES, 2
    )


def known_language(language: str) -> str:
    """``language`` if subscriptions may have it; raises :class:`SubscriptionError`."""
    if language not in LANGUAGES:
        raise SubscriptionError(f"unknown language; one of {LANGUAGES}")
    return language


# --- areas -------------------------------------------------------------------------------------


def areas_at(conn: psycopg.Connection, *, latitude: float, longitude: float) -> list[str]:
    """The alert areas containing a point (boundary included), by id."""
    point = Point(longitude, latitude)  # GeoJSON order
    rows = conn.execute("SELECT id, geometry FROM alert_areas ORDER BY id").fetchall()
    return [area_id for area_id, geometry in rows if prep(shape(geometry)).covers(point)]


def _known_areas(conn: psycopg.Connection, areas: Iterable[str]) -> list[str]:
    wanted = sorted(set(areas))
    found = {r[0] for r in conn.execute("SELECT id FROM alert_areas WHERE id = ANY(%s)", (wanted,))}
    if missing := [a for a in wanted if a not in found]:
        raise UnknownArea(f"no alert area {', '.join(missing)}")
    return wanted


# --- subscribe / unsubscribe ----------------------------------------------------------------------


class Checked(NamedTuple):
    """A subscribe request that passed :func:`check`: what :func:`store` writes."""

    channel: str
    digest: str  # keyed hash of the normalised address
    plain: Any  # the address as it is sealed
    language: str
    areas: list[str]
    cell: tuple[float, float] | None

    def __repr__(self) -> str:  # never the address
        return f"Checked({self.channel}, {self.language}, {len(self.areas)} areas)"


def check(
    conn: psycopg.Connection,
    *,
    channel: str,
    address: Any,
    language: str,
    areas: Sequence[str] = (),
    point: tuple[float, float] | None = None,
    key: SubscriberKey,
) -> Checked:
    """Check a subscribe request for ``address`` on ``channel`` to ``areas`` and the areas
    around ``point`` (``(latitude, longitude)``); raises a :class:`SubscriptionError`."""
    if channel not in CHANNELS:
        raise InvalidAddress(f"unknown channel; one of {CHANNELS}")
    known_language(language)
    normalised, plain = normalise(channel, address)
    chosen = set(_known_areas(conn, areas))
    cell: tuple[float, float] | None = None
    if point is not None:
        latitude, longitude = point
        if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
            raise SubscriptionError("a point needs a latitude and a longitude")
        matched = areas_at(conn, latitude=latitude, longitude=longitude)
        if not matched and not chosen:
            raise OutsideAreas("the place is inside none of the alert areas")
        chosen.update(matched)
        cell = cell_of(latitude, longitude)
    if not chosen:
        raise SubscriptionError("choose at least one alert area or give a place")
    if len(chosen) > MAX_AREAS:
        raise SubscriptionError(f"at most {MAX_AREAS} areas")
    return Checked(channel, key.digest(channel, normalised), plain, language, sorted(chosen), cell)


def store(
    conn: psycopg.Connection, checked: Checked, *, key: SubscriberKey, now: datetime
) -> tuple[uuid.UUID, str]:
    """Write a checked request: a new subscription, or an existing subscription of the
    same address updated (its language, areas and cell replaced). Returns
    ``(subscription id, unsubscribe token)`` — the same for the same address every time."""
    channel, digest = checked.channel, checked.digest
    with conn.transaction():
        row = conn.execute(
            "SELECT id FROM subscriptions WHERE channel = %s AND address_digest = %s FOR UPDATE",
            (channel, digest),
        ).fetchone()
        subscription_id = row[0] if row else uuid.uuid4()
        token = key.unsubscribe_token(subscription_id)
        values = (
            key.seal(checked.plain, subscription_id=subscription_id),
            checked.areas,
            checked.cell[0] if checked.cell else None,
            checked.cell[1] if checked.cell else None,
            checked.language,
            now,
        )
        if row:
            conn.execute(
                """UPDATE subscriptions SET address_sealed = %s, areas = %s, cell_lat = %s,
                          cell_lon = %s, language = %s, updated_at = %s
                   WHERE id = %s""",
                (*values, subscription_id),
            )
        else:
            conn.execute(
                """INSERT INTO subscriptions (address_sealed, areas, cell_lat, cell_lon, language,
                                              updated_at, created_at, id, channel, address_digest,
                                              unsubscribe_digest)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                   ON CONFLICT (channel, address_digest) DO NOTHING""",
                (*values, now, subscription_id, channel, digest, token_digest(token)),
            )
    # a concurrent first subscribe of the same address may have won the insert
    winner = conn.execute(
        "SELECT id FROM subscriptions WHERE channel = %s AND address_digest = %s", (channel, digest)
    ).fetchone()
    if winner and winner[0] != subscription_id:
        return store(conn, checked, key=key, now=now)
    return subscription_id, token


def subscribe(
    conn: psycopg.Connection,
    *,
    channel: str,
    address: Any,
    language: str,
    areas: Sequence[str] = (),
    point: tuple[float, float] | None = None,
    key: SubscriberKey,
    now: datetime,
) -> tuple[uuid.UUID, str]:
    """Subscribe at once (:func:`check`, then :func:`store`): for Web Push, LINE and
    staff. A public e-mail request waits for confirmation instead
    (:func:`notify.pending.request`)."""
    checked = check(
        conn, channel=channel, address=address, language=language, areas=areas, point=point, key=key
    )
    return store(conn, checked, key=key, now=now)


def set_language(
    conn: psycopg.Connection, *, channel: str, address: Any, language: str, key: SubscriberKey, now: datetime
) -> bool:
    """Change the language of the subscription of ``address``; ``False`` when it has none."""
    normalised, _ = normalise(channel, address)
    return (
        conn.execute(
            """UPDATE subscriptions SET language = %s, updated_at = %s
               WHERE channel = %s AND address_digest = %s""",
            (known_language(language), now, channel, key.digest(channel, normalised)),
        ).rowcount
        > 0
    )


def language_of(conn: psycopg.Connection, *, channel: str, address: Any, key: SubscriberKey) -> str | None:
    """The language of the subscription of ``address``, else the language its owner chose
    before subscribing (:func:`notify.pending.choose_language`), else ``None``."""
    normalised, _ = normalise(channel, address)
    row = conn.execute(
        """SELECT language FROM subscriptions WHERE channel = %(channel)s AND address_digest = %(digest)s
           UNION ALL
           SELECT language FROM language_choices WHERE channel = %(channel)s AND address_digest = %(digest)s
           LIMIT 1""",
        {"channel": channel, "digest": key.digest(channel, normalised)},
    ).fetchone()
    return row[0] if row else None


def unsubscribe(conn: psycopg.Connection, *, token: str) -> bool:
    """Delete the subscription of an unsubscribe token, with its queued deliveries and
    log. ``False`` when there is none (already gone, or never was)."""
    if not token or len(token) > 200:
        return False
    return (
        conn.execute(
            "DELETE FROM subscriptions WHERE unsubscribe_digest = %s", (token_digest(token),)
        ).rowcount
        > 0
    )


def delete_address(conn: psycopg.Connection, *, channel: str, address: Any, key: SubscriberKey) -> bool:
    """A deletion request: everything about this address on this channel goes (its
    subscription, and a request or a language choice waiting in :mod:`notify.pending`).
    Says whether there was a subscription."""
    normalised, _ = normalise(channel, address)
    where = (channel, key.digest(channel, normalised))
    with conn.transaction():
        for table in ("subscription_requests", "language_choices"):
            conn.execute(f"DELETE FROM {table} WHERE channel = %s AND address_digest = %s", where)
        return (
            conn.execute(
                "DELETE FROM subscriptions WHERE channel = %s AND address_digest = %s", where
            ).rowcount
            > 0
        )


def forget_gone(conn: psycopg.Connection, *, subscription_id: uuid.UUID) -> bool:
    """The channel said the address no longer exists: delete the subscription."""
    return conn.execute("DELETE FROM subscriptions WHERE id = %s", (subscription_id,)).rowcount > 0


def subscription_of(conn: psycopg.Connection, *, token: str) -> dict | None:
    """What a resident sees of their own subscription (channel, language, areas), by token."""
    row = conn.execute(
        "SELECT id, channel, language, areas FROM subscriptions WHERE unsubscribe_digest = %s",
        (token_digest(token),),
    ).fetchone()
    if row is None:
        return None
    return {"id": row[0], "channel": row[1], "language": row[2], "areas": list(row[3])}


# --- delivery ------------------------------------------------------------------------------------


def recipients_for(
    conn: psycopg.Connection, *, areas: Iterable[str], key: SubscriberKey, channels: Iterable[str] = CHANNELS
) -> Iterator[Subscriber]:
    """Every subscriber of any of ``areas``, unsealed, streamed from a server-side cursor
    (one query, ``areas && …`` on the GIN index). The caller must not commit or run
    other statements on ``conn`` while iterating: the cursor lives in a transaction.
    A row that does not open (another key) is skipped and counted in the log."""
    wanted = sorted(set(areas))
    skipped = 0
    with conn.transaction(), conn.cursor(name=f"recipients_{uuid.uuid4().hex[:8]}") as cur:
        cur.itersize = FETCH_ROWS
        cur.execute(
            """SELECT id, channel, language, address_sealed, cell_lat, cell_lon
               FROM subscriptions WHERE areas && %s::text[] AND channel = ANY(%s)""",
            (wanted, list(channels)),
        )
        for subscription_id, channel, language, sealed, lat, lon in cur:
            try:
                opened = key.open(sealed, subscription_id=subscription_id)
            except SealError:
                skipped += 1
                continue
            cell = (lat, lon) if lat is not None and lon is not None else None
            yield Subscriber(subscription_id, channel, language, recipient(channel, opened), cell)
    if skipped:
        log.warning("subscriptions.unreadable", count=skipped)


def unsubscribe_url(base_url: str, *, key: SubscriberKey, subscription_id: uuid.UUID) -> str:
    """The link every message carries: the resident page's unsubscribe confirmation."""
    return f"{base_url.rstrip('/')}/r/unsubscribe?token={key.unsubscribe_token(subscription_id)}"


# --- rate limiting -------------------------------------------------------------------------------


def allow_subscribe_attempt(
    conn: psycopg.Connection,
    *,
    client: str,
    key: SubscriberKey,
    now: datetime,
    limit: int = SUBSCRIBE_LIMIT,
    window: timedelta = SUBSCRIBE_WINDOW,
) -> bool:
    """Record one subscribe request of ``client`` (its network address, stored only as a
    keyed hash) and say whether it is within ``limit`` per ``window``. Old attempts
    are deleted on the way."""
    hashed = key.client(client)
    conn.execute("DELETE FROM subscribe_attempts WHERE at < %s", (now - window,))
    row = conn.execute(
        "SELECT count(*) FROM subscribe_attempts WHERE client = %s AND at >= %s", (hashed, now - window)
    ).fetchone()
    if row is not None and row[0] >= limit:
        return False
    conn.execute("INSERT INTO subscribe_attempts (client, at) VALUES (%s, %s)", (hashed, now))
    return True
