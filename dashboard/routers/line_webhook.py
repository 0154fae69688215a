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
a user id, a text or a place. Texts are in the text catalogue's
``resident`` section (``kawamori/texts/<language>.yaml``, ``line_*``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlencode

import psycopg
import structlog
from fastapi import APIRouter, BackgroundTasks, HTTPException, Request
from starlette.concurrency import run_in_threadpool

from dashboard import resident_view
from dashboard.deps import BaseUrl, Now
from dashboard.openapi import errors
from dashboard.routers.residents import config_of, key_of
from notify import line_chat, line_menu, pending, subscriptions
from notify.channels import line
from notify.errors import InvalidSignature, OutsideAreas, SubscriptionError
from notify.sealing import SubscriberKey
from shelters.crowding import crowding
from shelters.crowding import label as crowding_label
from shelters.service import nearest as shelters_nearest

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
    location_button: str | None = None  # a quick reply that opens LINE's location picker

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
            location_button=one.location_button,
        )
        if not result.ok:
            log.warning("line.reply_failed", outcome=result.outcome.value, status=result.status)


@router.post(
    "/line/webhook",
    summary="LINE Messaging API webhook (follow, unfollow, language, location)",
    responses=errors(401, 404, 503),
)
async def line_webhook(request: Request, background: BackgroundTasks, now: Now, base_url: BaseUrl) -> dict:
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
    menu = {
        event_id: pick
        for event_id, text in line_chat.message_texts(body).items()
        if event_id not in chosen and (pick := menu_word(text))
    }
    needs_key = any(
        e.type in ("location", "unfollow") or e.event_id in chosen or e.event_id in menu for e in events
    )
    key = key_of(request) if needs_key else None
    replies, switched = await run_in_threadpool(
        _handle_events, request, events, chosen, menu, key, now, base_url
    )
    if replies:
        background.add_task(_send_replies, request, replies)
    if switched:
        background.add_task(_link_menus, request, switched)
    return {}


def menu_word(text: str) -> tuple[str, str] | None:
    """``(what, language)`` when ``text`` is one of the rich menu's words (typed, or sent by
    the menu's "nearest shelter" area)."""
    for language, words in line_menu.WORDS.items():
        for what in line_menu.KEYS:
            if text.strip() == words[what]:
                return what, language
    return None


def _link_menus(request: Request, switched: list[tuple[str, str]]) -> None:
    """Show each user who chose a language the rich menu in it."""
    config = config_of(request)
    if not config.line_access_token:
        return
    missed = line_menu.link_users(
        api_url=config.line_api_base_url, access_token=config.line_access_token, choices=switched
    )
    if missed:
        log.info("line.menu_not_linked", users=missed)


def _handle_events(
    request: Request,
    events,
    chosen: dict[str, str],
    menu: dict,
    key: SubscriberKey | None,
    now,
    base_url: str,
) -> tuple[list[Reply], list[tuple[str, str]]]:
    replies: list[Reply] = []
    switched: list[tuple[str, str]] = []
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
                switched.append((event.user_id, language))
            elif event.event_id in menu and key is not None and event.reply_token:
                replies.append(_menu_reply(conn, event, *menu[event.event_id], key=key, base_url=base_url))
            if texts and event.reply_token:
                replies.append(Reply(event.reply_token, texts))
    log.info("line.webhook", **counts)
    return replies, switched


def _menu_reply(conn, event, what: str, word_language: str, *, key: SubscriberKey, base_url: str) -> Reply:
    """The answer to a menu word, in the user's language (else the word's)."""
    language = (
        subscriptions.language_of(conn, channel="line", address=event.user_id, key=key) or word_language
    )
    words = resident_view.texts(language)
    if what == "shelter":
        return Reply(
            event.reply_token, [words["line_send_location"]], location_button=words["line_location_button"]
        )
    query = urlencode({"kind": "help", "lang": language} if what == "rescue" else {"lang": language})
    url = f"{base_url}/r/{'timeline' if what == 'timeline' else 'safety'}?{query}"
    return Reply(event.reply_token, [words[f"line_{what}_link"].format(url=url)])


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
    return [words["line_registered"].format(areas=names), _shelters_near(conn, point, language)]


def _shelters_near(conn: psycopg.Connection, point: tuple[float, float], language: str) -> str:
    """The open shelters with room nearest ``point``, in ``language`` (the 近くの避難所 answer)."""
    words = resident_view.texts(language)
    chosen = shelters_nearest(conn, latitude=point[0], longitude=point[1], k=3).chosen
    if not chosen:
        return words["shelters_none"]
    lines = [
        words["line_shelter_item"].format(
            name=r.shelter.name_en if language == "en" else r.shelter.name_ja,
            km=f"{r.distance_m / 1000:.1f}",
            room=crowding_label(crowding(r.shelter.occupancy, r.shelter.capacity), language),
        )
        for r in chosen
    ]
    return "\n".join([words["line_shelters_head"], *lines])


def _choose(conn: psycopg.Connection, user: str, language: str, *, key: SubscriberKey, now) -> list[str]:
    """Switch the user's language (or keep the choice until a location comes); the answer,
    in the new language."""
    words = resident_view.texts(language)
    if subscriptions.set_language(conn, channel="line", address=user, language=language, key=key, now=now):
        return [words["line_language_set"]]
    pending.choose_language(conn, channel="line", address=user, language=language, key=key, now=now)
    return [words["line_ask_location"]]
