"""The residents' help page: one language per page with a switcher, never the staff
section; the resident page links to the check-in and rescue page."""

from __future__ import annotations

from dashboard.routers.residents import HELP, help_section


def test_one_language_per_help_page(client):
    pages = {lang: client.get("/r/help", params={"lang": lang}).text for lang in ("ja", "en", "ja-easy")}
    assert "警戒レベルの意味" in pages["ja"] and "What the alert levels mean" not in pages["ja"]
    assert "What the alert levels mean" in pages["en"] and "警戒レベルの意味" not in pages["en"]
    assert "けいかいレベル" in pages["ja-easy"] and "What the alert levels mean" not in pages["ja-easy"]
    for page in pages.values():
        assert "kawamori rescue grant" not in page  # the staff section stays in the docs
        assert 'href="/r/help?lang=en"' in page and 'href="/r/help?lang=ja-easy"' in page
    assert "Saying &quot;I'm safe&quot;" in pages["en"] or 'Saying "I\'m safe"' in pages["en"]


def test_every_language_has_a_section():
    text = HELP.read_text(encoding="utf-8")
    sections = {lang: help_section(text, lang) for lang in ("ja", "en", "ja-easy")}
    assert len(set(sections.values())) == 3
    assert all("119" in section for section in sections.values())


def test_the_resident_page_links_to_check_in(client):
    for lang, words in (
        ("ja", "安否の報告・救助の要請"),
        ("en", "I'm safe / Help us"),
        ("ja-easy", "ぶじです・たすけて"),
    ):
        page = client.get("/r/", params={"lang": lang}).text
        assert f'href="/r/safety?lang={lang}"' in page and words in page.replace("&#39;", "'")
