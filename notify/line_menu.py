"""The LINE rich menu (the buttons under the chat): 安否の報告 (check-in), 救助を頼む
(rescue request), マイ・タイムライン and 近くの避難所 (nearest shelter), one menu per
language. The first three open the resident pages in the user's language; the fourth
sends a word the webhook answers with a button to send one's location.

``kawamori notify line-menu`` creates the three menus (LINE Messaging API: create, upload
the image, name it with an alias ``kawamori-<language>``) and makes the Japanese one the
default; the webhook links a user to their language's menu when they choose one. The
image is drawn here with Pillow and a Japanese font (fonts-noto-cjk), or a city's own
designed image is given (2500 × 843, PNG or JPEG).
"""

from __future__ import annotations

import io
import json
import subprocess
from collections.abc import Callable
from urllib.parse import quote

from notify.channels.http import Http, Request, TransportError
from notify.errors import NotifyError

LANGUAGES = ("ja", "ja-easy", "en")
WIDTH, HEIGHT = 2500, 843
KEYS = ("safety", "rescue", "timeline", "shelter")
WORDS = {
    "ja": {
        "safety": "安否を報告", "rescue": "救助を頼む", "timeline": "マイ・タイムライン",
        "shelter": "近くの避難所", "bar": "メニュー",
    },
    "ja-easy": {
        "safety": "ぶじです", "rescue": "たすけて", "timeline": "わたしの けいかく",
        "shelter": "ひなんじょ", "bar": "メニュー",
    },
    "en": {"safety": "I'm safe", "rescue": "Help us", "timeline": "My timeline", "shelter": "Nearest shelter",
           "bar": "Menu"},
}  # fmt: skip
SYMBOLS = {"safety": "○", "rescue": "SOS", "timeline": "≡", "shelter": ""}  # the shelter: a house, drawn
COLOURS = {"safety": (11, 61, 92), "rescue": (122, 0, 18), "timeline": (40, 40, 40), "shelter": (11, 93, 30)}


class MenuError(NotifyError):
    """The LINE platform refused a step of creating the rich menus."""


def alias(language: str) -> str:
    return f"kawamori-{language}"


def shelter_word(text: str) -> str | None:
    """The language whose "nearest shelter" word ``text`` is (what the menu sends)."""
    for language, words in WORDS.items():
        if text.strip() == words["shelter"]:
            return language
    return None


def rich_menu(language: str, public_url: str) -> dict:
    """The menu of ``language``: four equal areas side by side."""
    words = WORDS[language]
    pages = {
        "safety": f"/r/safety?lang={language}",
        "rescue": f"/r/safety?kind=help&lang={language}",
        "timeline": f"/r/timeline?lang={language}",
    }
    column = WIDTH // len(KEYS)
    areas = []
    for i, key in enumerate(KEYS):
        if key in pages:
            action = {"type": "uri", "label": words[key][:20], "uri": public_url.rstrip("/") + pages[key]}
        else:
            action = {"type": "message", "label": words[key][:20], "text": words[key]}
        areas.append(
            {"bounds": {"x": i * column, "y": 0, "width": column, "height": HEIGHT}, "action": action}
        )
    return {
        "size": {"width": WIDTH, "height": HEIGHT},
        "selected": True,
        "name": alias(language),
        "chatBarText": words["bar"],
        "areas": areas,
    }


def find_font() -> str | None:
    try:
        found = subprocess.run(
            ["fc-match", "-f", "%{file}", "Noto Sans CJK JP:bold"], capture_output=True, text=True, timeout=10
        )
    except OSError:
        return None
    path = found.stdout.strip()
    return path if found.returncode == 0 and path else None


