"""The public resident side: the resident page (``/r/``, no login), its service worker,
subscribe / confirm / unsubscribe (the LINE webhook is :mod:`dashboard.routers.line_webhook`).
Views are thin: the work is in :mod:`dashboard.resident_view`, :mod:`notify.subscriptions`
and :mod:`notify.pending`.

An e-mail address is subscribed only when its owner confirms it (double opt-in): the
request is held (:func:`notify.pending.request`) and a confirmation e-mail
(:mod:`notify.optin_mail`) is sent after the answer; its link opens ``/r/confirm``, a
page with a button. Web Push subscribes at once (the browser holds the subscription).
LINE users register through the webhook; gateway addresses (phone, FAX, SMS, radio) only
through staff (``kawamori notify subscribe``): nothing here proves a phone number is the
caller's.

Privacy: nothing here logs an address, a token, a user id or a place; the page rounds a
browser's location to 0.01° (about 1 km) before it is ever sent; the subscribe
endpoint is rate limited per client (kept only as a keyed hash) and answers the same
whether an address was known, confirmed or not.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlencode, urlsplit

import psycopg
import structlog
from fastapi import APIRouter, BackgroundTasks, Depends, Form, HTTPException, Query, Request, Response
from fastapi import Path as FPath
from fastapi.responses import HTMLResponse, RedirectResponse
from markupsafe import escape
from pydantic import BaseModel, ConfigDict, Field

from alerts.message import AlertMessage
from dashboard import resident_icon, resident_ruby, resident_view
from dashboard.deps import BaseUrl, BigintId, Conn, Now
from dashboard.openapi import errors
from dashboard.pages import language, secure_headers, templates
from dashboard.routers.shelters import bands_of, nearest_of
from kawamori import texts
from notify import optin_mail, pending, subscriptions
from notify.channels import line
from notify.errors import OutsideAreas, SubscriptionError
from notify.optin_mail import Mailer
from notify.render import Channel, render
from notify.render import words as notify_words
from notify.sealing import SubscriberKey
from notify.voice import SpeechCache, VoiceError

log = structlog.get_logger("dashboard.residents")
router = APIRouter(tags=["residents"])
HERE = Path(__file__).resolve().parent.parent
SERVICE_WORKER = HERE / "static" / "resident-sw.js"
HELP = HERE.parent / "docs" / "residents.md"
LANG_COOKIE = "kawamori_resident_lang"
PENDING_HOURS = int(pending.PENDING_TTL.total_seconds() // 3600)
RESEND_MINUTES = int(pending.RESEND_AFTER.total_seconds() // 60)


@dataclass(frozen=True, slots=True)
class ResidentConfig:
    """What the resident side needs from the settings. ``key`` is ``None`` when no
    subscriber key is configured (development only): reading works, subscribing
    answers 503."""

    key: SubscriberKey | None = None
    vapid_public_key: str | None = None
    line_channel_secret: str | None = None
    line_access_token: str | None = None
    line_api_base_url: str = line.DEFAULT_BASE_URL
    subscribe_limit_per_hour: int = subscriptions.SUBSCRIBE_LIMIT
    mailer: Mailer | None = None  # an SMTP server is configured: e-mail is on
    push_hosts: tuple[str, ...] = ()  # KAWAMORI_PUSH_HOSTS: the push services allowed (empty: any)
    city_phone: str | None = None  # KAWAMORI_CITY_PHONE: the city's disaster line, shown to residents
    line_friend_url: str | None = None  # KAWAMORI_LINE_FRIEND_URL: add the city's LINE account
    rescue_retention_days: int = 30  # KAWAMORI_RESCUE_RETENTION_DAYS
    # KAWAMORI_NAME_READINGS: furigana for names on やさしい日本語 pages (default: the demo's)
    readings: dict[str, str] = field(default_factory=resident_ruby.load)
    speech: SpeechCache = field(default_factory=SpeechCache)  # spoken levels and alerts

    @classmethod
    def from_settings(cls, settings) -> ResidentConfig:
        from notify.channels.webpush import parse_hosts, public_key_of
        from notify.errors import SubscriberKeyError
        from notify.sealing import load_key

        def secret(value) -> str | None:
            return value.get_secret_value() if value is not None else None

        try:
            key = load_key(settings)
        except SubscriberKeyError:
            if settings.environment == "production":
                raise
            log.warning("residents.no_subscriber_key", hint="kawamori notify subscriber-key")
            key = None
        vapid = secret(settings.vapid_private_key)
        return cls(
            key=key,
            vapid_public_key=public_key_of(vapid) if vapid and settings.vapid_subject else None,
            line_channel_secret=secret(settings.line_channel_secret),
            line_access_token=secret(settings.line_channel_access_token),
            line_api_base_url=settings.line_api_base_url,
            subscribe_limit_per_hour=settings.subscribe_limit_per_hour,
            mailer=Mailer.from_settings(settings),
            push_hosts=parse_hosts(settings.push_hosts),
            city_phone=settings.city_phone,
            line_friend_url=settings.line_friend_url,
            rescue_retention_days=settings.rescue_retention_days,
            readings=resident_ruby.load(settings.name_readings),
        )


def config_of(request: Request) -> ResidentConfig:
    return getattr(request.app.state, "residents", None) or ResidentConfig()


def key_of(request: Request) -> SubscriberKey:
    key = config_of(request).key
    if key is None:
        raise HTTPException(503, "subscriptions are not configured (KAWAMORI_SUBSCRIBER_KEY)")
    return key


def resident_language(request: Request, asked: str | None) -> str:
    return language(request, asked, offered=resident_view.LANGUAGES)


def page_headers() -> dict[str, str]:
    # a token or a place in the URL never leaves in a Referer
    return secure_headers(service_worker=True, referrer="no-referrer")


def _place(lat: float | None, lon: float | None, area: str | None) -> resident_view.Place:
    if lat is not None and lon is not None:  # never finer than the stored cell
        lat, lon = subscriptions.cell_of(lat, lon)
    return resident_view.Place(latitude=lat, longitude=lon, area=area or None)


def place_asked(
    area: str | None = None,
    lat: Annotated[float | None, Query(ge=-90, le=90)] = None,
    lon: Annotated[float | None, Query(ge=-180, le=180)] = None,
) -> resident_view.Place:
    """The place a resident page or summary is about: ``?area=`` or ``?lat=&lon=``."""
    return _place(lat, lon, area)


PlaceAsked = Annotated[resident_view.Place, Depends(place_asked)]


@cache
def line_qr(url: str | None) -> str | None:
    """The LINE friend link as a QR code (an SVG data URI, made here: no external service)."""
    if not url:
        return None
    import segno

    return segno.make(url, error="m").svg_data_uri(scale=4, border=2)


def names_for(language: str, readings: dict[str, str]):
    """How the page writes a name: with furigana on やさしい日本語 pages, else escaped."""
    if language != "ja-easy":
        return escape
    return lambda text: resident_ruby.ruby(text, readings)


def render_page(request: Request, name: str, language: str, context: dict, status: int = 200) -> HTMLResponse:
    """A resident page in ``language`` with its texts (``t``) and the reader's language kept."""
    t = resident_view.texts(language)
    response = templates.TemplateResponse(
        request,
        name,
        {
            "lang": language,
            "html_lang": "ja" if language == "ja-easy" else language,
            "t": t,
            "city_phone": config_of(request).city_phone,
            "line_friend_url": config_of(request).line_friend_url,
            "line_qr": line_qr(config_of(request).line_friend_url),
            "rb": (rb := names_for(language, config_of(request).readings)),
            "rb_list": lambda names, sep: escape(sep).join(rb(name) for name in names),
            **context,
        },
        status_code=status,
        headers=page_headers(),
    )
    response.set_cookie(LANG_COOKIE, language, max_age=365 * 86400, samesite="lax", httponly=True)
    return response


