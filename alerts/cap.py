"""CAP 1.2 and Atom renderings of alert messages: pure functions, no I/O.

``render_cap`` turns one :class:`~alerts.message.AlertMessage` (one version of one
alert) into an OASIS CAP 1.2 document with two ``<info>`` blocks, Japanese and
English; ``render_atom`` lists CAP documents in an Atom 1.0 feed for aggregators.
The mapping tables and URLs are in ``docs/cap.md``.

Times are written in the local offset ``tz`` (Japan, +09:00, by default) to the
second: CAP 1.2 forbids "Z" and fractional seconds, and asks for "-00:00" for UTC,
which RFC 3339 reads as "offset unknown" — a local offset avoids the ambiguity.
CAP polygons cannot have holes: the inner rings of a GeoJSON polygon are dropped
(the alert then covers the hole too, which errs on the side of warning).
"""

from __future__ import annotations

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

# What to do now, per 警戒レベル (内閣府「避難情報に関するガイドライン」の表現に沿う).
INSTRUCTIONS_JA = {
    5: "【警戒レベル5 緊急安全確保】災害が発生しているか、切迫しています。命の危険があります。"
    "直ちに身の安全を確保してください。避難所へ向かうのがかえって危険なときは、"
    "近くの高く頑丈な建物や、家の2階以上の川から離れた部屋に移動してください。",
    4: "【警戒レベル4 避難指示】危険な場所から全員避難してください。"
    "川の近くや浸水のおそれがある場所にいる人は、避難所や安全な親戚・知人の家などへ今すぐ移動してください。",
    3: "【警戒レベル3 高齢者等避難】危険な場所から高齢者等は避難してください。"
    "お年寄り、障害のある人、小さな子どもと一緒の人など避難に時間がかかる人は避難を始めてください。"
    "ほかの人も避難の準備をし、必要に応じて自主的に避難してください。",
    2: "【警戒レベル2】ハザードマップで自宅の危険と避難先、避難の道順を確認してください。"
    "川には近づかないでください。",
    1: "今後の情報に注意してください。川には近づかないでください。",
}
INSTRUCTIONS_EN = {
    5: "[Alert level 5: secure your safety now] Flooding is happening or imminent. Your life is in "
    "danger. Get to safety immediately. If going to a shelter is more dangerous, move to a tall, "
    "sturdy building nearby or to an upper floor, away from the river.",
    4: "[Alert level 4: evacuate] Everyone in a dangerous place must evacuate now: leave areas near "
    "the river and places that may flood, and go to a shelter or a safe place such as a relative's home.",
    3: "[Alert level 3: elderly and others evacuate] Older people, people with disabilities, families "
    "with small children and anyone who needs time to move: start evacuating now. Everyone else: "
    "get ready to leave and go early if you feel unsafe.",
    2: "[Alert level 2] Check your hazard map: the risk at your home, your shelter and the way there. "
    "Stay away from the river.",
    1: "Watch for further information. Stay away from the river.",
}
FORECAST_JA = (
    "避難の準備をしてください。高齢者など避難に時間がかかる人は、早めに避難を始めてください。"
    "市町村が発表する避難情報に注意してください。川には近づかないでください。"
)
FORECAST_EN = (
    "Get ready to evacuate. People who need time to move should start early. Follow the evacuation "
    "information from your municipality. Stay away from the river."
)
ALL_CLEAR_JA = (
    "水位は下がりました。避難指示などの解除は市町村の発表を確認してください。"
    "増水した川や水路にはしばらく近づかないでください。"
)
ALL_CLEAR_EN = (
    "The water has gone down. Check your municipality's announcements before returning home. "
    "Stay away from swollen rivers and channels for now."
)
CANCEL_JA = "先に送ったこの情報は誤りのため取り消します。"
CANCEL_EN = "The earlier message was sent in error and is cancelled."

_PREFIX = {
    Status.actual: ("", ""),
    Status.exercise: ("【訓練】", "[EXERCISE] "),
    Status.test: ("【テスト】", "[TEST] "),
}
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
    if message.status is Status.exercise:
        notes.append("訓練用の情報です。実際の災害ではありません。 This is an exercise, not a real alert.")
    elif message.status is Status.test:
        notes.append("テスト送信です。対応は不要です。 This is a test; no action is needed.")
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
    if m.kind is Kind.forecast:
        return "河川の増水（予測）" if lang == "ja" else "River rise forecast"
    return "河川の増水" if lang == "ja" else "River flood"


def headline(m: AlertMessage, lang: str) -> str:
    """Short and plain: what, where; prefixed for exercises and tests."""
    ja, en = _PREFIX[m.status]
    s = m.station
    if lang == "ja":
        where = f"{s.river_ja} {s.name_ja}観測所"
        stage = m.stage.name_ja if m.stage else "警戒水位"
        if m.msg_type is MsgType.cancel:
            text = f"【取消】{where}の情報を取り消します"
        elif m.ended:
            text = f"【解除】{where} 水位が下がりました"
        elif m.kind is Kind.forecast:
            text = f"{_level_ja(m, '予測')}{where} {stage}に達するおそれ"
        else:
            text = f"{_level_ja(m)}{where} {stage}に到達"
        return ja + text
    where = f"{s.river_en} at {s.name_en}"
    stage = m.stage.name_en if m.stage else "alert stage"
    if m.msg_type is MsgType.cancel:
        text = f"[Cancelled] {where}: earlier message withdrawn"
    elif m.ended:
        text = f"[All clear] {where}: water has gone down"
    elif m.kind is Kind.forecast:
        text = f"{_level_en(m, 'forecast')}{where} may reach {stage}"
    else:
        text = f"{_level_en(m)}{where} has reached {stage}"
    return en + text


