"""Server-rendered pages: the template environment, the reader's language and the
security headers of the staff pages. Templates read the text catalogue through three
globals: ``say(key, lang)``, ``console_words(page, lang)`` (a server-rendered staff
page's words) and ``page_texts(page)``, a staff script's words (``console.<page>``) in
every language as JSON for ``<script type="application/json" id="texts">``
(``static/texts.js`` reads it)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from fastapi import Request
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from kawamori import texts

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
LANGUAGES = ("ja", "en")
LANG_COOKIE = "kawamori_lang"  # set by the pages' language buttons; not a secret


@cache
def page_texts(page: str) -> Markup:
    """The words of a staff page's script in every language, as JSON safe inside a
    ``<script>`` element (the page switches language without a request, offline too)."""
    words = {lang: texts.tree(lang)["console"][page] for lang in texts.LANGUAGES}
    return Markup(json.dumps(words, ensure_ascii=False).replace("</", "<\\/"))


def console_words(page: str, lang: str) -> dict:
    """A staff page's words in one language, for a page rendered on the server."""
    return texts.tree(texts.pick(lang))["console"][page]


templates.env.globals.update(say=texts.say, page_texts=page_texts, console_words=console_words)


def language(request: Request, asked: str | None = None, *, offered=LANGUAGES) -> str:
    """``?lang=`` (or a form field), then the language cookie, then Accept-Language, then
    ja; ``offered``: the page's languages (the resident pages add ja-easy)."""
    for candidate in (asked, request.cookies.get(LANG_COOKIE)):
        if candidate in offered:
            return candidate
    return texts.pick(request.headers.get("accept-language"), offered=offered)


def secure_headers(
    *, service_worker: bool = False, referrer: str = "same-origin", images: str = "", styles: str = ""
) -> dict[str, str]:
    """Only this site's scripts and styles, never framed, never cached (staff pages; the
    resident pages add their service worker and send no Referer; the map its tiles)."""
    return {
        "Content-Security-Policy": f"default-src 'self'; img-src 'self' data: {images}".rstrip()
        + "; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
        + (f"; style-src 'self' {styles}" if styles else "")
        + ("; worker-src 'self'" if service_worker else ""),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": referrer,
        "Cache-Control": "no-store",
    }