def _place_query(place: resident_view.Place) -> dict[str, str]:
    query = {}
    if place.area:
        query["area"] = place.area
    if place.point:
        query["lat"], query["lon"] = (f"{v:.2f}" for v in place.point)
    return query


def _links(language: str, place: resident_view.Place) -> dict[str, str]:
    query = _place_query(place)
    return {lang: "/r/?" + urlencode({"lang": lang, **query}) for lang in resident_view.LANGUAGES}


# --- the page ---------------------------------------------------------------------------------


@router.get("/r", include_in_schema=False)
def resident_root(request: Request) -> RedirectResponse:
    query = request.url.query
    return RedirectResponse("/r/" + (f"?{query}" if query else ""), status_code=308)


def _summary(request: Request, conn, now: datetime, place: resident_view.Place, language: str) -> dict:
    """What the resident page shows (and says) for ``place``, with this app's shelters,
    crowding bands and time zone."""
    return resident_view.summary(
        conn,
        place=place,
        language=language,
        now=now,
        nearest=nearest_of(request),
        bands=bands_of(request),
        zone=request.app.state.zone,
    )


@router.get("/r/", response_class=HTMLResponse, include_in_schema=False)
def resident_page(
    request: Request,
    conn: Conn,
    now: Now,
    place: PlaceAsked,
    lang: str | None = None,
    notice: str | None = None,
) -> HTMLResponse:
    language = resident_language(request, lang)
    view = _summary(request, conn, now, place, language)
    config = config_of(request)
    return render_page(
        request,
        "resident.html",
        language,
        {
            "view": view,
            "areas": resident_view.area_list(conn, language=language),
            "place": place,
            "links": _links(language, place),
            "notice": notice if notice in {"email_done", "busy", "error", "need_area", "outside"} else None,
            "vapid_public_key": config.vapid_public_key,
            "subscribe_enabled": config.key is not None,
            "email_enabled": config.mailer is not None and config.key is not None,
            "hours": PENDING_HOURS,
            "minutes": RESEND_MINUTES,
            "speech_query": urlencode({**_place_query(place), "lang": language}),
        },
    )


