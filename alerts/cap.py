"""CAP 1.2 and Atom renderings of alert messages: pure functions, no I/O.

``render_cap`` turns one :class:`~alerts.message.AlertMessage` (one version of one
alert) into an OASIS CAP 1.2 document with two ``<info>`` blocks, Japanese and
English; ``render_atom`` lists CAP documents in an Atom 1.0 feed for aggregators.
The mapping tables and URLs are in ``docs/cap.md``; the words are in the text
catalogue's ``cap`` section (``kawamori/texts/<language>.yaml``).

Times are written in the local offset ``tz`` (Japan, +09:00, by default) to the
second: CAP 1.2 forbids "Z" and fractional seconds, and asks for "-00:00" for UTC,
which RFC 3339 reads as "offset unknown" — a local offset avoids the ambiguity.
CAP polygons cannot have holes: the inner rings of a GeoJSON polygon are dropped
(the alert then covers the hole too, which errs on the side of warning).
"""

from __future__ import annotations

import calendar
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from alerts.message import AlertMessage, AreaFacts, Response
from alerts.model import Kind, MsgType, Status
from kawamori.clock import DEFAULT_ZONE
from kawamori.texts import say

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
ATOM_NS = "http://www.w3.org/2005/Atom"
CAP_MEDIA_TYPE = "application/cap+xml"
ATOM_MEDIA_TYPE = "application/atom+xml"
DEFAULT_SENDER_NAME = "川守 Kawamori"
CATEGORY = "Met"  # CAP 1.2: "Meteorological (inc. flood)"; Env is for pollution and the like


@dataclass(frozen=True, slots=True)
class Grade:
    """CAP urgency, severity and certainty of one message."""

    urgency: str
    severity: str
    certainty: str


# 警戒レベル of an observed stage → how urgent, how severe, how certain.
STAGE_GRADES: dict[int | None, Grade] = {
    5: Grade("Immediate", "Extreme", "Observed"),
    4: Grade("Immediate", "Severe", "Observed"),
    3: Grade("Expected", "Severe", "Observed"),
    2: Grade("Expected", "Moderate", "Observed"),
    1: Grade("Future", "Minor", "Observed"),
    None: Grade("Future", "Minor", "Observed"),
}
# A forecast: the stage is expected, not yet observed.
FORECAST_GRADES: dict[int | None, Grade] = {
    5: Grade("Expected", "Extreme", "Likely"),
    4: Grade("Expected", "Severe", "Likely"),
    3: Grade("Expected", "Severe", "Likely"),
    2: Grade("Expected", "Moderate", "Likely"),
    1: Grade("Future", "Minor", "Likely"),
    None: Grade("Future", "Minor", "Likely"),
}
ALL_CLEAR_GRADE = Grade("Past", "Minor", "Observed")  # the water has gone down
CANCEL_GRADE = Grade("Past", "Minor", "Unlikely")  # retracted: the alert was a mistake

_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class CapError(ValueError):
    """A message that cannot be written as valid CAP (say, a naive time)."""


# ---------------------------------------------------------------------------- CAP


def grade(message: AlertMessage) -> Grade:
    """Urgency, severity and certainty of a message (the tables above)."""
    if message.msg_type is MsgType.cancel:
        return CANCEL_GRADE
    if message.ended:
        return ALL_CLEAR_GRADE
    table = FORECAST_GRADES if message.kind is Kind.forecast else STAGE_GRADES
    return table[message.alert_level]


