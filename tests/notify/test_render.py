from __future__ import annotations

import json
import re
import string
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alerts.message import AlertMessage, AreaFacts, Response, StageFacts, StationFacts, response_for
from alerts.model import Kind, MsgType, Status
from notify.errors import NotForResidents, UnknownLanguage
from notify.render import (
    LINE_TEXT_MAX,
    SMS_MAX,
    WEB_PUSH_PAYLOAD_MAX,
    Channel,
    Shelter,
    _action_key,
    alert_topic,
    push_payload,
    render,
    shelters_from,
    truncate,
    utf16_units,
    words,
)
from tests.notify.factories import RESIDENT_URL, SHELTERS, UNSUBSCRIBE_URL, message

LANGUAGES = ("ja", "en", "ja-easy")


def rendered(msg, lang="ja", channel="line", **kw):
    kw.setdefault("shelters", SHELTERS)
    kw.setdefault("resident_url", RESIDENT_URL)
    return render(msg, language=lang, channel=channel, unsubscribe_url=UNSUBSCRIBE_URL, **kw)


# --- texts (the notify section of kawamori/texts; tests/kawamori/test_texts.py checks keys) -------


def test_names_follow_ja_or_en_in_every_language():
    for lang in LANGUAGES:
        assert words(lang)["meta.names"] in {"ja", "en"}


def test_unknown_language():
    with pytest.raises(UnknownLanguage):
        rendered(message(), "tlh")


def sentences(text: str) -> list[str]:
    text = re.sub(r"\{[^}]*\}", "", text)
    return [s.strip() for s in re.split(r"[。\n]", text) if s.strip()]


def test_easy_japanese_uses_short_sentences_and_spaces_between_words():
    for key, text in words("ja-easy").items():
        if key.startswith(("meta.", "format.", "speech.time", "speech.km", "speech.metres")):
            continue
        for sentence in sentences(text):
            assert len(sentence) <= 32, f"ja-easy {key}: sentence too long: {sentence}"
    body = rendered(message(), "ja-easy").body
    assert "にげて ください" in body
    assert "避難" not in body  # the hard word is not used


# --- wording ----------------------------------------------------------------------------------

CASES = [
    # (kind, msg_type, level, response, ended, {language: expected in title+body})
    (Kind.stage, MsgType.alert, 3, Response.evacuate, False, {"ja": "高齢者等避難", "en": "Alert level 3"}),
    (
        Kind.stage,
        MsgType.alert,
        4,
        Response.evacuate,
        False,
        {"ja": "避難指示", "ja-easy": "にげて ください"},
    ),
    (
        Kind.stage,
        MsgType.alert,
        5,
        Response.evacuate,
        False,
        {"ja": "緊急安全確保", "en": "Secure your safety"},
    ),
    (Kind.stage, MsgType.update, 5, Response.evacuate, False, {"ja": "【更新】", "en": "Update:"}),
    (Kind.stage, MsgType.alert, 2, Response.monitor, False, {"ja": "警戒レベル2", "en": "Watch the river"}),
    (Kind.stage, MsgType.update, 4, Response.all_clear, True, {"ja": "解除", "en": "All clear"}),
    (Kind.stage, MsgType.cancel, 4, Response.none, True, {"ja": "取り消し", "en": "Cancelled"}),
    (Kind.forecast, MsgType.alert, 4, Response.prepare, False, {"ja": "【予測】", "en": "Forecast"}),
    (
        Kind.forecast,
        MsgType.update,
        4,
        Response.prepare,
        False,
        {"ja": "予測・更新", "en": "Forecast update"},
    ),
]


@pytest.mark.parametrize(("kind", "msg_type", "level", "response", "ended", "expected"), CASES)
def test_kinds_levels_and_message_types_are_worded(kind, msg_type, level, response, ended, expected):
    msg = message(kind=kind, msg_type=msg_type, level=level, response=response, ended=ended)
    for lang in LANGUAGES:
        out = rendered(msg, lang)
        for channel in Channel:
            assert rendered(msg, lang, channel).body
        if lang in expected:
            assert expected[lang] in out.title + out.body
        assert UNSUBSCRIBE_URL in out.body
        shelters_listed = SHELTERS[0].name_ja in out.body or SHELTERS[0].name_en in out.body
        assert shelters_listed is (response is Response.evacuate)


def test_what_where_level_action_shelters_and_link_in_japanese():
    out = rendered(message(), "ja")
    assert out.title == "警戒レベル4「避難指示」 赤川（熊出）"
    assert "赤川の熊出観測所で、水位が氾濫危険水位に達しました。" in out.body
    assert "水位 3.25m（9月1日14時05分現在）" in out.body  # observed 05:05 UTC = 14:05 JST
    assert "対象地域：大山地区" in out.body
    assert "危険な場所にいる人は全員、すぐに避難してください。" in out.body
    assert "1. 朝暘第一小学校（約1.2km、空いています）" in out.body
    assert "詳しくは：" + RESIDENT_URL in out.body
    assert out.urgency == "high"