@router.get("/r/timeline", response_class=HTMLResponse, include_in_schema=False)
def timeline_page(request: Request, lang: str | None = None) -> HTMLResponse:
    """マイ・タイムライン: what the resident will do at levels 3, 4 and 5, kept in the
    browser only (the page and the service worker read it; the server never sees it)."""
    language = resident_language(request, lang)
    words = notify_words(language)
    levels = {level: words[f"level.{level}"] for level in (3, 4, 5)}
    links = {code: f"/r/timeline?lang={code}" for code in resident_view.LANGUAGES}
    return render_page(request, "resident_timeline.html", language, {"levels": levels, "links": links})


def _wav(request: Request, text: str, language: str) -> Response:
    try:
        audio = config_of(request).speech(text, "en" if language == "en" else "ja")
    except VoiceError as error:
        log.warning("residents.no_speech", reason=str(error))
        raise HTTPException(503, "speech is not available here; the text says the same") from None
    return Response(audio, media_type="audio/wav", headers={"Cache-Control": "no-cache"})


@router.get(
    "/r/speech.wav",
    response_class=Response,
    responses={200: {"content": {"audio/wav": {}}}, **errors(503)},
    summary="The issued level of a place or an area and what to do, spoken (WAV)",
)
def level_speech(
    request: Request, conn: Conn, now: Now, place: PlaceAsked, lang: str | None = None
) -> Response:
    language = resident_language(request, lang)
    view = _summary(request, conn, now, place, language)
    return _wav(request, resident_view.spoken(view, language), language)


