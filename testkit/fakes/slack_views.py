"""The Home tab, for the fake's views.publish.

Sources:

* docs.slack.dev/reference/views/home-tab-views: a home view is ``{type: "home", blocks
  (required, max 100), private_metadata (max 3000), callback_id (max 255), external_id
  (unique per team)}``.
* docs.slack.dev/reference/methods/views.publish (2026-05-25 scrape in smstoslack/slack_kit
  priv/docs/methods/views.publish.json): arguments ``user_id``, ``view``, ``hash``; errors
  ``not_enabled`` (Home tab off), ``hash_conflict``, ``duplicate_external_id``,
  ``view_too_large`` (over 250kb).  ``external_id`` max 255 is from views.update's page.
* A bad view is answered ``invalid_arguments`` with ``response_metadata.messages`` such as
  ``[ERROR] failed to match all allowed schemas [json-pointer:/view]`` (a real response kept
  as a golden file by the Haskell slack-web package, tests/golden/ResponseJSON/
  failed_view_publish.json).
* The published view's fields follow the ``view`` of the app_home_opened event
  (docs.slack.dev/reference/events/app_home_opened).
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from testkit.fakes.slack_blockkit import validate_blocks
from testkit.fakes.slack_errors import err, invalid_arguments

__all__ = ["read_view", "check_home_view", "check_size", "check_hash", "published_view"]

HOME_BLOCKS_LIMIT = 100
VIEW_SIZE_LIMIT = 250 * 1024
_STRING_LIMITS = {"private_metadata": 3000, "callback_id": 255, "external_id": 255}


def read_view(raw: Any) -> dict:
    """The ``view`` argument: an object, or the JSON-encoded string of one."""
    view = raw
    if isinstance(raw, str):
        try:
            view = json.loads(raw)
        except ValueError:
            view = None
    if not isinstance(view, dict):
        raise invalid_arguments(["failed to match all allowed schemas [json-pointer:/view]",
                                 "must provide an object [json-pointer:/view]"])
    return view


def check_home_view(view: dict) -> list[str]:
    """Problems with a Home tab view, as ``[json-pointer:/view/...]`` messages."""
    if view.get("type") != "home":
        return ["failed to match all allowed schemas [json-pointer:/view]",
                "must be one of [home] [json-pointer:/view/type]"]
    problems = []
    if "blocks" not in view:
        problems.append("must provide an array [json-pointer:/view/blocks]")
    else:
        problems += validate_blocks(view["blocks"], max_blocks=HOME_BLOCKS_LIMIT, pointer="/view/blocks")
    for key, most in _STRING_LIMITS.items():
        value = view.get(key)
        if value is not None and not isinstance(value, str):
            problems.append(f"must provide a string [json-pointer:/view/{key}]")
        elif value is not None and len(value) > most:
            problems.append(f"must be less than {most + 1} characters [json-pointer:/view/{key}]")
    return problems


def check_size(view: dict) -> None:
    if len(json.dumps(view).encode("utf-8")) > VIEW_SIZE_LIMIT:
        raise err("view_too_large")


def check_hash(given: Any, current: dict | None) -> None:
    """``hash`` guards against races: it must be the hash of the view being replaced."""
    if given is not None and given != (current or {}).get("hash"):
        raise err("hash_conflict")


def published_view(view: dict, *, view_id: str, team_id: str, app_id: str, bot_id: str) -> dict:
    """What Slack keeps (and answers) for a published Home tab."""
    return {
        "id": view_id, "team_id": team_id, "type": "home", "blocks": view["blocks"],
        "private_metadata": view.get("private_metadata", ""), "callback_id": view.get("callback_id", ""),
        "state": {"values": {}}, "hash": f"{int(time.time())}.{uuid.uuid4().hex[:8]}",
        "clear_on_close": False, "notify_on_close": False, "close": None, "submit": None,
        "previous_view_id": None, "root_view_id": view_id, "app_id": app_id,
        "external_id": view.get("external_id", ""), "app_installed_team_id": team_id, "bot_id": bot_id,
    }