def test_forecast_says_when():
    msg = message(kind=Kind.forecast, response=Response.prepare, eta=datetime(2026, 9, 1, 6, 30, tzinfo=UTC))
    assert "9月1日15時30分ごろ氾濫危険水位に達する見込みです" in rendered(msg, "ja").body
    assert "around 15:30 on 1 September" in rendered(msg, "en").body
    assert "もうすぐ" in rendered(message(kind=Kind.forecast, response=Response.prepare), "ja-easy").body


def test_cancel_carries_the_reason_and_no_shelters():
    msg = message(msg_type=MsgType.cancel, response=Response.none, ended=True, note="センサーの故障")
    out = rendered(msg, "ja")
    assert "理由：センサーの故障" in out.body
    assert "避難は必要ありません" in out.body
    assert out.urgency == "normal"


@pytest.mark.parametrize("status", [Status.exercise, Status.test])
def test_drills_are_labelled_everywhere(status):
    msg = message(status=status)
    mark = {
        Status.exercise: ("【訓練】", "[EXERCISE]", "訓練です"),
        Status.test: ("【テスト】", "[TEST]", "テストです"),
    }
    ja, en, spoken = mark[status]
    for channel in Channel:
        out = rendered(msg, "ja", channel)
        assert out.exercise
        assert out.title.startswith(ja)
        assert (spoken if channel in (Channel.voice, Channel.radio) else ja) in out.body
        assert out.speech_text.startswith(spoken.replace("です", "")) or spoken in out.speech_text
        assert out.short_text.startswith(ja)
        assert rendered(msg, "en", channel).title.startswith(en)


def test_staff_only_kinds_are_not_rendered_for_residents():
    for kind in (Kind.sensor, Kind.offline, Kind.unverified):
        with pytest.raises(NotForResidents):
            rendered(message(kind=kind), "ja")


def test_speech_has_no_symbols_or_urls_and_reads_numbers():
    for lang in LANGUAGES:
        speech = rendered(message(), lang, "voice").body
        assert "http" not in speech and "【" not in speech and "（" not in speech and "(" not in speech
        assert not re.search(r"\d\s?k?m\b", speech)
    assert "3.25メートル" in rendered(message(), "ja", "voice").body
    assert "14時5分" in rendered(message(), "ja", "voice").body
    assert "3.25 metres at 14:05" in rendered(message(), "en", "voice").body


def test_topic_is_one_per_alert_and_valid_for_rfc_8030():
    first, later, other = message(version=1), message(version=3), message(alert_id=99)
    assert alert_topic(first) == alert_topic(later) != alert_topic(other)
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,32}", alert_topic(first))


# --- fitting --------------------------------------------------------------------------------


def many_shelters(n: int, name_length: int = 60) -> tuple[Shelter, ...]:
    return tuple(
        Shelter("避" * name_length + str(i), "S" * name_length, 100.0 * i, "vacant") for i in range(n)
    )


def test_webpush_payload_fits_dropping_the_farthest_shelters_first():
    out = rendered(message(), "ja", "webpush", shelters=many_shelters(40))
    payload = push_payload(out)
    assert len(payload) <= WEB_PUSH_PAYLOAD_MAX
    assert json.loads(payload)["body"] == out.body
    assert "すぐに避難してください" in out.body
    assert "1. " + "避" * 60 + "0" in out.body  # the nearest stays
    assert "40. " not in out.body


def test_line_text_fits_5000_characters():
    out = rendered(message(note="x"), "ja", "line", shelters=many_shelters(200, 75))
    assert utf16_units(out.body) <= LINE_TEXT_MAX
    assert out.body.endswith(UNSUBSCRIBE_URL)
    assert "すぐに避難してください" in out.body


def test_sms_short_form():
    out = rendered(message(), "ja", "sms")
    assert out.body == out.short_text
    assert utf16_units(out.body) <= SMS_MAX
    assert out.body.startswith("警戒レベル4「避難指示」 赤川（熊出） 危険な場所にいる人は全員")
    assert out.body.endswith("配信停止：" + UNSUBSCRIBE_URL)


@given(st.text(min_size=0, max_size=300), st.integers(min_value=1, max_value=400))
def test_truncate_never_cuts_inside_a_character(text, budget):
    def fits(t: str) -> bool:
        return len(t.encode("utf-8")) <= budget

    try:
        out = truncate(text, fits)
    except ValueError:
        assert budget < len("…".encode())
        return
    assert fits(out)
    assert out == text or out == "…" or (out.endswith("…") and text.startswith(out[:-1].rstrip()))
    out.encode("utf-8")  # no lone surrogates


