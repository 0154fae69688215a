"""Spoken alerts with the real engines from Debian (Open JTalk + the NIT ATR503 voice,
eSpeak NG), checked with sox to be real speech: long enough, not silent; and the text
written for speech, which never reads out a URL or a symbol."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notify.channels.webhook import WebhookNotifier
from notify.render import Channel, render, speakable
from notify.voice import Engines, SpeechCache, VoiceError, synthesize
from tests.notify.factories import UNSUBSCRIBE_URL, delivery, message
from tests.notify.peers import http_peer
from tests.notify.test_webhook import PHONE, SECRET, Gateway


def measure(audio: bytes, tmp_path: Path) -> tuple[float, float, int]:
    """(seconds, RMS amplitude, sample rate) as sox reads the WAV."""
    path = tmp_path / "speech.wav"
    path.write_bytes(audio)
    seconds = float(
        subprocess.run(["soxi", "-D", str(path)], capture_output=True, text=True, check=True).stdout
    )
    rate = int(subprocess.run(["soxi", "-r", str(path)], capture_output=True, text=True, check=True).stdout)
    stat = subprocess.run(["sox", str(path), "-n", "stat"], capture_output=True, text=True, check=True).stderr
    rms = float(re.search(r"RMS\s+amplitude:\s+([\d.]+)", stat)[1])
    return seconds, rms, rate


@pytest.mark.parametrize("language", ["ja", "ja-easy", "en"])
def test_every_language_is_spoken_as_real_audio(language, tmp_path):
    rendered = render(
        message(level=4), language=language, channel=Channel.voice, unsubscribe_url=UNSUBSCRIBE_URL
    )
    audio = synthesize(rendered.speech_text, "en" if language == "en" else "ja")
    seconds, rms, rate = measure(audio, tmp_path)
    # a message of a few sentences: seconds of speech, clearly above silence
    assert seconds > 3 and rms > 0.01, (seconds, rms)
    assert rate in (16_000, 22_050)


def test_speaking_rate_is_natural(tmp_path):
    """Open JTalk at 16 kHz with the frame period to match: about 6–12 morae a second."""
    seconds, _, _ = measure(synthesize("けいかいれべるよん、ひなんしじです。", "ja"), tmp_path)
    assert 1.0 < seconds < 4.0, seconds  # 17 morae


def test_a_silent_or_missing_engine_is_an_error_never_a_silent_file(tmp_path):
    with pytest.raises(VoiceError, match="nothing"):
        synthesize("   ", "ja")
    missing = Engines(open_jtalk=None, espeak=None)
    with pytest.raises(VoiceError, match="no speech engine"):
        synthesize("テスト", "ja", engines=missing)
    broken = Engines(voice=tmp_path / "no-voice.htsvoice")
    with pytest.raises(VoiceError):
        synthesize("テスト", "ja", engines=broken)


def test_the_cache_speaks_each_text_once():
    cache = SpeechCache(size=2)
    first = cache("警戒レベル3です。", "ja")
    assert cache("警戒レベル3です。", "ja") is first


PIECES = [
    *"警戒レベル4避難指示ですabc 。、:/.-【】「」()<>*#@~^_=+&%$!?○△▲×※♪…",
    "https://x.jp/r?a=1",
    "tel:0235",
    "mailto:a@b.jp",
]


@given(st.lists(st.sampled_from(PIECES), max_size=30).map("".join))
def test_text_for_speech_never_reads_urls_or_symbols(text):
    said = speakable(text, "、")
    assert not re.search(r"(?i)(?:https?|mailto|tel):|//", said)
    assert not set(said) & set("【】「」()<>*#@~^_=+&%$!?○△▲×※♪…/")


def test_the_gateway_webhook_carries_the_audio_link():
    gateway = Gateway()
    with http_peer(gateway) as peer:
        notifier = WebhookNotifier(url=f"{peer.url}/kawamori", secret=SECRET, timeout=5)
        d = delivery("voice", PHONE, msg=message(alert_id=77, version=2), language="en")
        notifier.send(d)
    [body] = gateway.accepted
    assert body["audio_url"] == "https://bousai.example.jp/api/speech/77/2.wav?lang=en"