def cap_time(value: datetime, tz: tzinfo = DEFAULT_ZONE) -> str:
    """A CAP 1.2 dateTime: seconds, a numeric offset, never "Z"."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise CapError(f"CAP times need a time zone, got naive {value.isoformat()}")
    local = value.astimezone(tz).replace(microsecond=0)
    text = local.isoformat()
    return text[:-6] + "-00:00" if text.endswith("+00:00") else text  # CAP 1.2 §3.3.2


def cap_polygons(geometry: dict[str, Any]) -> list[str]:
    """GeoJSON Polygon/MultiPolygon → CAP polygons ("lat,lon lat,lon …", closed,
    latitude first). Holes cannot be expressed in CAP and are dropped."""
    kind = geometry.get("type")
    if kind == "Polygon":
        outer_rings = [geometry["coordinates"][0]] if geometry.get("coordinates") else []
    elif kind == "MultiPolygon":
        outer_rings = [polygon[0] for polygon in geometry.get("coordinates", []) if polygon]
    else:
        raise CapError(f"an area must be a GeoJSON Polygon or MultiPolygon, not {kind!r}")
    polygons = []
    for ring in outer_rings:
        points = [(float(p[1]), float(p[0])) for p in ring]
        if points and points[0] != points[-1]:
            points.append(points[0])
        if len(points) < 4:
            raise CapError("a CAP polygon needs at least four points (a closed triangle)")
        polygons.append(" ".join(f"{_coordinate(lat)},{_coordinate(lon)}" for lat, lon in points))
    return polygons


def render_cap(
    message: AlertMessage,
    *,
    sender_name: str = DEFAULT_SENDER_NAME,
    web: str | None = None,
    tz: tzinfo = DEFAULT_ZONE,
) -> bytes:
    """One alert message as a CAP 1.2 document (UTF-8 bytes).

    ``web`` is the public page residents are sent to (``?lang=ja``/``en`` is added);
    ``tz`` is the offset times are written in."""
    if message.references and not message.references_sent:
        raise CapError("CAP references need the sent time of each referenced message")
    alert = ET.Element(_cap("alert"))
    _sub(alert, "identifier", message.identifier)
    _sub(alert, "sender", message.sender)
    _sub(alert, "sent", cap_time(message.sent, tz))
    _sub(alert, "status", message.status.value)
    _sub(alert, "msgType", message.msg_type.value)
    _sub(alert, "scope", "Public")
    notes = []
    if message.status is not Status.actual:
        key = f"cap.note.{message.status.value.lower()}"
        notes.append(f"{say(key, 'ja')} {say(key, 'en')}")
    if message.note.strip():
        notes.append(message.note.strip())
    if notes:
        _sub(alert, "note", " / ".join(notes))
    if message.references:
        _sub(
            alert,
            "references",
            " ".join(
                f"{message.sender},{ref},{cap_time(sent, tz)}"
                for ref, sent in zip(message.references, message.references_sent, strict=True)
            ),
        )
    _sub(alert, "incidents", f"{message.sender}:alert:{message.alert_id}")
    for language in ("ja", "en"):
        _info(alert, message, language, sender_name=sender_name, web=web, tz=tz)
    ET.indent(alert)
    return ET.tostring(alert, encoding="utf-8", xml_declaration=True, default_namespace=CAP_NS)


def _info(
    alert: ET.Element, m: AlertMessage, lang: str, *, sender_name: str, web: str | None, tz: tzinfo
) -> None:
    g = grade(m)
    info = _sub(alert, "info")
    _sub(info, "language", "ja-JP" if lang == "ja" else "en-US")
    _sub(info, "category", CATEGORY)
    _sub(info, "event", event(m, lang))
    _sub(info, "responseType", m.response.value)
    _sub(info, "urgency", g.urgency)
    _sub(info, "severity", g.severity)
    _sub(info, "certainty", g.certainty)
    if m.kind is Kind.forecast and m.eta is not None and not m.ended:
        _sub(info, "onset", cap_time(m.eta, tz))
    _sub(info, "senderName", sender_name)
    _sub(info, "headline", headline(m, lang))
    _sub(info, "description", description(m, lang, tz))
    _sub(info, "instruction", instruction(m, lang))
    if web:
        _sub(info, "web", _with_query(web, {"lang": lang}))
    for name, value in parameters(m, tz):
        parameter = _sub(info, "parameter")
        _sub(parameter, "valueName", name)
        _sub(parameter, "value", value)
    areas = m.areas or (None,)
    for facts in areas:
        area = _sub(info, "area")
        _sub(area, "areaDesc", _area_name(m, facts, lang))
        if facts is not None:
            for polygon in cap_polygons(facts.geometry):
                _sub(area, "polygon", polygon)


def parameters(m: AlertMessage, tz: tzinfo = DEFAULT_ZONE) -> list[tuple[str, str]]:
    """Machine-readable facts, as CAP ``<parameter>`` name/value pairs."""
    items = [
        ("alertId", str(m.alert_id)),
        ("alertVersion", str(m.version)),
        ("alertKind", m.kind.value),
        ("stationId", m.station.id),
    ]
    if m.alert_level is not None:
        items.append(("alertLevel", str(m.alert_level)))
    if m.stage is not None:
        items += [("stageKey", m.stage.key), ("stageLevelM", _metres(m.stage.level_m))]
    if m.level_m is not None:
        items.append(("waterLevelM", _metres(m.level_m)))
    if m.observed_at is not None:
        items.append(("observedAt", cap_time(m.observed_at, tz)))
    if m.rate_m_h is not None:
        items.append(("rateOfRiseMPerH", _metres(m.rate_m_h)))
    if m.eta is not None:
        items.append(("projectedAt", cap_time(m.eta, tz)))
    return items


# ------------------------------------------------------------------------ wording


def event(m: AlertMessage, lang: str) -> str:
    return say(f"cap.event.{'forecast' if m.kind is Kind.forecast else 'observed'}", lang)


def headline(m: AlertMessage, lang: str) -> str:
    """Short and plain: what, where; prefixed for exercises and tests."""
    river, station = _names(m, lang)
    where = say("cap.where", lang, river=river, station=station)
    stage = _stage_name(m, lang) if m.stage else say("cap.stage_unknown", lang)
    if m.msg_type is MsgType.cancel:
        text = say("cap.headline.cancel", lang, where=where)
    elif m.ended:
        text = say("cap.headline.ended", lang, where=where)
    elif m.kind is Kind.forecast:
        text = say(
            "cap.headline.forecast", lang, level=_level(m, lang, forecast=True), where=where, stage=stage
        )
    else:
        text = say("cap.headline.observed", lang, level=_level(m, lang), where=where, stage=stage)
    prefix = "" if m.status is Status.actual else say(f"cap.prefix.{m.status.value.lower()}", lang)
    return prefix + text


def description(m: AlertMessage, lang: str, tz: tzinfo = DEFAULT_ZONE) -> str:
    """What is happening, where, the level and its trend."""
    river, station = _names(m, lang)
    parts: list[str] = []
    if m.level_m is not None:
        at = {"time": _clock(m.observed_at, lang, tz)} if m.observed_at else {}
        key = "cap.description.level_at" if at else "cap.description.level"
        parts.append(say(key, lang, river=river, station=station, metres=_metres(m.level_m), **at))
    if m.stage is not None and not m.ended:
        stage = {"stage": _stage_name(m, lang), "metres": _metres(m.stage.level_m)}
        if m.kind is not Kind.forecast:
            parts.append(say("cap.description.reached", lang, **stage))
        elif m.eta:
            parts.append(say("cap.description.forecast_eta", lang, eta=_clock(m.eta, lang, tz), **stage))
        else:
            parts.append(say("cap.description.forecast", lang, **stage))
    if m.rate_m_h is not None:
        parts.append(_trend(m.rate_m_h, lang))
    if m.areas:
        names = [a.name_en if lang == "en" else a.name_ja for a in m.areas]
        parts.append(say("cap.description.areas", lang, areas=say("cap.list_separator", lang).join(names)))
    if m.msg_type is MsgType.cancel:
        parts.append(say("cap.instruction.cancel", lang))
    elif m.ended:
        parts.append(say("cap.description.ended", lang))
    return _sentences(parts) or say("cap.description.none", lang, river=river, station=station)


def instruction(m: AlertMessage, lang: str) -> str:
    """What to do now, in plain words."""
    if m.msg_type is MsgType.cancel or m.response is Response.none:
        return say("cap.instruction.cancel", lang)
    if m.ended or m.response is Response.all_clear:
        return say("cap.instruction.all_clear", lang)
    if m.kind is Kind.forecast:
        return say("cap.instruction.forecast", lang)
    return say(f"cap.instruction.level.{m.alert_level or 1}", lang)


def _names(m: AlertMessage, lang: str) -> tuple[str, str]:
    """The river and the station as the language names them (English or Japanese)."""
    s = m.station
    return (s.river_en, s.name_en) if lang == "en" else (s.river_ja, s.name_ja)


def _stage_name(m: AlertMessage, lang: str) -> str:
    assert m.stage is not None
    return m.stage.name_en if lang == "en" else m.stage.name_ja


def _level(m: AlertMessage, lang: str, *, forecast: bool = False) -> str:
    """The headline's level mark: 【警戒レベル4相当】, [Alert level 4 forecast], or none."""
    if m.alert_level is None:
        return say("cap.level.forecast_only", lang) if forecast else ""
    return say(f"cap.level.{'forecast' if forecast else 'observed'}", lang, level=m.alert_level)


