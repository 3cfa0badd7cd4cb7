"""Request signing and real-shaped Slack payloads (Events API, slash commands,
interactivity) for tests.

Shapes follow what Slack actually sends (Events API envelope with
``authorizations``/``event_context``, app_mention with rich_text ``blocks``,
slash command form fields, ``block_actions`` payload sent as form field
``payload=<json>``).  Timestamps and ids are unique per process by default.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
import urllib.error
import urllib.request
import uuid
from urllib.parse import urlencode

__all__ = [
    "sign", "post_signed", "event_callback", "app_mention", "message", "slash_command", "form_body",
    "block_actions", "interaction_body", "assistant_thread_started", "next_ts", "rich_text_blocks",
    "app_home_opened", "feedback_click",
]

_ts_lock = threading.Lock()
_last_ts_us = 0


def next_ts() -> str:
    """A unique, increasing Slack-style ts from the wall clock ('1700000000.123456')."""
    global _last_ts_us
    with _ts_lock:
        _last_ts_us = max(int(time.time() * 1_000_000), _last_ts_us + 1)
        n = _last_ts_us
    return f"{n // 1_000_000}.{n % 1_000_000:06d}"


def _id(prefix: str, n: int = 10) -> str:
    return prefix + uuid.uuid4().hex[:n].upper()


# ------------------------------------------------------------------ signing

def sign(secret: str, body: bytes, timestamp: int | None = None) -> dict:
    ts = int(time.time()) if timestamp is None else int(timestamp)
    if isinstance(body, str):
        body = body.encode("utf-8")
    base = f"v0:{ts}:".encode("utf-8") + body
    sig = "v0=" + hmac.new(secret.encode("utf-8"), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": str(ts), "X-Slack-Signature": sig}


def post_signed(url: str, body: bytes, content_type: str, secret: str, timestamp: int | None = None,
                retry_num: int | None = None, retry_reason: str = "http_timeout", bad_signature: bool = False,
                timeout: float = 10) -> tuple[int, dict, bytes]:
    """POST like Slack does; returns (status, headers, body) also for 4xx/5xx."""
    if isinstance(body, str):
        body = body.encode("utf-8")
    headers = {"Content-Type": content_type, "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)"}
    headers.update(sign(secret, body, timestamp))
    if bad_signature:
        headers["X-Slack-Signature"] = "v0=" + "0" * 64
    if retry_num is not None:
        headers["X-Slack-Retry-Num"] = str(retry_num)
        headers["X-Slack-Retry-Reason"] = retry_reason
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def form_body(fields: dict) -> bytes:
    return urlencode({k: ("true" if v is True else "false" if v is False else v)
                      for k, v in fields.items() if v is not None}).encode("utf-8")


# ------------------------------------------------------------------ events

_TOKEN_RE = re.compile(r"<(@[UW][A-Z0-9]+|#C[A-Z0-9]+(?:\|[^>]*)?|!(?:here|channel|everyone)|[^>|]+(?:\|[^>]*)?)>")


def rich_text_blocks(text: str) -> list[dict]:
    """The rich_text block Slack attaches to a user's message for ``text``."""
    elements: list[dict] = []
    pos = 0
    for m in _TOKEN_RE.finditer(text):
        if m.start() > pos:
            elements.append({"type": "text", "text": text[pos:m.start()]})
        tok = m.group(1)
        if tok.startswith("@"):
            elements.append({"type": "user", "user_id": tok[1:]})
        elif tok.startswith("#"):
            elements.append({"type": "channel", "channel_id": tok[1:].split("|")[0]})
        elif tok.startswith("!"):
            elements.append({"type": "broadcast", "range": tok[1:]})
        else:
            url, _, label = tok.partition("|")
            el = {"type": "link", "url": url}
            if label:
                el["text"] = label
            elements.append(el)
        pos = m.end()
    if pos < len(text):
        elements.append({"type": "text", "text": text[pos:]})
    return [{"type": "rich_text", "block_id": uuid.uuid4().hex[:5],
             "elements": [{"type": "rich_text_section", "elements": elements}]}]