@router.get(
    "/api/speech/{alert_id}/{version}.wav",
    response_class=Response,
    responses={200: {"content": {"audio/wav": {}}}, **errors(404, 503)},
    summary="A public alert message spoken (WAV): what the gateway's phone calls and radio operators play",
)
def alert_speech(
    request: Request, conn: Conn, alert_id: BigintId, version: Annotated[int, FPath(ge=1, le=2**31 - 1)],
    lang: Literal["ja", "en", "ja-easy"] = "ja",
) -> Response:  # fmt: skip
    row = conn.execute(
        """SELECT payload FROM alert_outbox
           WHERE alert_id = %s AND version = %s AND public AND status = 'Actual'""",
        (alert_id, version),
    ).fetchone()
    if row is None:
        raise HTTPException(404, "no public alert message with this id and version")
    rendered = render(
        AlertMessage.model_validate(row[0]), language=lang, channel=Channel.voice, unsubscribe_url=""
    )
    return _wav(request, rendered.speech_text, lang)


@router.get("/r/manifest.webmanifest", include_in_schema=False)
def web_app_manifest(request: Request, lang: str | None = None) -> Response:
    """The web app manifest (Add to Home Screen; iPhones push only to such apps)."""
    language = resident_language(request, lang)
    t = resident_view.texts(language)
    body = resident_icon.manifest(language, name=t["title"], short_name=t["app_name"])
    return Response(
        json.dumps(body, ensure_ascii=False),
        media_type="application/manifest+json",
        headers={"Cache-Control": "no-cache"},
    )


@router.get("/r/icon-{size}.png", include_in_schema=False)
def app_icon(size: int) -> Response:
    if size not in resident_icon.SIZES:
        raise HTTPException(404, "no icon of that size")
    return Response(
        resident_icon.png(size), media_type="image/png", headers={"Cache-Control": "public, max-age=86400"}
    )


@router.get("/r/icon.svg", include_in_schema=False)
def app_icon_svg() -> Response:
    return Response(
        resident_icon.SVG, media_type="image/svg+xml", headers={"Cache-Control": "public, max-age=86400"}
    )


@router.get("/r/sw.js", include_in_schema=False)
def service_worker() -> Response:
    """The service worker, at a path whose scope (``/r/``) covers the resident page."""
    return Response(
        SERVICE_WORKER.read_bytes(),
        media_type="text/javascript; charset=utf-8",
        headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
    )


@router.post("/r/subscribe", include_in_schema=False)
def subscribe_form(
    request: Request,
    conn: Conn,
    now: Now,
    base_url: BaseUrl,
    background: BackgroundTasks,
    email: Annotated[str, Form(max_length=254)],
    language: Annotated[str, Form()] = "ja",
    area: Annotated[list[str] | None, Form()] = None,
    lat: Annotated[float | None, Form(ge=-90, le=90)] = None,
    lon: Annotated[float | None, Form(ge=-180, le=180)] = None,
) -> RedirectResponse:
    """The e-mail form of the page (works without JavaScript); answers with the page,
    which asks the resident to open the link in the confirmation e-mail."""
    key = key_of(request)
    if config_of(request).mailer is None:
        raise HTTPException(422, "e-mail is not enabled here")
    place = _place(lat, lon, None)
    notice = _subscribe(
        request,
        conn,
        background,
        now=now,
        key=key,
        base_url=base_url,
        channel="email",
        address=email,
        language=texts.pick(language),
        areas=[a for a in area or [] if a],
        point=place.point,
    )[0]
    query = {"lang": texts.pick(language), "notice": notice}
    if area:
        query["area"] = area[0]
    if place.point:
        query["lat"], query["lon"] = (f"{v:.2f}" for v in place.point)
    return RedirectResponse("/r/?" + urlencode(query) + "#subscribe", status_code=303)


