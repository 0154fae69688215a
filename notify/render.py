"""An alert message in the reader's language, fitted to one channel. Pure: no I/O
beyond reading the text catalogue once.

``render(message, language=…, channel=…, shelters=…, resident_url=…, unsubscribe_url=…)``
words the facts of an :class:`alerts.message.AlertMessage` with the language's texts
(the ``notify`` section of :mod:`kawamori.texts`) and returns a :class:`RenderedMessage`: a title, a body that
fits the channel, a short SMS form and a speech form (no symbols, no URLs, numbers
written to be read aloud).

Fitting never drops what to do: when a body is too long, shelters are dropped from
the end of the list first, then the note, the figures and the list of areas; only
then is the text cut — at a character boundary, with "…", keeping the links. Free
text from the network file or staff (names, notes) is capped before it is used.

Exercise and Test messages are labelled 【訓練】/[EXERCISE] here, but this is not what
keeps them off public channels: see :func:`notify.channels.base.ensure_may_send`.
"""

from __future__ import annotations

import base64
import calendar
import hashlib
import json
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, tzinfo
from enum import StrEnum

from alerts.message import AlertMessage, Response
from alerts.model import PUBLIC_KINDS, Kind, MsgType, Status
from kawamori import texts
from kawamori.clock import DEFAULT_ZONE
from notify.errors import NotForResidents, UnknownLanguage

LINE_TEXT_MAX = 5000  # LINE text message, counted in UTF-16 code units
# RFC 8291: a push message body is at most 4,096 bytes; aes128gcm adds an 86-byte header
# (salt 16, record size 4, key id length 1, key id 65), a 1-byte padding delimiter and a
# 16-byte tag, which leaves 3,993 bytes for the JSON payload.
WEB_PUSH_PAYLOAD_MAX = 4096 - 86 - 1 - 16
SMS_MAX = 670  # Japanese carriers' long SMS (全角 670 characters), counted in UTF-16 units
PUSH_TITLE_MAX = 120
SUBJECT_MAX = 200
NAME_MAX = 80  # any one name (river, station, stage, area, shelter)
NOTE_MAX = 400
AREAS_LISTED = 5
ELLIPSIS = "…"


class Channel(StrEnum):
    line = "line"
    webpush = "webpush"
    email = "email"
    sms = "sms"  # via the signed gateway webhook
    voice = "voice"  # via the gateway: a phone call read by text-to-speech
    fax = "fax"  # via the gateway
    radio = "radio"  # via the gateway: 防災行政無線


SPEECH_CHANNELS = frozenset({Channel.voice, Channel.radio})


@dataclass(frozen=True, slots=True)
class Shelter:
    """A shelter already chosen for the reader (see :func:`shelters_from`).
    ``crowding`` is a :class:`shelters.crowding.Crowding` value."""

    name_ja: str
    name_en: str
    distance_m: float
    crowding: str = "unknown"


def shelters_from(recommendation, bands=None) -> tuple[Shelter, ...]:
    """The chosen shelters of a :class:`shelters.recommend.Recommendation` as plain data."""
    from shelters.crowding import DEFAULT_BANDS, crowding

    return tuple(
        Shelter(
            r.shelter.name_ja,
            r.shelter.name_en,
            r.distance_m,
            crowding(r.shelter.occupancy, r.shelter.capacity, bands or DEFAULT_BANDS).value,
        )
        for r in recommendation.chosen
    )


@dataclass(frozen=True, slots=True)
class RenderedMessage:
    language: str
    channel: Channel
    identifier: str
    status: Status
    title: str  # a push title or e-mail subject
    body: str  # the text for this channel, within its limit
    short_text: str  # the SMS form, within SMS_MAX
    speech_text: str  # for text-to-speech: no symbols, no URLs
    url: str | None  # the resident page
    unsubscribe_url: str
    urgency: str  # RFC 8030 Urgency: "high" when people must act now, else "normal"
    topic: str  # one per alert: a newer version replaces an undelivered older one
    level: int | None = None  # the alert level people act on (none for an all-clear)
    audio_path: str | None = None  # the spoken message (WAV) on the dashboard: /api/speech/…

    def __repr__(self) -> str:  # the links carry a resident's unsubscribe token: keep them out of logs
        return f"RenderedMessage({self.identifier!r}, {self.language}, {self.channel}, {self.status})"

    @property
    def exercise(self) -> bool:
        return self.status is not Status.actual


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def alert_topic(message: AlertMessage) -> str:
    """RFC 8030 Topic: 32 URL-safe base64 characters, the same for every version of an alert."""
    digest = hashlib.sha256(f"{message.sender}\n{message.alert_id}".encode()).digest()
    return base64.urlsafe_b64encode(digest[:24]).decode("ascii")


