"""What is held for someone who has not finished subscribing: service functions over
one connection. Nothing here ever gets an alert (fan-out reads only ``subscriptions``),
and everything expires after :data:`PENDING_TTL` (:func:`purge`).

=====================  ==========================================================================
``request``            a public e-mail request (double opt-in): checked like a subscription,
                       held in ``subscription_requests`` → the single-use confirmation token
                       for the link in the confirmation e-mail (:mod:`notify.optin_mail`)
``request_of``         what a still valid token asks for (the confirmation page shows it)
``confirm``            the resident opened the link and pressed the button: the request
                       becomes a subscription (new, or a change to an existing one)
``choose_language``    a LINE user chose a language before sending a location
``purge``              delete expired requests and language choices
=====================  ==========================================================================

A request stores the same as a subscription (the address only sealed, its keyed
digest, areas, a 1 km cell, the language) plus the SHA-256 of its token; the token
itself is only in the e-mail. One request per address: a newer one replaces it, but
at most one confirmation e-mail goes to an address every :data:`RESEND_AFTER` (so
nobody can flood someone's mailbox from many places). A request never changes an
existing subscription until it is confirmed. A deletion request
(:func:`notify.subscriptions.delete_address`) deletes what is held here too.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import psycopg

from notify import subscriptions
from notify.errors import SealError
from notify.sealing import SubscriberKey, token_digest

PENDING_TTL = timedelta(hours=48)  # the confirmation e-mail promises this
RESEND_AFTER = timedelta(minutes=10)
TOKEN_BYTES = 24  # 192 bits, URL-safe base64


class Requested(NamedTuple):
    """A request just stored: what the confirmation e-mail needs (``to`` is the address)."""

    token: str
    to: str
    language: str
    areas: list[str]

    def __repr__(self) -> str:  # never the token or the address
        return f"Requested({self.language}, {len(self.areas)} areas)"


def request(
    conn: psycopg.Connection,
    *,
    address: str,
    language: str,
    areas: list[str] | tuple[str, ...] = (),
    point: tuple[float, float] | None = None,
    key: SubscriberKey,
    now: datetime,
) -> Requested | None:
    """Hold a subscribe request of an e-mail ``address`` until it is confirmed (raises a
    :class:`notify.errors.SubscriptionError` like :func:`notify.subscriptions.check`).
    ``None`` when a confirmation e-mail went to this address less than
    :data:`RESEND_AFTER` ago: the earlier request stays, and no e-mail is to be sent."""
    checked = subscriptions.check(
        conn, channel="email", address=address, language=language, areas=areas, point=point, key=key
    )
    request_id = uuid.uuid4()
    token = secrets.token_urlsafe(TOKEN_BYTES)
    row = conn.execute(
        """INSERT INTO subscription_requests (id, channel, language, address_sealed, address_digest,
                                              areas, cell_lat, cell_lon, confirm_digest, created_at,
                                              expires_at)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
           ON CONFLICT (channel, address_digest) DO UPDATE SET
               id = EXCLUDED.id, language = EXCLUDED.language, address_sealed = EXCLUDED.address_sealed,
               areas = EXCLUDED.areas, cell_lat = EXCLUDED.cell_lat, cell_lon = EXCLUDED.cell_lon,
               confirm_digest = EXCLUDED.confirm_digest, created_at = EXCLUDED.created_at,
               expires_at = EXCLUDED.expires_at
           WHERE subscription_requests.created_at <= %s OR subscription_requests.expires_at <= %s
           RETURNING id""",
        (
            request_id,
            checked.channel,
            checked.language,
            key.seal(checked.plain, subscription_id=request_id),
            checked.digest,
            checked.areas,
            checked.cell[0] if checked.cell else None,
            checked.cell[1] if checked.cell else None,
            token_digest(token),
            now,
            now + PENDING_TTL,
            now - RESEND_AFTER,
            now,
        ),
    ).fetchone()
    if row is None:
        return None
    return Requested(token, str(checked.plain), checked.language, checked.areas)


def request_of(conn: psycopg.Connection, *, token: str, now: datetime) -> dict | None:
    """The language and areas a valid, unexpired token asks for; ``None`` otherwise."""
    if not token or len(token) > 200:
        return None
    row = conn.execute(
        "SELECT language, areas FROM subscription_requests WHERE confirm_digest = %s AND expires_at > %s",
        (token_digest(token), now),
    ).fetchone()
    return {"language": row[0], "areas": list(row[1])} if row else None


def confirm(
    conn: psycopg.Connection, *, token: str, key: SubscriberKey, now: datetime
) -> tuple[uuid.UUID, str] | None:
    """Turn the request of ``token`` into a subscription (:func:`notify.subscriptions.store`)
    → ``(subscription id, language)``. The token works once: ``None`` for a used,
    replaced, expired or unknown token (an expired request is deleted on the way)."""
    if not token or len(token) > 200:
        return None
    with conn.transaction():
        row = conn.execute(
            """DELETE FROM subscription_requests WHERE confirm_digest = %s
               RETURNING id, channel, address_digest, address_sealed, language, areas, cell_lat,
                         cell_lon, expires_at""",
            (token_digest(token),),
        ).fetchone()
        if row is None or row[8] <= now:
            return None
        request_id, channel, digest, sealed, language, areas, lat, lon, _ = row
        try:
            plain = key.open(sealed, subscription_id=request_id)
        except SealError:  # sealed with another key: the resident must ask again
            return None
        cell = (lat, lon) if lat is not None and lon is not None else None
        checked = subscriptions.Checked(channel, digest, plain, language, list(areas), cell)
        subscription_id, _ = subscriptions.store(conn, checked, key=key, now=now)
    return subscription_id, language


def choose_language(
    conn: psycopg.Connection, *, channel: str, address: Any, language: str, key: SubscriberKey, now: datetime
) -> None:
    """Keep the language someone without a subscription chose (a LINE user before
    sending a location) until they subscribe (:func:`notify.subscriptions.language_of`)."""
    normalised, _ = subscriptions.normalise(channel, address)
    conn.execute(
        """INSERT INTO language_choices (channel, address_digest, language, chosen_at)
           VALUES (%s, %s, %s, %s)
           ON CONFLICT (channel, address_digest) DO UPDATE
           SET language = EXCLUDED.language, chosen_at = EXCLUDED.chosen_at""",
        (channel, key.digest(channel, normalised), subscriptions.known_language(language), now),
    )


def purge(conn: psycopg.Connection, *, now: datetime) -> int:
    """Delete expired requests and language choices older than :data:`PENDING_TTL`;
    returns how many rows went. The dashboard calls it on every public subscribe request;
    a periodic caller is needed too, so that the confirmation e-mail's promise holds
    when nobody subscribes for a while."""
    with conn.transaction():
        gone = conn.execute("DELETE FROM subscription_requests WHERE expires_at <= %s", (now,)).rowcount
        gone += conn.execute(
            "DELETE FROM language_choices WHERE chosen_at <= %s", (now - PENDING_TTL,)
        ).rowcount
    return gone
