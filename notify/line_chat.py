"""Chatting with a resident on LINE, beyond the push API and the webhook events of
:mod:`notify.channels.line`: the text messages of a webhook, the language a text
names, and replies with quick-reply buttons (LINE Messaging API: a message's
``quickReply.items``, each a message action that sends its ``text`` when tapped; up to
13 buttons, labels up to 20 characters, shown under the last message of a reply).
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Sequence

from notify.channels.base import Outcome, Result, classify
from notify.channels.http import Http, Request, TransportError, json_bytes
from notify.channels.line import PROVIDER, REPLY_PATH

MAX_MESSAGES = 5  # per reply
LABEL_MAX = 20
TEXT_MAX = 100  # a language word is short: longer texts are not read

# what a resident may send to choose a language (compared without spaces, NFKC, lower case)
LANGUAGE_WORDS = {
    **dict.fromkeys(("日本語", "にほんご", "にっぽんご", "japanese", "nihongo"), "ja"),
    **dict.fromkeys(("english", "英語", "えいご", "eigo"), "en"),
    **dict.fromkeys(
        ("やさしい日本語", "やさしいにほんご", "易しい日本語", "優しい日本語", "easyjapanese"), "ja-easy"
    ),
}


def language_named(text: str) -> str | None:
    """The language a message names (``"English"``, ``"英語"``, ``"やさしい にほんご"``, …),
    or ``None``."""
    word = re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).strip("。.!！").lower()
    return LANGUAGE_WORDS.get(word)


def message_texts(body: bytes) -> dict[str, str]:
    """``{webhookEventId: text}`` of the text messages in a webhook body. Read only a body
    whose signature :func:`notify.channels.line.parse_webhook` has checked."""
    try:
        data = json.loads(body)
    except ValueError:
        return {}
    events = data.get("events") if isinstance(data, dict) else None
    texts = {}
    for event in events or ():
        message = event.get("message") if isinstance(event, dict) else None
        if (
            isinstance(message, dict)
            and event.get("type") == "message"
            and message.get("type") == "text"
            and isinstance(message.get("text"), str)
            and len(message["text"]) <= TEXT_MAX
            and isinstance(event.get("webhookEventId"), str)
        ):
            texts[event["webhookEventId"]] = message["text"]
    return texts


def reply(
    http: Http,
    *,
    base_url: str,
    access_token: str,
    reply_token: str,
    texts: list[str],
    buttons: Sequence[str] = (),
    location_button: str | None = None,
) -> Result:
    """Answer a webhook event with up to five text messages; ``buttons`` become quick-reply
    buttons under the last one, each sending its own label. Reply tokens are free of the
    monthly push quota and valid for a short time only: never retried. ``location_button``
    adds a button that opens LINE's location picker. ``http`` is the
    notifiers' client (libcurl: no proxy from the environment, no redirects)."""
    messages: list[dict] = [{"type": "text", "text": t} for t in texts[:MAX_MESSAGES]]
    if buttons and messages:
        messages[-1]["quickReply"] = {
            "items": [
                {"type": "action", "action": {"type": "message", "label": b[:LABEL_MAX], "text": b}}
                for b in buttons
            ]
        }
    if location_button and messages:  # opens LINE's own location picker
        items = messages[-1].setdefault("quickReply", {"items": []})["items"]
        items.append({"type": "action", "action": {"type": "location", "label": location_button[:LABEL_MAX]}})
    request = Request(
        f"{base_url.rstrip('/')}{REPLY_PATH}",
        json_bytes({"replyToken": reply_token, "messages": messages}),
        {"Authorization": f"Bearer {access_token}", "Content-Type": "application/json"},
    )
    try:
        response = http.post(request)
    except TransportError as error:
        return Result(Outcome.retry, PROVIDER, detail=str(error))
    return classify(PROVIDER, response.status, response.headers)