def _trend(rate: float, lang: str) -> str:
    if rate > 0.01:
        return say("cap.description.rising", lang, rate=_metres(rate))
    if rate < -0.01:
        return say("cap.description.falling", lang, rate=_metres(-rate))
    return say("cap.description.steady", lang)


def _sentences(parts: list[str]) -> str:
    """Sentences in a row: a space after one that ends in a Latin full stop (a Japanese
    「。」 needs none)."""
    return "".join(p + " " if p[-1:].isascii() else p for p in parts).rstrip()


def _clock(value: datetime | None, lang: str, tz: tzinfo) -> str:
    """A local time in the language's words (``11月3日9時05分``, ``09:05 JST on 3 Nov``)."""
    local = _local(value, tz)
    return say(
        "cap.time",
        lang,
        month=local.month,
        day=local.day,
        hour=local.hour,
        minute=local.minute,
        month_name=calendar.month_abbr[local.month],
        zone=local.tzname() or cap_time(local, tz)[-6:],
    )


def _local(value: datetime | None, tz: tzinfo) -> datetime:
    if value is None:
        raise CapError("no time to show")
    cap_time(value, tz)  # rejects naive times
    return value.astimezone(tz)


def _area_name(m: AlertMessage, facts: AreaFacts | None, lang: str) -> str:
    if facts is not None:
        return facts.name_en if lang == "en" else facts.name_ja
    river, station = _names(m, lang)
    return say("cap.near", lang, river=river, station=station)


