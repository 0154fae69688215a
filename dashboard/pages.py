"""Server-rendered pages: the template environment, the reader's language and the
security headers of the staff pages."""

from __future__ import annotations

from pathlib import Path

from fastapi import Request
from fastapi.templating import Jinja2Templates

from kawamori import texts

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
LANGUAGES = ("ja", "en")
LANG_COOKIE = "kawamori_lang"  # set by the pages' language buttons; not a secret


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
