"""The LINE webhook (``POST /line/webhook``): a resident follows the city's LINE
account, may choose a language, sends a location to register its areas, and blocks
the account to be deleted.

=====================  ==============================================================================
event                  what happens
=====================  ==============================================================================
follow                 a greeting in 日本語, やさしい にほんご and English, with a quick-reply button
                       per language
a language word        the subscription's language changes (or, before a location was sent, the
(button or typed)      choice is kept until it is: :func:`notify.pending.choose_language`); the
                       answer is in the new language
location               the areas around it are registered in the chosen language (Japanese
                       unless one was chosen); the answer names them, or says the place is
                       outside every area
unfollow               everything about the user is deleted
=====================  ==============================================================================

Every request is checked against ``X-Line-Signature``; each event is acted on once
(``line_events``; LINE redelivers): an event without ``webhookEventId``, or older than
:data:`MAX_EVENT_AGE` (or from the future), is not acted on, so a captured request
replayed later changes nothing; ``line_events`` forgets ids after
:data:`KEEP_EVENT_IDS`, longer than an event is accepted. Replies go out after the
answer, through the notifiers' HTTP client (:mod:`notify.channels.http`). Nothing here logs
a user id, a text or a place. Texts are in ``dashboard/resident_texts/<language>.yaml``
(``line_*``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import psycopg
import structlog
from fastapi import APIRouter, BackgroundTasks, HTTPException, Request
from starlette.concurrency import run_in_threadpool

from dashboard import resident_view
from dashboard.deps import Now
from dashboard.openapi import errors
from dashboard.routers.residents import config_of, key_of
from notify import line_chat, pending, subscriptions
from notify.channels import line
from notify.errors import InvalidSignature, OutsideAreas, SubscriptionError
from notify.sealing import SubscriberKey

log = structlog.get_logger("dashboard.line")
router = APIRouter(tags=["residents"])
DEFAULT_LANGUAGE = "ja"  # LINE does not tell a user's language
MAX_EVENT_AGE = timedelta(hours=6)  # LINE redelivers failed webhooks for a while; older is a replay
MAX_CLOCK_SKEW = timedelta(minutes=5)
KEEP_EVENT_IDS = timedelta(hours=24)  # longer than MAX_EVENT_AGE: a replay is caught either way


@dataclass(frozen=True, slots=True)
class Reply:
    token: str
    texts: list[str]
    buttons: list[str] = field(default_factory=list)  # quick replies under the last text

    def __repr__(self) -> str:  # the reply token stays out of logs
        return f"Reply({len(self.texts)} texts, {len(self.buttons)} buttons)"


def greeting(token: str) -> Reply:
    """The answer to a follow: how to register in each language, and a button per language."""
    return Reply(
        token,
        [resident_view.texts(language)["line_greeting"] for language in ("ja", "ja-easy", "en")],
        [resident_view.texts(language)["name"] for language in resident_view.LANGUAGES],
    )


def _acts_on(conn: psycopg.Connection, event, now: datetime) -> bool:
    """Whether to act on ``event``: it has an id not seen before and a fresh timestamp."""
    if event.user_id is None or event.event_id is None or event.timestamp is None:
        return False
    if not now - MAX_EVENT_AGE <= event.timestamp <= now + MAX_CLOCK_SKEW:
        return False
    return _first_time(conn, event.event_id, now)


def _first_time(conn: psycopg.Connection, event_id: str, now: datetime) -> bool:
    row = conn.execute(
        "INSERT INTO line_events (event_id, received_at) VALUES (%s, %s) ON CONFLICT DO NOTHING RETURNING 1",
        (event_id, now),
    ).fetchone()
    return row is not None


def _send_replies(request: Request, replies: list[Reply]) -> None:
    config = config_of(request)
    if not config.line_access_token:
        return
    for one in replies:
        result = line_chat.reply(
            request.app.state.line_http,
            base_url=config.line_api_base_url,
            access_token=config.line_access_token,
            reply_token=one.token,
            texts=one.texts,
            buttons=one.buttons,
        )
        if not result.ok:
            log.warning("line.reply_failed", outcome=result.outcome.value, status=result.status)


@router.post(
    "/line/webhook",
    summary="LINE Messaging API webhook (follow, unfollow, language, location)",
    responses=errors(401, 404, 503),
)
async def line_webhook(request: Request, background: BackgroundTasks, now: Now) -> dict:
    config = config_of(request)
    if not config.line_channel_secret:
        raise HTTPException(404, "LINE is not configured")
    body = await request.body()
    try:
        events = line.parse_webhook(
            body, request.headers.get("x-line-signature"), channel_secret=config.line_channel_secret
        )
    except InvalidSignature:
        log.warning("line.bad_signature")
        raise HTTPException(401, "invalid X-Line-Signature") from None
    chosen = {
        event_id: language
        for event_id, text in line_chat.message_texts(body).items()
        if (language := line_chat.language_named(text))
    }
    needs_key = any(e.type in ("location", "unfollow") or e.event_id in chosen for e in events)
    key = key_of(request) if needs_key else None
    replies = await run_in_threadpool(_handle_events, request, events, chosen, key, now)
    if replies:
        background.add_task(_send_replies, request, replies)
    return {}


def _handle_events(
    request: Request, events, chosen: dict[str, str], key: SubscriberKey | None, now
) -> list[Reply]:
    replies: list[Reply] = []
    counts: dict[str, int] = {}
    with request.app.state.pool.connection() as conn:
        conn.execute("DELETE FROM line_events WHERE received_at < %s", (now - KEEP_EVENT_IDS,))
        for event in events:
            if not _acts_on(conn, event, now):
                counts["skipped"] = counts.get("skipped", 0) + 1
                continue
            language = chosen.get(event.event_id or "")
            kind = "language" if language else event.type
            counts[kind] = counts.get(kind, 0) + 1
            texts: list[str] = []
            if event.type == "follow" and event.reply_token:
                replies.append(greeting(event.reply_token))
            elif event.type == "unfollow" and key is not None:
                subscriptions.delete_address(conn, channel="line", address=event.user_id, key=key)
            elif event.type == "location" and key is not None:
                assert event.latitude is not None and event.longitude is not None
                texts = _register(conn, event.user_id, (event.latitude, event.longitude), key=key, now=now)
            elif language and key is not None:
                texts = _choose(conn, event.user_id, language, key=key, now=now)
            if texts and event.reply_token:
                replies.append(Reply(event.reply_token, texts))
    log.info("line.webhook", **counts)
    return replies


def _register(
    conn: psycopg.Connection, user: str, point: tuple[float, float], *, key: SubscriberKey, now
) -> list[str]:
    """Subscribe the areas around ``point`` in the user's language; the answer."""
    language = subscriptions.language_of(conn, channel="line", address=user, key=key) or DEFAULT_LANGUAGE
    words = resident_view.texts(language)
    try:
        subscription_id, _ = subscriptions.subscribe(
            conn, channel="line", address=user, language=language, point=point, key=key, now=now
        )
    except OutsideAreas:
        return [words["line_outside"]]
    except SubscriptionError as error:
        log.warning("line.subscribe_refused", reason=type(error).__name__)
        return []
    row = conn.execute("SELECT areas FROM subscriptions WHERE id = %s", (subscription_id,)).fetchone()
    names = resident_view.area_names(conn, areas=list(row[0]) if row else [], language=language)
    return [words["line_registered"].format(areas=names)]


def _choose(conn: psycopg.Connection, user: str, language: str, *, key: SubscriberKey, now) -> list[str]:
    """Switch the user's language (or keep the choice until a location comes); the answer,
    in the new language."""
    words = resident_view.texts(language)
    if subscriptions.set_language(conn, channel="line", address=user, language=language, key=key, now=now):
        return [words["line_language_set"]]
    pending.choose_language(conn, channel="line", address=user, language=language, key=key, now=now)
    return [words["line_ask_location"]]
