"""The LINE rich menu against a local LINE platform: the three menus created with their
images and aliases (Japanese the default); with real signed webhooks, the menu's words
answered in the resident's language, the nearest shelters after a location, and the
menu of a language linked to the user who chose it."""

from __future__ import annotations

import io
import json

import httpx
import pytest
from PIL import Image
from typer.testing import CliRunner

from dashboard.main import create_app
from dashboard.routers.residents import ResidentConfig
from kawamori_app.cli import app as cli
from notify import line_menu
from tests.dashboard.conftest import LINE_SECRET
from tests.dashboard.test_line_webhook import line_event, location, post_line, said
from tests.helpers import serve, wait_for
from tests.notify.peers import Answer, http_peer
from tests.notify.subscribers import IN_UPPER, NOW, line_user, new_key

PUBLIC = "https://bousai.example.jp"


def platform(request) -> Answer:
    """LINE's API as far as these tests need it."""
    json_headers = {"Content-Type": "application/json"}
    if request.path == "/v2/bot/richmenu":
        name = json.loads(request.body)["name"]
        return Answer(200, json_headers, json.dumps({"richMenuId": f"richmenu-{name}"}).encode())
    if request.path.startswith("/v2/bot/richmenu/alias/"):
        return Answer(
            200,
            json_headers,
            json.dumps({"richMenuId": "richmenu-" + request.path.rsplit("/", 1)[1]}).encode(),
        )
    return Answer(200, json_headers, b"{}")


@pytest.fixture
def line_platform():
    with http_peer(platform) as peer:
        yield peer


def test_three_menus_with_images_aliases_and_a_default(line_platform, tmp_path):
    env = {
        "KAWAMORI_LINE_CHANNEL_ACCESS_TOKEN": "token",
        "KAWAMORI_LINE_CHANNEL_SECRET": "secret",
        "KAWAMORI_LINE_API_BASE_URL": line_platform.url,
        "KAWAMORI_PUBLIC_URL": PUBLIC,
        "KAWAMORI_DATA_DIR": str(tmp_path),
    }
    made = CliRunner().invoke(cli, ["notify", "line-menu"], env=env)
    assert made.exit_code == 0, made.output
    paths = [r.path for r in line_platform.requests]
    assert (
        paths.count("/v2/bot/richmenu") == 3 and paths[-1] == "/v2/bot/user/all/richmenu/richmenu-kawamori-ja"
    )
    menus = [json.loads(r.body) for r in line_platform.requests if r.path == "/v2/bot/richmenu"]
    english = next(m for m in menus if m["name"] == "kawamori-en")
    actions = [a["action"] for a in english["areas"]]
    assert [a.get("uri") for a in actions[:3]] == [
        f"{PUBLIC}/r/safety?lang=en",
        f"{PUBLIC}/r/safety?kind=help&lang=en",
        f"{PUBLIC}/r/timeline?lang=en",
    ]
    assert actions[3] == {"type": "message", "label": "Nearest shelter", "text": "Nearest shelter"}
    images = [r for r in line_platform.requests if r.path.endswith("/content")]
    assert len(images) == 3 and all(r.headers["authorization"] == "Bearer token" for r in images)
    assert Image.open(io.BytesIO(images[0].body)).size == (line_menu.WIDTH, line_menu.HEIGHT)
    aliases = [
        json.loads(r.body)["richMenuAliasId"] for r in line_platform.requests if r.path.endswith("/alias")
    ]
    assert aliases == ["kawamori-ja", "kawamori-ja-easy", "kawamori-en"]


def test_a_refusing_platform_is_a_clear_error(tmp_path):
    with http_peer(lambda request: Answer(401, {}, b"{}")) as peer:
        env = {"KAWAMORI_LINE_CHANNEL_ACCESS_TOKEN": "bad", "KAWAMORI_LINE_CHANNEL_SECRET": "secret",
               "KAWAMORI_LINE_API_BASE_URL": peer.url, "KAWAMORI_PUBLIC_URL": PUBLIC,
               "KAWAMORI_DATA_DIR": str(tmp_path)}  # fmt: skip
        made = CliRunner().invoke(cli, ["notify", "line-menu"], env=env)
    assert made.exit_code == 2 and "LINE answered 401" in made.output


@pytest.fixture
def client(demo_db, line_platform):
    config = ResidentConfig(
        key=new_key(),
        line_channel_secret=LINE_SECRET,
        line_access_token="line-token",
        line_api_base_url=line_platform.url,
    )
    app = create_app(demo_db, clock=lambda: NOW, public_url=PUBLIC, residents_config=config)
    with serve(app) as base, httpx.Client(base_url=base, timeout=10) as http:
        yield http


def replies(peer, event_id: str) -> list[dict]:
    def found():
        bodies = (json.loads(r.body) for r in peer.requests if r.path == "/v2/bot/message/reply")
        return next((b for b in bodies if b["replyToken"] == f"reply-{event_id}"), None)

    return wait_for(found)["messages"]


def test_menu_words_are_answered_in_the_residents_language(client, line_platform, demo_db):
    from kawamori import db

    with db.connect(demo_db) as conn:
        conn.execute("UPDATE shelters SET status = 'open' WHERE id = 'demo-haguro-gym'")
    user = line_user(31)
    post_line(client, [line_event("message", user, "M1", **said("近くの避難所"))])
    (asked,) = replies(line_platform, "M1")
    assert "位置情報" in asked["text"]
    assert asked["quickReply"]["items"][-1]["action"] == {"type": "location", "label": "位置情報を送る"}

    # the resident chooses English: its menu is linked, and answers come in English
    post_line(client, [line_event("message", user, "M2", **said("English"))])
    wait_for(
        lambda: any(
            r.path == f"/v2/bot/user/{user}/richmenu/richmenu-kawamori-en" for r in line_platform.requests
        )
    )
    post_line(client, [line_event("message", user, "M3", **location(*IN_UPPER))])
    registered, shelters = replies(line_platform, "M3")
    assert registered["text"].startswith("Registered") or "Upper Kyoden" in registered["text"]
    assert (
        shelters["text"].startswith("Open shelters nearby:") or "no open shelter" in shelters["text"].lower()
    )
    post_line(
        client, [line_event("message", user, "M4", **said("近くの避難所"))]
    )  # a Japanese word, an English user
    assert "Send location" in json.dumps(replies(line_platform, "M4"))
    post_line(client, [line_event("message", user, "M5", **said("Help us"))])
    (rescue,) = replies(line_platform, "M5")
    assert f"{PUBLIC}/r/safety?kind=help&lang=en" in rescue["text"] and "119" in rescue["text"]
