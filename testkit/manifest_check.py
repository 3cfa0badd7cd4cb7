"""Check a Slack app manifest's ``features.agent_view`` (the Agent messaging experience).

``check_agent_view(manifest)`` applies Slack's published JSON schema for the section:
slackapi/manifest-schema, schemas/manifest.schema.2.0.0.json (and 1.0.0), definition
``app-manifests.v1.features.agent_view`` (added 2026-06-19, "feat: add 'features.agent_view'
property (#74)"):

* an object with no other keys than ``agent_description``, ``suggested_prompts``, ``actions``
  (none of them required);
* ``agent_description``: a string of at most 300 characters;
* ``suggested_prompts``: at most 4 items, each exactly ``{title: str, message: str}``;
* ``actions``: items exactly ``{name: str, description: str}``.

``check_agent_setup(manifest)`` lists what the docs say an ``agent_view`` app needs besides:
docs.slack.dev/ai/migrating-to-agent-messaging (switch ``assistant_view`` to ``agent_view``;
subscribe to ``app_home_opened`` and check ``tab == "messages"``, which replaces
``assistant_thread_started``; conversations happen in the Messages tab), the
assistant.threads.setSuggestedPrompts method page (bot scope ``assistant:write``), and the
message.im event (the user's DMs to the app).

Both return human-readable problems; an empty list means none.
"""

from __future__ import annotations

from typing import Any

__all__ = ["check_agent_view", "check_agent_setup"]

_AGENT_VIEW_KEYS = ("agent_description", "suggested_prompts", "actions")
_DESCRIPTION_MAX = 300
_PROMPTS_MAX = 4
_WHERE = "features.agent_view"


def check_agent_view(manifest: dict) -> list[str]:
    """Problems with ``features.agent_view`` against Slack's manifest schema."""
    section = (manifest.get("features") or {}).get("agent_view")
    if section is None:
        return [f"{_WHERE} is missing"]
    if not isinstance(section, dict):
        return [f"{_WHERE} must be an object"]
    problems = [f"{_WHERE}.{k} is not a field of agent_view (allowed: {', '.join(_AGENT_VIEW_KEYS)})"
                for k in section if k not in _AGENT_VIEW_KEYS]
    problems += _check_description(section.get("agent_description"))
    problems += _check_items(section.get("suggested_prompts"), "suggested_prompts", ("title", "message"), _PROMPTS_MAX)
    problems += _check_items(section.get("actions"), "actions", ("name", "description"), None)
    return problems


def _check_description(text: Any) -> list[str]:
    if text is None:
        return []
    if not isinstance(text, str):
        return [f"{_WHERE}.agent_description must be a string"]
    if len(text) > _DESCRIPTION_MAX:
        return [f"{_WHERE}.agent_description has {len(text)} characters (at most {_DESCRIPTION_MAX})"]
    return []


def _check_items(items: Any, name: str, keys: tuple[str, str], most: int | None) -> list[str]:
    """An array whose items are objects with exactly ``keys``, all strings."""
    if items is None:
        return []
    where = f"{_WHERE}.{name}"
    if not isinstance(items, list):
        return [f"{where} must be an array"]
    problems = [f"{where} has {len(items)} items (at most {most})"] if most is not None and len(items) > most else []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            problems.append(f"{where}[{i}] must be an object with {' and '.join(keys)}")
            continue
        problems += [f"{where}[{i}].{k} must be a string" for k in keys if not isinstance(item.get(k), str)]
        problems += [f"{where}[{i}].{k} is not allowed (only {' and '.join(keys)})" for k in item if k not in keys]
    return problems


def check_agent_setup(manifest: dict) -> list[str]:
    """What the docs say an agent_view app needs beyond the section itself."""
    features = manifest.get("features") or {}
    settings = manifest.get("settings") or {}
    events = (settings.get("event_subscriptions") or {}).get("bot_events") or []
    scopes = ((manifest.get("oauth_config") or {}).get("scopes") or {}).get("bot") or []
    problems = []
    if "agent_view" not in features:
        problems.append(f"{_WHERE} is missing: the Agent messaging experience is off")
    if "assistant_view" in features:
        problems.append("features.assistant_view is set: the docs say to switch it to agent_view, not keep both")
    if not (features.get("app_home") or {}).get("messages_tab_enabled"):
        problems.append("features.app_home.messages_tab_enabled is not true: "
                        "agent conversations live in the Messages tab")
    if "app_home_opened" not in events:
        problems.append("bot event app_home_opened is missing: it tells the app a user opened its DM (tab 'messages')")
    if "message.im" not in events:
        problems.append("bot event message.im is missing: the user's messages in the agent DM arrive as message.im")
    if "assistant_thread_started" in events:
        problems.append("bot event assistant_thread_started is listed: under agent_view app_home_opened "
                        "(tab 'messages') replaces it")
    if "assistant:write" not in scopes:
        problems.append("bot scope assistant:write is missing: assistant.threads.setSuggestedPrompts needs it")
    return problems