def menu_image(language: str, font_path: str | None = None) -> bytes:
    """The menu's picture: four coloured tiles, each a symbol and its words in white (every
    tile has words: never colour alone)."""
    from PIL import Image, ImageDraw, ImageFont

    font_path = font_path or find_font()
    if not font_path:
        raise MenuError("no Japanese font: install fonts-noto-cjk or give --image")
    image = Image.new("RGB", (WIDTH, HEIGHT), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    column = WIDTH // len(KEYS)
    big, text = ImageFont.truetype(font_path, 220), ImageFont.truetype(font_path, 92)
    for i, key in enumerate(KEYS):
        left = i * column
        draw.rectangle((left + 12, 12, left + column - 12, HEIGHT - 12), fill=COLOURS[key])
        centre = left + column / 2
        if SYMBOLS[key]:
            draw.text((centre, 300), SYMBOLS[key], font=big, fill=(255, 255, 255), anchor="mm")
        else:  # a house: roof and walls
            draw.polygon([(centre - 150, 300), (centre, 170), (centre + 150, 300)], fill=(255, 255, 255))
            draw.rectangle((centre - 110, 300, centre + 110, 430), fill=(255, 255, 255))
            draw.rectangle((centre - 30, 350, centre + 30, 430), fill=COLOURS[key])
        words = WORDS[language][key]
        size = 92
        while size > 40 and draw.textlength(words, font=text) > column - 80:
            size -= 6
            text = ImageFont.truetype(font_path, size)
        draw.text((centre, 620), words, font=text, fill=(255, 255, 255), anchor="mm")
        text = ImageFont.truetype(font_path, 92)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def data_url_of(api_url: str) -> str:
    """LINE uploads images to another host (api-data.line.me); a test platform is one host."""
    return "https://api-data.line.me" if api_url.rstrip("/") == "https://api.line.me" else api_url.rstrip("/")


def create_menus(
    http: Http,
    *,
    api_url: str,
    access_token: str,
    public_url: str,
    image: Callable[[str], bytes] = menu_image,
) -> dict[str, str]:
    """Create the three menus, their images and aliases, and make Japanese the default;
    ``{language: richMenuId}``. ``http`` (libcurl) follows no redirects and reads no
    proxy settings."""
    auth = {"Authorization": f"Bearer {access_token}"}
    base, data = api_url.rstrip("/"), data_url_of(api_url)

    def call(url: str, *, json_body: dict | None = None, content: bytes | None = None) -> dict:
        if content is not None:
            headers = {**auth, "Content-Type": "image/png"}
        elif json_body is not None:
            headers, content = {**auth, "Content-Type": "application/json"}, json.dumps(json_body).encode()
        else:
            headers, content = auth, b""
        try:
            response, body = http.call(Request(url, content, headers))
        except TransportError as error:
            raise MenuError(f"LINE could not be reached: {error}") from None
        if not 200 <= response.status < 300:
            raise MenuError(f"LINE answered {response.status} to {url.split('/v2/', 1)[-1]}")
        try:
            return json.loads(body) if body else {}
        except ValueError:
            raise MenuError(f"LINE answered {url.split('/v2/', 1)[-1]} with no JSON") from None

    made = {}
    for language in LANGUAGES:
        menu_id = call(f"{base}/v2/bot/richmenu", json_body=rich_menu(language, public_url))["richMenuId"]
        call(f"{data}/v2/bot/richmenu/{quote(menu_id)}/content", content=image(language))
        call(
            f"{base}/v2/bot/richmenu/alias",
            json_body={"richMenuAliasId": alias(language), "richMenuId": menu_id},
        )
        made[language] = menu_id
    call(f"{base}/v2/bot/user/all/richmenu/{quote(made['ja'])}")
    return made


def link_user(http: Http, *, api_url: str, access_token: str, user: str, language: str) -> bool:
    """Show ``user`` the menu of ``language`` (found by its alias); False when there is none
    or LINE cannot be reached (the user keeps the menu they had)."""
    auth = {"Authorization": f"Bearer {access_token}"}
    base = api_url.rstrip("/")
    try:
        found, body = http.call(
            Request(f"{base}/v2/bot/richmenu/alias/{alias(language)}", b"", auth), method="GET"
        )
        if found.status != 200:
            return False
        menu_id = json.loads(body)["richMenuId"]
        linked = http.post(Request(f"{base}/v2/bot/user/{quote(user)}/richmenu/{quote(menu_id)}", b"", auth))
    except (TransportError, ValueError, KeyError, TypeError):
        return False
    return 200 <= linked.status < 300


def link_users(*, api_url: str, access_token: str, choices: list[tuple[str, str]]) -> int:
    """:func:`link_user` for each ``(user, language)``; how many were not linked. The client
    reads no proxy settings from the environment and follows no redirects."""
    http = Http(timeout=10)
    try:
        return sum(
            not link_user(http, api_url=api_url, access_token=access_token, user=user, language=language)
            for user, language in choices
        )
    finally:
        http.close()
