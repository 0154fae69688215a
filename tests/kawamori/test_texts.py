"""The one text catalogue (kawamori/texts): every key in every language with the same
placeholders and no empty text, every key the code asks for by name exists, the files
are plain YAML, and the language picker always answers with a supported language."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from kawamori import texts

ROOT = Path(__file__).resolve().parents[2]

# Where code asks for a text by name: (files, the call, the section its keys are in).
# Python and templates name the whole key (say("cap.where", lang), or both("cap.where")
# for ja and en at once); a component's helper or a staff page names a key inside its
# section: t("sends", …) in a script, t.title in a template (t = console_words(…)),
# data-i18n="title" on an element.
SAY = r"""\b(?:say|both)\(\s*f?["'](\w+\.[\w.]+)["']"""
T_CALL, T_ATTR, I18N = r'\bt\(\s*"(\w+)"', r"\bt\.(\w+)", r'data-i18n="(\w+)"'
CALLS: list[tuple[str, str, str]] = [
    ("**/*.py", SAY, ""),
    ("dashboard/templates/*.html", SAY, ""),
    ("notify/render.py", r"""\bw\(\s*["']([\w.]+)["']""", "notify."),
    ("alerts/[dls]*.py", r"""\bsay\(\s*["']([a-z_]+)["']""", "audit.reason."),  # alerts.audit_texts.say
    ("shelters/static/staff.js", T_CALL, "shelters.staff_page."),
    *[(f"dashboard/static/{page}.js", T_CALL, f"console.{page}.") for page in ("alerts", "map", "review")],
    *[
        (f"dashboard/{path}", T_ATTR, f"console.{page}.")
        for path, page in [
            ("static/rescue.js", "rescue"),
            ("templates/rescue.html", "rescue"),
            ("templates/login.html", "signin"),
            ("templates/password.html", "signin"),
            ("templates/sensors.html", "sensors"),
            ("templates/review.html", "review"),
        ]
    ],
    *[
        (f"dashboard/{path}", I18N, f"console.{page}.")
        for path, page in [
            ("static/alerts.js", "alerts"),
            ("templates/alerts.html", "alerts"),
            ("templates/map.html", "map"),
        ]
    ],
]
SKIP = {".venv", "node_modules", "tests"}


def asked_for() -> dict[str, set[str]]:
    """Every key the code names literally, with the files that name it."""
    found: dict[str, set[str]] = {}
    for pattern, call, section in CALLS:
        for path in ROOT.glob(pattern):
            if SKIP & set(path.relative_to(ROOT).parts):
                continue
            for key in re.findall(call, path.read_text(encoding="utf-8")):
                if key.endswith("."):  # the start of an f-string key: say(f"cap.prefix.{…}")
                    continue
                found.setdefault(section + key, set()).add(str(path.relative_to(ROOT)))
    return found


def test_every_language_has_every_key():
    keys = [set(texts.catalogue(language)) for language in texts.LANGUAGES]
    assert keys[0] == keys[1] == keys[2]
    assert set(texts.tree("ja")) == set(texts.SECTIONS)
    assert len(keys[0]) > 700


@pytest.mark.parametrize("language", texts.LANGUAGES)
def test_no_text_is_empty(language):
    empty = [key for key, text in texts.catalogue(language).items() if not text.strip()]
    assert not empty, f"{language}: empty texts {empty}"


def test_every_language_uses_the_same_placeholders():
    ja, *others = (texts.catalogue(language) for language in texts.LANGUAGES)
    for key, text in ja.items():
        used = [texts.placeholders(text)] + [texts.placeholders(other[key]) for other in others]
        if key in texts.OWN_PLACEHOLDERS:
            assert all(names <= texts.OWN_PLACEHOLDERS[key] for names in used), (key, used)
        else:
            assert used[0] == used[1] == used[2], (key, used)


def test_the_exceptions_are_still_needed():
    for key in texts.OWN_PLACEHOLDERS:
        used = [texts.placeholders(texts.catalogue(language)[key]) for language in texts.LANGUAGES]
        assert len({frozenset(names) for names in used}) > 1, f"{key} is the same everywhere: drop it"


def test_every_key_the_code_asks_for_exists():
    found = asked_for()
    assert {"cap.where", "notify.confirm.body", "shelters.report.head", "console.alerts.sends"} <= set(found)
    assert {
        "console.rescue.title",
        "console.map.crossed",
        "notify.word.soon",
        "audit.reason.no_evidence",
        "console.review.line.reached",
    } <= set(found)
    known = set(texts.catalogue("ja"))
    groups = {key.rsplit(".", n)[0] for key in known for n in range(1, key.count("."))}  # t("levels")[4]
    missing = {key: sorted(files) for key, files in found.items() if key not in known | groups}
    assert not missing, missing


@pytest.mark.parametrize("language", texts.LANGUAGES)
def test_the_files_are_plain_yaml(language):
    tree = yaml.safe_load((texts.FOLDER / f"{language}.yaml").read_text(encoding="utf-8"))
    assert tree == texts.tree(language)


def test_easy_japanese_is_written_in_easy_japanese():
    """Short sentences; the console's words in やさしい日本語 are not the Japanese ones."""
    easy, ja = texts.catalogue("ja-easy"), texts.catalogue("ja")
    console = [key for key in easy if key.startswith("console.") and not key.endswith((".lang", ".other"))]
    same = [key for key in console if easy[key] == ja[key] and re.search("[一-龯]{2}", ja[key])]
    assert len(same) <= len(console) // 20, same
    for key in console:
        for sentence in re.split("[。！？]", re.sub(r"\{\w+\}", "", easy[key])):
            assert len(sentence) <= 80, (key, sentence)


def test_a_missing_key_is_refused_by_name(tmp_path, monkeypatch):
    for language in texts.LANGUAGES:
        source = (texts.FOLDER / f"{language}.yaml").read_text(encoding="utf-8")
        if language == "en":
            source = source.replace("    outro: End of message.\n", "")
        (tmp_path / f"{language}.yaml").write_text(source, encoding="utf-8")
    monkeypatch.setattr(texts, "FOLDER", tmp_path)
    texts.tree.cache_clear()
    try:
        with pytest.raises(texts.TextError, match=r"notify\.speech\.outro"):
            texts.tree("en")
        with pytest.raises(texts.TextError, match="no texts for language"):
            texts.tree("tlh")
    finally:
        texts.tree.cache_clear()


def test_say_fills_placeholders():
    assert texts.say("cap.where", "ja", river="赤川", station="熊出") == "赤川 熊出観測所"
    assert texts.say("cap.where", "en", river="Aka River", station="Kumaide") == "Aka River at Kumaide"
    with pytest.raises(KeyError):
        texts.say("cap.no_such_text", "ja")


def test_language_choice():
    assert texts.pick("ja_JP.UTF-8") == "ja" and texts.pick("ja-easy") == "ja-easy"
    assert texts.pick("en-GB,en;q=0.9") == "en" and texts.pick("EN_us") == "en"
    assert texts.pick("C.UTF-8") == "ja" and texts.pick(None, default="en") == "en"
    assert texts.pick("ja-easy", offered=("ja", "en")) == "ja"
    assert texts.pick("fr", offered=("ja", "en"), default="en") == "en"


def test_language_from_the_environment(monkeypatch):
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(name, raising=False)
    assert texts.from_environment() == "en"
    monkeypatch.setenv("LANG", "ja_JP.UTF-8")
    assert texts.from_environment() == "ja"
    monkeypatch.setenv("LC_ALL", "C")
    assert texts.from_environment() == "en"


OFFERED = st.lists(st.sampled_from(texts.LANGUAGES), min_size=1, unique=True)


@given(
    st.one_of(st.none(), st.text(), st.sampled_from(["ja", "JA-jp", "en_US.UTF-8", "ja-easy", "ｊａ"])),
    OFFERED,
)
def test_pick_always_answers_with_an_offered_language(choice, offered):
    default = offered[0]
    picked = texts.pick(choice, offered=offered, default=default)
    assert picked in offered
    if choice in offered:
        assert picked == choice