def safety_url(resident_url: str | None, language: str) -> str:
    """The check-in and rescue page beside the resident page a message links to."""
    base = (resident_url or "").split("/r/", 1)[0].rstrip("/")
    return f"{base}/r/safety?lang={language}"


def urgency(message: AlertMessage) -> str:
    act = message.response in (Response.evacuate, Response.prepare) and not message.ended
    return "high" if act else "normal"


def push_payload(rendered: RenderedMessage) -> bytes:
    """The JSON the resident page's service worker receives (before encryption)."""
    data = {
        "title": rendered.title,
        "body": rendered.body,
        "url": rendered.url,
        "unsubscribe": rendered.unsubscribe_url,
        "tag": rendered.topic,
        "id": rendered.identifier,
        "lang": rendered.language,
        "urgency": rendered.urgency,
        "exercise": rendered.exercise,
        "level": rendered.level,  # the page shows the resident's own timeline step for it
    }
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


# --- cutting text -------------------------------------------------------------------------

_JOINERS = {"\u200d", "\u200c"} | {chr(c) for c in range(0xFE00, 0xFE10)}


def _clean_cut(text: str) -> str:
    """Drop a trailing combining mark, joiner or variation selector left by a cut."""
    while text and (unicodedata.combining(text[-1]) or text[-1] in _JOINERS):
        text = text[:-1]
    while text and _JOINERS.intersection(text[-1:]):
        text = text[:-1]
    return text