def _action_page(
    request: Request, language: str, kind: str, state: str, *, status: int = 200, **context
) -> HTMLResponse:
    """A page a link in a message opens (``kind``: ``unsubscribe``, ``confirm``): ``ask``
    shows a button (a mail scanner that follows the link changes nothing), ``done`` and
    ``unknown`` say what came of pressing it."""
    return render_page(
        request,
        "resident_action.html",
        language,
        {"kind": kind, "state": state, "token": "", "areas": "", "hours": PENDING_HOURS, **context},
        status,
    )


@router.get("/r/unsubscribe", response_class=HTMLResponse, include_in_schema=False)
def unsubscribe_page(request: Request, conn: Conn, token: str = "", lang: str | None = None) -> HTMLResponse:
    """The link in every message: a page with a button."""
    found = subscriptions.subscription_of(conn, token=token) if token else None
    language = resident_language(request, lang or (found["language"] if found else None))
    return _action_page(request, language, "unsubscribe", "ask", token=token)


@router.post("/r/unsubscribe", response_class=HTMLResponse, include_in_schema=False)
def unsubscribe_confirm(
    request: Request,
    conn: Conn,
    token: Annotated[str, Form(max_length=200)] = "",
    lang: Annotated[str, Form()] = "ja",
    one_click: Annotated[str, Form(alias="List-Unsubscribe", max_length=20)] = "",
    query_token: Annotated[str, Query(alias="token", max_length=200)] = "",
) -> HTMLResponse:
    """The page's button (the token in the form), or a mail program's one-click
    unsubscribe (RFC 8058: a POST to the ``List-Unsubscribe`` address, the token in its
    query, ``List-Unsubscribe=One-Click`` in the body, no cookie)."""
    token = token or query_token
    if not token:
        raise HTTPException(422, "no unsubscribe token")
    deleted = subscriptions.unsubscribe(conn, token=token)
    log.info(
        "residents.unsubscribed", via="one-click" if one_click == "One-Click" else "page", deleted=deleted
    )
    return _action_page(
        request, resident_language(request, lang), "unsubscribe", "done" if deleted else "unknown"
    )


@router.get("/r/confirm", response_class=HTMLResponse, include_in_schema=False)
def confirm_page(
    request: Request, conn: Conn, now: Now, token: str = "", lang: str | None = None
) -> HTMLResponse:
    """The link in a confirmation e-mail: the areas asked for and a button; a clear page
    when the link is used, replaced or older than 48 hours."""
    found = pending.request_of(conn, token=token, now=now)
    language = resident_language(request, lang or (found["language"] if found else None))
    if found is None:
        return _action_page(request, language, "confirm", "unknown", status=404)
    names = resident_view.area_names(conn, areas=found["areas"], language=language)
    return _action_page(request, language, "confirm", "ask", token=token, areas=names)


@router.post("/r/confirm", response_class=HTMLResponse, include_in_schema=False)
def confirm_subscription(
    request: Request,
    conn: Conn,
    now: Now,
    token: Annotated[str, Form(max_length=200)],
    lang: Annotated[str, Form()] = "ja",
) -> HTMLResponse:
    confirmed = pending.confirm(conn, token=token, key=key_of(request), now=now)
    log.info("residents.confirmed", confirmed=confirmed is not None)
    language = resident_language(request, confirmed[1] if confirmed else lang)
    if confirmed is None:
        return _action_page(request, language, "confirm", "unknown", status=404)
    return _action_page(request, language, "confirm", "done")


@router.get("/r/help", response_class=HTMLResponse, include_in_schema=False)
def help_page(request: Request, lang: str | None = None) -> HTMLResponse:
    """docs/residents.md as a page: the resident-facing help."""
    from markdown_it import MarkdownIt

    language = resident_language(request, lang)
    text = help_section(HELP.read_text(encoding="utf-8"), language)
    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(text)
    links = {code: f"/r/help?lang={code}" for code in resident_view.LANGUAGES}
    return render_page(request, "resident_help.html", language, {"body": body, "links": links})


HELP_HEADINGS = {"やさしい にほんご": "ja-easy", "日本語": "ja", "English": "en"}


