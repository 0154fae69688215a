"""Every message that asks people to act links the check-in and rescue page (issue 18);
an all-clear does not."""

from __future__ import annotations

import pytest

from notify.render import Channel, render
from tests.notify.factories import RESIDENT_URL, UNSUBSCRIBE_URL, message


@pytest.mark.parametrize(
    ("language", "words"),
    [("ja", "無事の報告・救助の要請："), ("en", "I'm safe / Help us: "), ("ja-easy", "ぶじです・たすけて：")],
)
@pytest.mark.parametrize("channel", [Channel.line, Channel.email, Channel.webpush])
def test_act_now_messages_link_the_check_in_page(language, words, channel):
    out = render(message(level=4), language=language, channel=channel, resident_url=RESIDENT_URL,
                 unsubscribe_url=UNSUBSCRIBE_URL)  # fmt: skip
    if channel is not Channel.webpush:  # a push opens the resident page, which links it
        assert f"{words}https://bousai.example.jp/r/safety?lang={language}" in out.body
    assert "safety" not in out.speech_text
    ended = render(message(level=4, ended=True), language=language, channel=channel,
                   resident_url=RESIDENT_URL, unsubscribe_url=UNSUBSCRIBE_URL)  # fmt: skip
    assert "/r/safety" not in ended.body
