"""Spoken alerts: text written for speech (:func:`notify.render.speakable`: no URLs, no
symbols) turned into WAV audio by open engines from Debian's packages — Open JTalk with
the HTS voice "NIT ATR503 M001" and the NAIST dictionary for Japanese (``ja``,
``ja-easy``), eSpeak NG for English. No network service is involved.

The engines run as subprocesses with a timeout; a missing engine or a failure raises
:class:`VoiceError` (the page then simply has no audio; text is never lost). Results are
kept in a small in-memory cache keyed by (language, text).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from notify.errors import NotifyError

OPEN_JTALK_DICT = Path("/var/lib/mecab/dic/open-jtalk/naist-jdic")
HTS_VOICE = Path("/usr/share/hts-voice/nitech-jp-atr503-m001/nitech_jp_atr503_m001.htsvoice")
SAMPLE_RATE = 16_000  # telephone and radio quality; the frame period follows (5 ms: rate // 200)
MAX_CHARS = 2_000
TIMEOUT_S = 60


class VoiceError(NotifyError):
    """No engine for the language, or the engine failed."""


@dataclass(frozen=True, slots=True)
class Engines:
    """Where the engines are (found on PATH and at Debian's paths by default)."""

    open_jtalk: str | None = shutil.which("open_jtalk")
    espeak: str | None = shutil.which("espeak-ng")
    dictionary: Path = OPEN_JTALK_DICT
    voice: Path = HTS_VOICE

    def available(self, language: str) -> bool:
        if language == "en":
            return self.espeak is not None
        return self.open_jtalk is not None and self.dictionary.is_dir() and self.voice.is_file()


def _run(command: list[str], *, text: str | None = None) -> None:
    try:
        done = subprocess.run(
            command,
            input=text.encode("utf-8") if text is not None else None,
            capture_output=True,
            timeout=TIMEOUT_S,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise VoiceError(f"{Path(command[0]).name}: {type(error).__name__}") from None
    if done.returncode != 0:
        raise VoiceError(f"{Path(command[0]).name} exited with {done.returncode}")


def synthesize(text: str, language: str, *, engines: Engines | None = None) -> bytes:
    """``text`` (already written for speech) spoken in ``language`` as a WAV file."""
    engines = engines or Engines()
    text = " ".join(text.split())[:MAX_CHARS]
    if not text:
        raise VoiceError("nothing to say")
    if not engines.available(language):
        raise VoiceError(f"no speech engine for {language!r} is installed")
    with tempfile.TemporaryDirectory(prefix="kawamori-voice-") as folder:
        out = Path(folder) / "speech.wav"
        if language == "en":
            _run([engines.espeak, "-v", "en-gb", "-s", "150", "-w", str(out), "--stdin"], text=text)
        else:
            source = Path(folder) / "text.txt"
            source.write_text(text, encoding="utf-8")
            _run(
                [
                    engines.open_jtalk, "-x", str(engines.dictionary), "-m", str(engines.voice),
                    "-s", str(SAMPLE_RATE), "-p", str(SAMPLE_RATE // 200), "-r", "1.0",
                    "-ow", str(out), str(source),
                ]
            )  # fmt: skip
        audio = out.read_bytes() if out.exists() else b""
    if len(audio) <= 44:
        raise VoiceError("the engine produced no audio")
    return audio


class SpeechCache:
    """The last ``size`` spoken texts, per language (an alert is spoken the same for everyone)."""

    def __init__(self, size: int = 64, engines: Engines | None = None) -> None:
        self.size = size
        self.engines = engines
        self._items: OrderedDict[tuple[str, str], bytes] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, text: str, language: str) -> bytes:
        key = (language, text)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        audio = synthesize(text, language, engines=self.engines)
        with self._lock:
            self._items[key] = audio
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return audio