def help_section(markdown: str, language: str) -> str:
    """The part of docs/residents.md in ``language``: one language per page (the header's
    links switch), its ``##`` heading dropped; the staff section is never shown here."""
    sections: dict[str, list[str]] = {}
    current = None
    for row in markdown.splitlines():
        if row.startswith("## "):
            current = HELP_HEADINGS.get(row[3:].strip())
            continue
        if current is not None:
            sections.setdefault(current, []).append(
                row.replace("### ", "## ", 1) if row.startswith("### ") else row
            )
    return "\n".join(sections.get(language) or sections["ja"])


# --- JSON API --------------------------------------------------------------------------------------


class PointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")  # an unknown field is refused (422)

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class PushKeys(BaseModel):
    model_config = ConfigDict(extra="forbid")  # an unknown field is refused (422)

    p256dh: str = Field(pattern=r"^[A-Za-z0-9_-]{86,88}={0,2}$", description="base64url, 65 bytes")
    auth: str = Field(pattern=r"^[A-Za-z0-9_-]{16,44}={0,2}$", description="base64url, 16 bytes")


class PushSubscriptionIn(BaseModel):
    """The browser's ``PushSubscription.toJSON()``."""

    model_config = ConfigDict(extra="forbid")  # an unknown field is refused (422)

    endpoint: str = Field(
        max_length=2048,
        pattern=r"^https://[^\s/?#@\x00]+(/[^\s\x00]*)?$",
        description="the push service's https:// URL: a public host (checked again at every delivery)",
    )
    expirationTime: float | None = None
    keys: PushKeys


class _SubscriptionBase(BaseModel):
    model_config = ConfigDict(extra="forbid")  # an unknown field is refused (422)

    language: Literal["ja", "en", "ja-easy"] = "ja"
    areas: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=50, description="alert area ids; or a point"
    )
    point: PointIn | None = Field(default=None, description="rounded to about 1 km before it is stored")


class WebPushCreate(_SubscriptionBase):
    channel: Literal["webpush"]
    address: PushSubscriptionIn


class EmailCreate(_SubscriptionBase):
    channel: Literal["email"]
    address: str = Field(
        max_length=254,
        pattern=r"^[^@\s<>,;\"\x00]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}\.)+[A-Za-z]{2,63}$",
        description="the e-mail address: held until its owner confirms it",
    )


SubscriptionCreate = Annotated[WebPushCreate | EmailCreate, Field(discriminator="channel")]


class SubscriptionAccepted(BaseModel):
    status: Literal["accepted"] = "accepted"
    unsubscribe_token: str | None = Field(
        default=None,
        description="webpush only (the browser that holds the push subscription may stop it); "
        "e-mail gets it only in the messages",
    )


class SubscriptionDelete(BaseModel):
    model_config = ConfigDict(extra="forbid")  # an unknown field is refused (422)

    token: str = Field(max_length=200)


def _subscribe(
    request: Request,
    conn: psycopg.Connection,
    background: BackgroundTasks,
    *,
    now,
    key: SubscriberKey,
    base_url: str,
    **fields,
) -> tuple[str, str | None]:
    """``(notice, token)``: ``email_done`` whether or not the address was known or
    confirmed. An e-mail address is held for confirmation and the confirmation e-mail
    is sent after the answer; Web Push subscribes at once and gets its token."""
    client = request.client.host if request.client else "unknown"
    config = config_of(request)
    if not subscriptions.allow_subscribe_attempt(
        conn, client=client, key=key, now=now, limit=config.subscribe_limit_per_hour
    ):
        log.info("residents.rate_limited")
        return "busy", None
    pending.purge(conn, now=now)
    token = None
    try:
        if fields.pop("channel") == "email":
            held = pending.request(conn, key=key, now=now, **fields)
            if held is not None and config.mailer is not None:
                areas = resident_view.area_names(conn, areas=held.areas, language=held.language)
                background.add_task(
                    optin_mail.send_confirmation,
                    config.mailer,
                    to=held.to,
                    language=held.language,
                    url=optin_mail.confirm_url(base_url, held.token),
                    areas=areas,
                )
        else:
            _, token = subscriptions.subscribe(conn, channel="webpush", key=key, now=now, **fields)
    except OutsideAreas:
        return "outside", None
    except SubscriptionError as error:
        log.info("residents.subscribe_refused", reason=type(error).__name__)
        return ("need_area" if "area" in str(error) else "error"), None
    log.info("residents.subscribe_accepted", areas=len(fields.get("areas") or ()), waits=token is None)
    return "email_done", token