def _metres(value: float) -> str:
    return f"{value:.2f}"


def _coordinate(value: float) -> str:
    return f"{value:.6f}".rstrip("0").rstrip(".")


def _with_query(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    return urlunsplit(parts._replace(query=query))


# --------------------------------------------------------------------------- Atom


def render_atom(
    messages: Sequence[AlertMessage],
    *,
    feed_id: str,
    title: str,
    updated: datetime,
    self_url: str,
    cap_url: Callable[[AlertMessage], str],
    author: str = DEFAULT_SENDER_NAME,
    tz: tzinfo = DEFAULT_ZONE,
) -> bytes:
    """An Atom 1.0 feed (RFC 4287) of alert messages, newest first, each entry
    linking to its CAP document (``cap_url(message)``, an absolute URL)."""
    feed = ET.Element("feed", {"xmlns": ATOM_NS})  # unprefixed: the attributes stay plain
    _asub(feed, "id", feed_id)
    _asub(feed, "title", title)
    _asub(feed, "updated", _atom_time(updated, tz))
    _asub(_asub(feed, "author"), "name", author)
    ET.SubElement(feed, "link", {"rel": "self", "type": ATOM_MEDIA_TYPE, "href": self_url})
    for m in sorted(messages, key=lambda m: (m.sent, m.alert_id, m.version), reverse=True):
        href = cap_url(m)
        entry = _asub(feed, "entry")
        _asub(entry, "id", href)  # one URL per (alert, version): stable and unique
        _asub(entry, "title", f"{headline(m, 'ja')} / {headline(m, 'en')}")
        _asub(entry, "updated", _atom_time(m.sent, tz))
        _asub(entry, "summary", f"{description(m, 'ja', tz)}\n\n{description(m, 'en', tz)}")
        ET.SubElement(entry, "link", {"rel": "alternate", "type": CAP_MEDIA_TYPE, "href": href})
        for term in (m.status.value, m.msg_type.value, m.response.value):
            ET.SubElement(entry, "category", {"term": term})
    ET.indent(feed)
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)


def _atom_time(value: datetime, tz: tzinfo) -> str:
    return cap_time(value, tz).replace("-00:00", "+00:00")  # RFC 3339 reads -00:00 as "unknown"


# ------------------------------------------------------------------------ helpers


def _cap(tag: str) -> str:
    return f"{{{CAP_NS}}}{tag}"


def _clean(text: str) -> str:
    """Text as XML 1.0 can carry it: control characters removed, ends trimmed."""
    return _NOT_XML.sub("", text).strip()


def _sub(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
    element = ET.SubElement(parent, _cap(tag))
    if text is not None:
        element.text = _clean(text)
    return element


def _asub(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
    element = ET.SubElement(parent, tag)
    if text is not None:
        element.text = _clean(text)
    return element