def event_callback(event: dict, event_id: str | None = None, team_id: str = "T1", api_app_id: str = "A1",
                   authorizations_bot_user: str = "UBOT", event_time: int | None = None) -> dict:
    """The Events API envelope (what Slack POSTs / puts in an events_api envelope's payload)."""
    return {
        "token": "verification-token-not-used",
        "team_id": team_id,
        "context_team_id": team_id,
        "context_enterprise_id": None,
        "api_app_id": api_app_id,
        "event": event,
        "type": "event_callback",
        "event_id": event_id or _id("Ev0", 8),
        "event_time": int(time.time()) if event_time is None else event_time,
        "authorizations": [{
            "enterprise_id": None,
            "team_id": team_id,
            "user_id": authorizations_bot_user,
            "is_bot": True,
            "is_enterprise_install": False,
        }],
        "is_ext_shared_channel": False,
        "event_context": "4-" + uuid.uuid4().hex,
    }


def app_mention(text: str, channel: str = "C1", user: str = "U1", ts: str | None = None,
                thread_ts: str | None = None, team: str = "T1") -> dict:
    ts = ts or next_ts()
    ev = {
        "user": user,
        "type": "app_mention",
        "ts": ts,
        "client_msg_id": str(uuid.uuid4()),
        "text": text,
        "team": team,
        "blocks": rich_text_blocks(text),
        "channel": channel,
        "event_ts": ts,
    }
    if thread_ts:
        ev["thread_ts"] = thread_ts
    return ev


def message(text: str, channel: str = "C1", user: str = "U1", ts: str | None = None,
            thread_ts: str | None = None, channel_type: str = "channel", subtype: str | None = None,
            bot_id: str | None = None, team: str = "T1") -> dict:
    ts = ts or next_ts()
    ev: dict = {"type": "message"}
    if subtype:
        ev["subtype"] = subtype
    ev.update({"text": text, "ts": ts, "channel": channel, "event_ts": ts, "channel_type": channel_type})
    if bot_id:
        ev.update({"bot_id": bot_id, "app_id": "A" + bot_id[1:],
                   "bot_profile": {"id": bot_id, "name": "somebot", "deleted": False, "team_id": team}})
        if user:
            ev["user"] = user
    else:
        ev.update({"user": user, "client_msg_id": str(uuid.uuid4())})
    ev["team"] = team
    if subtype not in ("message_changed", "message_deleted"):
        ev["blocks"] = rich_text_blocks(text)
    if thread_ts:
        ev["thread_ts"] = thread_ts
        if thread_ts != ts:
            ev["parent_user_id"] = user
    return ev


def assistant_thread_started(channel: str = "D1", thread_ts: str | None = None, user: str = "U1",
                             context_channel: str | None = None, team: str = "T1") -> dict:
    thread_ts = thread_ts or next_ts()
    ctx: dict = {"force_search": False}
    if context_channel:
        ctx.update({"channel_id": context_channel, "team_id": team, "enterprise_id": None})
    return {
        "type": "assistant_thread_started",
        "assistant_thread": {
            "user_id": user,
            "context": ctx,
            "channel_id": channel,
            "thread_ts": thread_ts,
        },
        "event_ts": next_ts(),
    }


def app_home_opened(user: str = "U1", channel: str = "D1", tab: str = "home", view: dict | None = None,
                    event_ts: str | None = None) -> dict:
    """The ``app_home_opened`` event (docs.slack.dev/reference/events/app_home_opened).

    ``tab`` is ``"home"`` or ``"messages"``; under ``features.agent_view`` opening the agent's
    DM sends ``tab: "messages"`` (docs.slack.dev/ai/migrating-to-agent-messaging).  ``view``
    (the Home tab as last published, e.g. ``fake.home_view(user)``) is only sent for the
    Home tab, and only once a view was published.
    """
    if tab not in ("home", "messages"):
        raise ValueError(f"unknown App Home tab {tab!r}")
    ev = {"type": "app_home_opened", "user": user, "channel": channel, "event_ts": event_ts or next_ts(),
          "tab": tab}
    if tab == "home" and view is not None:
        ev["view"] = view
    return ev


# ------------------------------------------------------------------ commands / interactivity

def slash_command(text: str, command: str = "/milvus", channel_id: str = "C1", user_id: str = "U1",
                  response_url: str | None = None, trigger_id: str | None = None, team_id: str = "T1",
                  api_app_id: str = "A1", channel_name: str = "general", user_name: str = "user1") -> dict:
    """The form fields of a slash command request (also the socket-mode payload)."""
    return {
        "token": "verification-token-not-used",
        "team_id": team_id,
        "team_domain": "fake-team",
        "channel_id": channel_id,
        "channel_name": channel_name,
        "user_id": user_id,
        "user_name": user_name,
        "command": command,
        "text": text,
        "api_app_id": api_app_id,
        "is_enterprise_install": "false",
        "response_url": response_url or f"https://hooks.slack.com/commands/{team_id}/{uuid.uuid4().int % 10**13}/x",
        "trigger_id": trigger_id or f"{uuid.uuid4().int % 10**13}.{uuid.uuid4().int % 10**12}.{uuid.uuid4().hex}",
    }