def _allowed_push_service(address: PushSubscriptionIn | str, hosts: tuple[str, ...]) -> bool:
    from notify.channels.webpush import host_allowed

    if not isinstance(address, PushSubscriptionIn):
        return True
    return host_allowed(urlsplit(address.endpoint).hostname or "", hosts)


@router.post(
    "/api/subscriptions",
    status_code=202,
    response_model=SubscriptionAccepted,
    responses=errors(429, 503),
    summary="Subscribe a Web Push subscription or an e-mail address to alert areas (rate limited)",
    description="Web Push subscribes at once. An e-mail address is only held: a confirmation e-mail is "
    "sent to it, and nothing changes until its link is opened and confirmed (within 48 hours; at most one "
    "e-mail per address every 10 minutes). The answer is the same whether the address was already "
    "subscribed, confirmed or not. 429 when a client sends too many requests; 422 for an unusable "
    "address, an unknown area or a point outside every area. LINE and gateway addresses (phone, FAX, "
    "SMS, radio) are not taken here: LINE registers through its webhook, gateways through the city's staff.",
)
def create_subscription(
    body: SubscriptionCreate,
    request: Request,
    conn: Conn,
    now: Now,
    base_url: BaseUrl,
    background: BackgroundTasks,
) -> dict:
    key = key_of(request)
    config = config_of(request)
    if (body.channel == "webpush" and not config.vapid_public_key) or (
        body.channel == "email" and config.mailer is None
    ):
        raise HTTPException(503, f"{body.channel} is not enabled here")  # never store what cannot be used
    if body.channel == "webpush" and not _allowed_push_service(body.address, config.push_hosts):
        raise HTTPException(422, "this push service is not allowed here")
    notice, token = _subscribe(
        request,
        conn,
        background,
        now=now,
        key=key,
        base_url=base_url,
        channel=body.channel,
        address=body.address.model_dump(exclude_none=True)
        if isinstance(body.address, PushSubscriptionIn)
        else body.address,
        language=body.language,
        areas=body.areas,
        point=(body.point.lat, body.point.lon) if body.point else None,
    )
    if notice == "busy":
        raise HTTPException(429, "too many requests; try again later")
    if notice != "email_done":
        raise HTTPException(422, notice)
    return {"status": "accepted", "unsubscribe_token": token if body.channel == "webpush" else None}


@router.delete(
    "/api/subscriptions",
    status_code=204,
    responses=errors(503),
    summary="Unsubscribe by token: deletes the subscription, its queued messages and its log",
)
def delete_subscription(body: SubscriptionDelete, conn: Conn) -> Response:
    deleted = subscriptions.unsubscribe(conn, token=body.token)
    log.info("residents.unsubscribed", via="api", deleted=deleted)
    return Response(status_code=204)


@router.get("/api/residents/areas", summary="Alert areas for the resident page's picker")
def resident_areas(request: Request, conn: Conn, lang: str | None = None) -> list[dict]:
    return resident_view.area_list(conn, language=resident_language(request, lang))


@router.get("/api/residents/summary", summary="What the resident page shows for a place or an area")
def resident_summary(
    request: Request,
    conn: Conn,
    now: Now,
    place: PlaceAsked,
    lang: str | None = None,
) -> dict:
    return _summary(request, conn, now, place, resident_language(request, lang))