def description(m: AlertMessage, lang: str, tz: tzinfo = DEFAULT_ZONE) -> str:
    """What is happening, where, the level and its trend."""
    s = m.station
    parts: list[str] = []
    if lang == "ja":
        if m.level_m is not None:
            when = f"{_clock_ja(m.observed_at, tz)}に" if m.observed_at else ""
            parts.append(
                f"{s.river_ja}の{s.name_ja}観測所で、{when}水位{_metres(m.level_m)}mを観測しました。"
            )
        if m.stage is not None and not m.ended:
            verb = "に達するおそれがあります" if m.kind is Kind.forecast else "に達しています"
            eta = f"{_clock_ja(m.eta, tz)}ごろ" if m.kind is Kind.forecast and m.eta else ""
            parts.append(f"{eta}{m.stage.name_ja}（{_metres(m.stage.level_m)}m）{verb}。")
        if m.rate_m_h is not None:
            parts.append(_trend_ja(m.rate_m_h))
        if m.areas:
            parts.append("対象地域：" + "、".join(a.name_ja for a in m.areas) + "。")
        if m.msg_type is MsgType.cancel:
            parts.append(CANCEL_JA)
        elif m.ended:
            parts.append("この警報は終了しました。")
        return "".join(parts) or f"{s.river_ja} {s.name_ja}観測所の情報です。"
    if m.level_m is not None:
        when = f" at {_clock_en(m.observed_at, tz)}" if m.observed_at else ""
        parts.append(f"The {s.river_en} at the {s.name_en} gauge was {_metres(m.level_m)} m{when}.")
    if m.stage is not None and not m.ended:
        if m.kind is Kind.forecast:
            eta = f" by about {_clock_en(m.eta, tz)}" if m.eta else ""
            parts.append(f"It may reach the {m.stage.name_en} ({_metres(m.stage.level_m)} m){eta}.")
        else:
            parts.append(f"It has reached the {m.stage.name_en} ({_metres(m.stage.level_m)} m).")
    if m.rate_m_h is not None:
        parts.append(_trend_en(m.rate_m_h))
    if m.areas:
        parts.append("Areas: " + ", ".join(a.name_en for a in m.areas) + ".")
    if m.msg_type is MsgType.cancel:
        parts.append(CANCEL_EN)
    elif m.ended:
        parts.append("This alert has ended.")
    return " ".join(parts) or f"Information for the {s.river_en} at the {s.name_en} gauge."


def instruction(m: AlertMessage, lang: str) -> str:
    """What to do now, in plain words."""
    ja = lang == "ja"
    if m.msg_type is MsgType.cancel or m.response is Response.none:
        return CANCEL_JA if ja else CANCEL_EN
    if m.ended or m.response is Response.all_clear:
        return ALL_CLEAR_JA if ja else ALL_CLEAR_EN
    if m.kind is Kind.forecast:
        return FORECAST_JA if ja else FORECAST_EN
    level = m.alert_level or 1
    return (INSTRUCTIONS_JA if ja else INSTRUCTIONS_EN)[level]


def _level_ja(m: AlertMessage, suffix: str = "") -> str:
    if m.alert_level is None:
        return f"【{suffix}】" if suffix else ""
    return f"【警戒レベル{m.alert_level}相当{'・' + suffix if suffix else ''}】"


def _level_en(m: AlertMessage, suffix: str = "") -> str:
    if m.alert_level is None:
        return f"[{suffix.capitalize()}] " if suffix else ""
    return f"[Alert level {m.alert_level}{' ' + suffix if suffix else ''}] "


def _trend_ja(rate: float) -> str:
    if rate > 0.01:
        return f"水位は1時間に{_metres(rate)}mの速さで上がっています。"
    if rate < -0.01:
        return f"水位は1時間に{_metres(-rate)}mの速さで下がっています。"
    return "水位はほぼ横ばいです。"


def _trend_en(rate: float) -> str:
    if rate > 0.01:
        return f"The water is rising by {_metres(rate)} m an hour."
    if rate < -0.01:
        return f"The water is falling by {_metres(-rate)} m an hour."
    return "The level is steady."


def _clock_ja(value: datetime | None, tz: tzinfo) -> str:
    local = _local(value, tz)
    return f"{local.month}月{local.day}日{local.hour}時{local.minute:02d}分"


def _clock_en(value: datetime | None, tz: tzinfo) -> str:
    local = _local(value, tz)
    zone = local.tzname() or cap_time(local, tz)[-6:]
    return f"{local:%H:%M} {zone} on {local.day} {local:%b}"


def _local(value: datetime | None, tz: tzinfo) -> datetime:
    if value is None:
        raise CapError("no time to show")
    cap_time(value, tz)  # rejects naive times
    return value.astimezone(tz)


def _area_name(m: AlertMessage, facts: AreaFacts | None, lang: str) -> str:
    if facts is not None:
        return facts.name_ja if lang == "ja" else facts.name_en
    s = m.station
    if lang == "ja":
        return f"{s.river_ja} {s.name_ja}観測所付近"
    return f"Near the {s.name_en} gauge, {s.river_en}"


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