def cap(text: str, limit: int) -> str:
    """At most ``limit`` characters, cut with an ellipsis; one line."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    return _clean_cut(text[: max(limit - 1, 0)]).rstrip() + ELLIPSIS


def truncate(text: str, fits: Callable[[str], bool], suffix: str = "") -> str:
    """The longest prefix of ``text`` (plus "…" when cut, plus ``suffix``) that ``fits``.
    Cuts only between characters. Raises ``ValueError`` when not even the suffix fits."""
    if fits(text + suffix):
        return text + suffix
    low, high = 0, len(text)  # invariant: text[:low] + … fits; text[:high] + … may not
    if not fits(ELLIPSIS + suffix):
        raise ValueError("not even the fixed part of the message fits the channel")
    while low < high:
        middle = (low + high + 1) // 2
        if fits(_clean_cut(text[:middle]).rstrip() + ELLIPSIS + suffix):
            low = middle
        else:
            high = middle - 1
    return _clean_cut(text[:low]).rstrip() + ELLIPSIS + suffix


def _fit(drafts: Sequence[str], fits: Callable[[str], bool], last: tuple[str, str]) -> str:
    """The first of ``drafts`` (fullest first) that ``fits``; else ``last[0]`` cut to fit
    in front of ``last[1]`` (what to do and the links, which are never cut)."""
    for draft in drafts:
        if fits(draft):
            return draft
    return truncate(last[0], fits, last[1])


# --- words ----------------------------------------------------------------------------------


def words(language: str) -> dict[str, str]:
    """The ``notify`` section of the text catalogue in ``language`` (``{"title.new": …}``)."""
    if language not in texts.LANGUAGES:
        raise UnknownLanguage(f"no texts for language {language!r}; have {texts.LANGUAGES}")
    return texts.section("notify", language)


class _Words:
    def __init__(self, language: str, tz: tzinfo) -> None:
        self.language = language
        self.t = words(language)
        self.tz = tz
        self.english_names = self.t["meta.names"] == "en"

    def __call__(self, key: str, **values: object) -> str:
        return self.t[key].format(**values)

    def name(self, ja: str, en: str) -> str:
        return cap((en or ja) if self.english_names else (ja or en), NAME_MAX)

    def time(self, when: datetime, key: str = "format.time") -> str:
        local = (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(self.tz)
        return self(
            key,
            year=local.year,
            month=local.month,
            day=local.day,
            hour=local.hour,
            minute=local.minute,
            month_name=calendar.month_name[local.month],
        )


def event(message: AlertMessage) -> str:
    if message.kind not in PUBLIC_KINDS:
        raise NotForResidents(f"{message.kind} alerts are for staff only")
    if message.msg_type is MsgType.cancel:
        return "cancel"
    if message.ended:
        return "all_clear"
    forecast = message.kind is Kind.forecast
    if message.msg_type is MsgType.alert:
        return "forecast" if forecast else "new"
    return "forecast_update" if forecast else "update"


def _action_key(message: AlertMessage) -> str:
    match message.response:
        case Response.none:
            return "action.cancel"
        case Response.all_clear:
            return "action.all_clear"
        case Response.prepare:
            return "action.prepare"
        case Response.monitor:
            return "action.monitor"
        case _:
            level = message.alert_level
            return f"action.level{level}" if level in (3, 4, 5) else "action.evacuate"


@dataclass(frozen=True, slots=True)
class _Parts:
    label: str
    label_speech: str
    title: str
    what: str
    what_speech: str
    facts: str
    facts_speech: str
    areas: str
    action: str
    shelters: tuple[str, ...]
    shelters_speech: str
    note: str


def _parts(m: AlertMessage, w: _Words, shelters: Sequence[Shelter]) -> _Parts:
    ev = event(m)
    stage = w.name(m.stage.name_ja, m.stage.name_en) if m.stage else w("word.high_water")
    headline = w(f"level.{m.alert_level}") if m.alert_level else stage

    def eta(key: str) -> str:
        return w("word.eta", time=w.time(m.eta, key)) if m.eta else w("word.soon")

    names = {
        "river": w.name(m.station.river_ja, m.station.river_en),
        "station": w.name(m.station.name_ja, m.station.name_en),
        "stage": stage,
        "headline": headline,
    }
    label = {Status.exercise: "label.exercise", Status.test: "label.test"}.get(m.status)
    facts: list[str] = []
    facts_speech: list[str] = []
    if m.level_m is not None and m.observed_at is not None and ev not in ("cancel", "all_clear"):
        for out, metres, clock in (
            (facts, "format.metres", "format.time"),
            (facts_speech, "speech.metres", "speech.time"),
        ):
            out.append(w("fact.level", level=w(metres, value=m.level_m), time=w.time(m.observed_at, clock)))
    if m.rate_m_h is not None and m.rate_m_h > 0 and ev not in ("cancel", "all_clear"):
        facts.append(w("fact.rate", rate=w("format.metres", value=m.rate_m_h)))
        facts_speech.append(w("fact.rate", rate=w("speech.metres", value=m.rate_m_h)))
    sep = w("meta.list_separator")
    area_names = [w.name(a.name_ja, a.name_en) for a in m.areas]
    if len(area_names) > AREAS_LISTED:
        listed = w(
            "areas.more", areas=sep.join(area_names[:AREAS_LISTED]), count=len(area_names) - AREAS_LISTED
        )
    else:
        listed = sep.join(area_names)
    shelter_lines: tuple[str, ...] = ()
    shelters_speech = ""
    if m.response is Response.evacuate and not m.ended:
        if shelters:
            rooms = [
                w(f"shelters.{s.crowding}" if f"shelters.{s.crowding}" in w.t else "shelters.unknown")
                for s in shelters
            ]
            shelter_lines = (
                w("shelters.head"),
                *(
                    w(
                        "shelters.item",
                        number=n,
                        name=w.name(s.name_ja, s.name_en),
                        distance=w("format.km", value=s.distance_m / 1000),
                        room=room,
                    )
                    for n, (s, room) in enumerate(zip(shelters, rooms, strict=True), start=1)
                ),
            )
            shelters_speech = (
                w("speech.shelters_head")
                + " "
                + " ".join(
                    w(
                        "speech.shelter_item",
                        name=w.name(s.name_ja, s.name_en),
                        distance=w("speech.km", value=s.distance_m / 1000),
                        room=room,
                    )
                    for s, room in zip(shelters, rooms, strict=True)
                )
            )
        else:
            shelter_lines = (w("shelters.none"),)
            shelters_speech = w("shelters.none")
    return _Parts(
        label=w(label) if label else "",
        label_speech=w(f"{label}_speech") if label else "",
        title=w(f"title.{ev}", **names, eta=eta("format.time")),
        what=w(f"what.{ev}", **names, eta=eta("format.time")),
        what_speech=w(f"what.{ev}", **names, eta=eta("speech.time")),
        facts=" ".join(facts),
        facts_speech=" ".join(facts_speech),
        areas=w("areas.list", areas=listed) if listed else "",
        action=w(_action_key(m)),
        shelters=shelter_lines,
        shelters_speech=shelters_speech,
        note=w("note", note=cap(m.note, NOTE_MAX)) if m.note.strip() else "",
    )


# --- speech ---------------------------------------------------------------------------------

_URL = re.compile(r"\b(?:https?|mailto|tel):\S*", re.IGNORECASE)
_PAUSE = re.compile(r"(?<!\d):|:(?!\d)|[：;；|｜/／\\＼→⇒・\-–—]+")  # not the colon of 14:05
_SYMBOLS = re.compile(
    r"[【】「」『』（）()\[\]［］{}｛｝<>＜＞〈〉《》\"'`“”‘’*＊#＃@＠~〜^_=+＋&＆%％$＄!！?？○△▲×※♪☆★■□◆◇…]+"
)
_SPACE = re.compile(r"\s+")
_BEFORE_PUNCTUATION = re.compile(r"\s+([。、.,])")
_REPEATED_PAUSE = re.compile(r"([。、.,])(?:\s*[。、,])+")


def speakable(text: str, pause: str) -> str:
    """Text for text-to-speech: URLs removed, brackets and symbols dropped, separators
    turned into pauses, one line."""
    text = _URL.sub(" ", text)
    text = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in text)
    text = _PAUSE.sub(pause if not pause.isascii() else pause + " ", text)
    text = _SYMBOLS.sub(" ", text)
    text = _BEFORE_PUNCTUATION.sub(r"\1", _SPACE.sub(" ", text))
    return _REPEATED_PAUSE.sub(r"\1", text).strip()


# --- render ---------------------------------------------------------------------------------


def render(
    message: AlertMessage,
    *,
    language: str,
    channel: Channel | str,
    shelters: Sequence[Shelter] = (),
    resident_url: str | None = None,
    unsubscribe_url: str,
    tz: tzinfo = DEFAULT_ZONE,
) -> RenderedMessage:
    """Word ``message`` for one reader: ``language`` is a template file's name
    (``ja``, ``en``, ``ja-easy``, …), ``shelters`` the already-chosen nearest shelters."""
    channel = Channel(channel)
    w = _Words(language, tz)
    p = _parts(message, w, shelters)
    pause = w("meta.list_separator").strip() or ","
    # when people must act, the check-in and rescue page (安否の報告・救助の要請) too
    safety = bool(resident_url) and urgency(message) == "high"
    links = "\n".join(
        [w("link.resident", url=resident_url)] * bool(resident_url)
        + [w("link.safety", url=safety_url(resident_url, language))] * safety
        + [w("link.unsubscribe", url=unsubscribe_url)]
    )
    drafts = _drafts(p)
    title = cap(p.label + p.title, SUBJECT_MAX)

    end = w("meta.sentence_end")
    speech = speakable(
        " ".join(
            part if part.rstrip()[-1:] in ".。!！?？" else part + end
            for part in (
                p.label_speech,
                w("speech.intro"),
                p.title,
                p.what_speech,
                p.facts_speech,
                p.areas,
                p.action,
                p.shelters_speech,
                p.note,
                p.label_speech,
                w("speech.outro"),
            )
            if part
        ),
        pause,
    )
    sms_head = p.label + w("sms", title=cap(p.title, 120), action=p.action, url=resident_url or "").strip()
    short = truncate(
        " ".join(sms_head.split()),
        lambda t: utf16_units(t) <= SMS_MAX,
        "\n" + w("link.unsubscribe", url=unsubscribe_url),
    )
    common = dict(
        language=language,
        channel=channel,
        identifier=message.identifier,
        status=message.status,
        short_text=short,
        speech_text=speech,
        url=resident_url,
        unsubscribe_url=unsubscribe_url,
        urgency=urgency(message),
        topic=alert_topic(message),
        level=None if message.ended else message.alert_level,
        audio_path=f"/api/speech/{message.alert_id}/{message.version}.wav?lang={language}",
    )
    if channel is Channel.webpush:
        push_title = cap(p.label + p.title, PUSH_TITLE_MAX)
        draft = RenderedMessage(title=push_title, body="", **common)  # type: ignore[arg-type]

        def fits_push(text: str) -> bool:
            return len(push_payload(replace(draft, body=text))) <= WEB_PUSH_PAYLOAD_MAX

        label = p.label.strip() + "\n" if p.label else ""
        body = _fit([label + d for d in drafts], fits_push, (label + p.what, "\n\n" + p.action))
        return replace(draft, body=body)
    if channel is Channel.sms:
        body = short
    elif channel in SPEECH_CHANNELS:
        body = speech
    elif channel is Channel.line:
        heading, tail = p.label + p.title + "\n\n", "\n\n" + links
        body = _fit(
            [heading + d + tail for d in drafts],
            lambda t: utf16_units(t) <= LINE_TEXT_MAX,
            (heading + p.what, "\n\n" + p.action + tail),
        )
    else:  # email, fax: no length limit beyond the caps on names
        body = title + "\n\n" + drafts[0] + "\n\n" + links
    return RenderedMessage(title=title, body=body, **common)  # type: ignore[arg-type]


def _drafts(p: _Parts) -> list[str]:
    """The body without links, fullest first: then with fewer shelters (the farthest go
    first), without the note, the figures, the areas. What to do is always kept."""

    def body(shelters: tuple[str, ...], note: bool, facts: bool, areas: bool) -> str:
        parts = [p.what, p.facts if facts else "", p.areas if areas else "", p.action, "\n".join(shelters)]
        parts.append(p.note if note else "")
        return "\n\n".join(part for part in parts if part)

    counts = range(len(p.shelters), 1, -1) if len(p.shelters) > 1 else [len(p.shelters)]
    drafts = [body(p.shelters[:n], True, True, True) for n in counts]
    drafts += [
        body((), True, True, True),
        body((), False, True, True),
        body((), False, False, True),
        body((), False, False, False),
    ]
    return drafts