def block_actions(action_id: str, value: str, channel: str = "C1", message_ts: str | None = None,
                  thread_ts: str | None = None, user: str = "U1", response_url: str | None = None,
                  block_id: str = "actions", team_id: str = "T1", api_app_id: str = "A1",
                  message_blocks: list | None = None, button_text: str = "Button") -> dict:
    """A ``block_actions`` payload for a button click on a bot message."""
    text = {"type": "plain_text", "text": button_text, "emoji": True}
    msg = {
        "type": "message", "user": "UBOT", "bot_id": "BBOT", "app_id": api_app_id, "text": "",
        "ts": message_ts or next_ts(), "team": team_id,
        "blocks": message_blocks if message_blocks is not None else [{
            "type": "actions", "block_id": block_id, "elements": [{
                "type": "button", "action_id": action_id, "value": value, "text": text}]}],
    }
    if thread_ts:
        msg["thread_ts"] = thread_ts
    action = {"action_id": action_id, "block_id": block_id, "text": text, "value": value, "type": "button"}
    return _block_actions_payload(action, msg, channel, user, team_id, api_app_id, response_url)


def feedback_click(message: dict, positive: bool = True, channel: str = "C1", user: str = "U1",
                   action_id: str | None = None, team_id: str = "T1", api_app_id: str = "A1",
                   response_url: str | None = None) -> dict:
    """The ``block_actions`` payload of a click on a feedback button of ``message``.

    ``message`` is the bot message as Slack stores it (e.g. ``fake.message(channel, ts)``); its
    ``feedback_buttons`` element (inside a ``context_actions`` block; the one with
    ``action_id`` if given) supplies the action: ``type: "feedback_buttons"``, the element's
    ``action_id``, the block's ``block_id``, and the clicked button's ``text`` and ``value``
    (the shape of @slack/bolt's FeedbackButtonsAction, docs.slack.dev/tools/bolt-js/reference/
    interfaces/FeedbackButtonsAction).  Raises ValueError when the message has no such element.
    """
    msg = json.loads(json.dumps(message))
    block, element = _feedback_element(msg, action_id)
    block.setdefault("block_id", uuid.uuid4().hex[:5])  # Slack fills in a block_id the app left out
    button = element["positive_button" if positive else "negative_button"]
    action = {"action_id": element.get("action_id", ""), "block_id": block["block_id"], "text": button["text"],
              "value": button["value"], "type": "feedback_buttons"}
    return _block_actions_payload(action, msg, channel, user, team_id, api_app_id, response_url)


def _feedback_element(message: dict, action_id: str | None) -> tuple[dict, dict]:
    for block in message.get("blocks") or []:
        if block.get("type") != "context_actions":
            continue
        for el in block.get("elements", []):
            if el.get("type") == "feedback_buttons" and action_id in (None, el.get("action_id")):
                return block, el
    raise ValueError(f"message {message.get('ts')} has no feedback_buttons element"
                     + (f" with action_id {action_id!r}" if action_id else ""))


def _block_actions_payload(action: dict, message: dict, channel: str, user: str, team_id: str,
                           api_app_id: str, response_url: str | None) -> dict:
    """The ``block_actions`` envelope around one action on ``message``."""
    container = {"type": "message", "message_ts": message["ts"], "channel_id": channel, "is_ephemeral": False}
    if message.get("thread_ts"):
        container["thread_ts"] = message["thread_ts"]
    trigger = f"{uuid.uuid4().int % 10**13}.{uuid.uuid4().int % 10**12}.{uuid.uuid4().hex}"
    return {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": team_id},
        "api_app_id": api_app_id,
        "token": "verification-token-not-used",
        "container": container,
        "trigger_id": trigger,
        "team": {"id": team_id, "domain": "fake-team"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel, "name": "general"},
        "message": message,
        "state": {"values": {}},
        "response_url": response_url or f"https://hooks.slack.com/actions/{team_id}/{uuid.uuid4().int % 10**13}/x",
        "actions": [{**action, "action_ts": f"{time.time():.6f}"}],
    }


def interaction_body(payload: dict) -> bytes:
    """Form body Slack POSTs for interactivity: ``payload=<json>``."""
    return form_body({"payload": json.dumps(payload)})