# --- property: any valid message renders everywhere within limits -------------------------

names = st.text(min_size=0, max_size=400)
when = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))


@st.composite
def alert_messages(draw) -> AlertMessage:
    kind = draw(st.sampled_from([Kind.stage, Kind.forecast]))
    msg_type = draw(st.sampled_from(MsgType))
    level = draw(st.none() | st.integers(1, 5))
    cancelled = msg_type is MsgType.cancel
    ended = cancelled or draw(st.booleans())
    return AlertMessage(
        identifier=draw(st.text(min_size=1, max_size=80)),
        sender=draw(st.text(min_size=1, max_size=40)),
        sent=draw(when),
        status=draw(st.sampled_from(Status)),
        msg_type=msg_type,
        alert_id=draw(st.integers(1, 2**31)),
        version=draw(st.integers(1, 1000)),
        kind=kind,
        station=StationFacts(
            id="s",
            name_ja=draw(names),
            name_en=draw(names),
            river_ja=draw(names),
            river_en=draw(names),
            latitude=35.0,
            longitude=139.0,
        ),
        alert_level=level,
        stage=draw(
            st.none()
            | st.builds(StageFacts, key=st.just("k"), name_ja=names, name_en=names, level_m=st.floats(-5, 50))
        ),
        response=response_for(kind, level, ended=ended, cancelled=cancelled),
        ended=ended,
        level_m=draw(st.none() | st.floats(-1e6, 1e6)),
        observed_at=draw(st.none() | when),
        rate_m_h=draw(st.none() | st.floats(-1e3, 1e3)),
        eta=draw(st.none() | when.map(lambda t: t + timedelta(minutes=30))),
        areas=tuple(
            AreaFacts(id=str(i), name_ja=n, name_en=n, geometry={})
            for i, n in enumerate(draw(st.lists(names, max_size=30)))
        ),
        note=draw(st.text(max_size=3000)),
    )


shelter_lists = st.lists(
    st.builds(
        Shelter,
        name_ja=names,
        name_en=names,
        distance_m=st.floats(0, 1e6),
        crowding=st.sampled_from(["vacant", "somewhat_crowded", "crowded", "full", "unknown", "odd"]),
    ),
    max_size=25,
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(alert_messages(), shelter_lists, st.sampled_from(LANGUAGES), st.booleans())
def test_any_message_renders_in_every_language_within_every_channel_limit(msg, shelters, lang, with_url):
    url = RESIDENT_URL if with_url else None
    action = words(lang)[_action_key(msg)]
    for channel in Channel:
        out = render(
            msg,
            language=lang,
            channel=channel,
            shelters=shelters,
            resident_url=url,
            unsubscribe_url=UNSUBSCRIBE_URL,
        )
        assert out.title and out.body
        assert utf16_units(out.short_text) <= SMS_MAX and UNSUBSCRIBE_URL in out.short_text
        assert not re.search(r"(?i)\b(?:https?|mailto|tel):", out.speech_text)  # no URL is read out
        assert not set(out.speech_text) & set("【】「」（）()<>{}")
        assert set(out.speech_text) <= set(string.printable) | {c for c in out.speech_text if ord(c) > 127}
        if channel is Channel.webpush:
            assert len(push_payload(out)) <= WEB_PUSH_PAYLOAD_MAX
        if channel is Channel.line:
            assert utf16_units(out.body) <= LINE_TEXT_MAX and out.body.endswith(UNSUBSCRIBE_URL)
        if channel in (Channel.line, Channel.email, Channel.fax):
            assert UNSUBSCRIBE_URL in out.body
        if channel in (Channel.line, Channel.webpush, Channel.email, Channel.fax):
            assert action in out.body  # what to do is never dropped
        assert UNSUBSCRIBE_URL not in repr(out)
        out.body.encode("utf-8")


def test_shelters_from_a_recommendation():
    from kawamori.model import Hazard
    from shelters.recommend import ShelterIndex
    from tests.shelters.conftest import make_state

    index = ShelterIndex(
        [
            make_state("near", latitude=38.771, longitude=139.88, occupancy=70),
            make_state("far", latitude=38.8, longitude=139.88),
        ],
        [],
    )
    chosen = shelters_from(index.recommend(latitude=38.77, longitude=139.88, hazard=Hazard.flood, k=2))
    assert [s.crowding for s in chosen] == ["crowded", "vacant"]
    assert chosen[0].distance_m < chosen[1].distance_m
    out = rendered(message(), "en", shelters=chosen)
    assert "(about 0.1 km, crowded)" in out.body


def test_email_and_fax_bodies_start_with_the_title():
    for channel in ("email", "fax"):
        out = rendered(message(), "ja", channel)
        assert out.body.startswith(out.title)
