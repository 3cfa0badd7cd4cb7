"""Slack's chat streaming rules, for the fake's chat.startStream / appendStream / stopStream.

Sources (what each rule rests on):

* docs.slack.dev/reference/methods/chat.startStream, .appendStream, .stopStream (arguments
  and error names; read through the 2026-05-25 scrape of those pages in
  smstoslack/slack_kit priv/docs/methods/*.json, and the docs pages' own excerpts):
  - startStream: ``channel`` and ``thread_ts`` required ("Streamed messages should always
    be replies to a user request"); ``recipient_user_id`` / ``recipient_team_id``
    "Required when streaming to channels" -> ``missing_recipient_user_id`` /
    ``missing_recipient_team_id``; ``task_display_mode`` one of timeline, plan, dense.
  - appendStream: ``channel``, ``ts`` and text (``markdown_text`` or chunks);
    ``message_not_in_streaming_state``, ``message_not_owned_by_app``, ``stopped_by_user``.
  - stopStream: optional ``markdown_text``, ``chunks``, ``blocks`` (50, a limit separate
    from the blocks sent in chunks), ``metadata`` (event_type + event_payload) and
    ``session_status`` (active, processing, suspended, closed).
  - ``markdown_text``: "Limit this field to 12,000 characters".
* Chunk shapes: slack_sdk 3.48 ``slack_sdk/models/messages/chunk.py`` and @slack/types
  ``TaskUpdateChunk`` (docs.slack.dev/tools/node-slack-sdk/reference/types/interfaces/
  TaskUpdateChunk): markdown_text {text}, plan_update {title}, task_update {id, title,
  status: pending|in_progress|complete|error, details?, output?, sources?: url sources},
  blocks {blocks}.

Not from the docs, marked where used: the error for a missing ``thread_ts``
(``invalid_arguments``), ``msg_too_long`` for over-long text (seen by users, not listed
on the method pages), and the messages inside ``invalid_chunks``.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

from testkit.fakes.slack_blockkit import validate_blocks
from testkit.fakes.slack_errors import err, invalid_arguments, invalid_blocks, schema_error

__all__ = [
    "START_ARGS", "APPEND_ARGS", "STOP_ARGS", "Content", "read_content", "check_start_args",
    "check_stop_args", "ignored_args", "new_stream", "apply_content", "close_if_due",
]

START_ARGS = {"token", "channel", "thread_ts", "markdown_text", "chunks", "recipient_user_id",
              "recipient_team_id", "task_display_mode", "icon_emoji", "icon_url", "username"}
APPEND_ARGS = {"token", "channel", "ts", "markdown_text", "chunks"}
STOP_ARGS = {"token", "channel", "ts", "markdown_text", "chunks", "blocks", "metadata", "session_status"}

TASK_STATUSES = ("pending", "in_progress", "complete", "error")
DISPLAY_MODES = ("timeline", "plan", "dense")
SESSION_STATUSES = ("active", "processing", "suspended", "closed")
MARKDOWN_LIMIT = 12000
CHUNK_BLOCKS_LIMIT = 50
_TS_RE = re.compile(r"^\d{10}\.\d{6}$")
_USER_RE = re.compile(r"^[UW][A-Z0-9]+$")
_TEAM_RE = re.compile(r"^[TE][A-Z0-9]+$")


@dataclass
class Content:
    """What one stream call adds: its markdown and its (validated) chunks."""

    text: str = ""
    chunks: list = field(default_factory=list)


# ------------------------------------------------------------------ arguments

def check_start_args(p: dict, in_dm: bool) -> None:
    """thread_ts, recipients and task_display_mode of chat.startStream."""
    thread_ts = p.get("thread_ts")
    if not thread_ts:
        # required per the method page; the error name for leaving it out is the fake's choice
        raise invalid_arguments(["missing required field: thread_ts"])
    if not _TS_RE.match(str(thread_ts)):
        raise err("invalid_thread_ts")
    _check_recipients(p, in_dm)
    mode = p.get("task_display_mode")
    if mode is not None and mode not in DISPLAY_MODES:
        raise invalid_arguments([f"must be one of {list(DISPLAY_MODES)} [json-pointer:/task_display_mode]"])


def _check_recipients(p: dict, in_dm: bool) -> None:
    user, team = p.get("recipient_user_id"), p.get("recipient_team_id")
    if not in_dm and not user:
        raise err("missing_recipient_user_id")
    if not in_dm and not team:
        raise err("missing_recipient_team_id")
    if user is not None and not (isinstance(user, str) and _USER_RE.match(user)):
        raise err("user_not_found")
    if team is not None and not (isinstance(team, str) and _TEAM_RE.match(team)):
        raise err("team_not_found")


def check_stop_args(p: dict) -> None:
    status = p.get("session_status")
    if status is not None and status not in SESSION_STATUSES:
        raise invalid_arguments([f"must be one of {list(SESSION_STATUSES)} [json-pointer:/session_status]"])
    blocks = p.get("blocks")
    if blocks is None:
        return
    problems = validate_blocks(blocks)  # a string left undecoded is "must be an array"
    if problems:
        raise invalid_blocks(problems)


def ignored_args(p: dict, allowed: set[str]) -> list[str]:
    """Arguments the method does not take: Slack ignores unknown arguments, so does the fake."""
    return sorted(k for k in p if k not in allowed)


# ------------------------------------------------------------------ content

def read_content(p: dict) -> Content:
    """``markdown_text`` plus ``chunks`` of one call, checked; raises Slack's errors."""
    content = Content()
    mt = p.get("markdown_text")
    if mt is not None:
        if not isinstance(mt, str):
            raise invalid_arguments(["must provide a string [json-pointer:/markdown_text]"])
        _check_markdown_length(mt)
        content.text += mt
    chunks = p.get("chunks")
    if chunks is None:
        return content
    if not isinstance(chunks, list):
        raise schema_error("invalid_chunks", ["must provide an array [json-pointer:/chunks]"])
    for i, c in enumerate(chunks):
        _check_chunk(c, f"/chunks/{i}")
        if c["type"] == "markdown_text":
            _check_markdown_length(c["text"])
            content.text += c["text"]
    content.chunks = list(chunks)
    return content


def _check_markdown_length(text: str) -> None:
    # the docs give the 12,000 limit; msg_too_long is what users report Slack answering
    if len(text) > MARKDOWN_LIMIT:
        raise err("msg_too_long")


def _check_chunk(c: Any, ptr: str) -> None:
    if not isinstance(c, dict):
        raise schema_error("invalid_chunks", [f"must provide an object [json-pointer:{ptr}]"])
    kind = c.get("type")
    if kind == "blocks":
        problems = validate_blocks(c.get("blocks"), pointer=ptr + "/blocks")
        if problems:
            raise invalid_blocks(problems)
        return
    checks = {"markdown_text": _markdown_chunk, "plan_update": _plan_chunk, "task_update": _task_chunk}
    if kind not in checks:
        problems = [f"must be one of [blocks, markdown_text, plan_update, task_update] [json-pointer:{ptr}/type]"]
    else:
        problems = checks[kind](c, ptr)
    if problems:
        raise schema_error("invalid_chunks", problems)


def _need_string(c: dict, key: str, ptr: str, optional: bool = False) -> list[str]:
    value = c.get(key)
    if value is None and optional:
        return []
    if not isinstance(value, str) or (not value and not optional):
        return [f"must provide a non-empty string [json-pointer:{ptr}/{key}]"]
    return []


def _markdown_chunk(c: dict, ptr: str) -> list[str]:
    return _need_string(c, "text", ptr)


def _plan_chunk(c: dict, ptr: str) -> list[str]:
    return _need_string(c, "title", ptr)


def _task_chunk(c: dict, ptr: str) -> list[str]:
    problems = _need_string(c, "id", ptr) + _need_string(c, "title", ptr)
    if c.get("status") not in TASK_STATUSES:
        problems.append(f"must be one of {list(TASK_STATUSES)} [json-pointer:{ptr}/status]")
    for key in ("details", "output"):
        problems += _need_string(c, key, ptr, optional=True)
    sources = c.get("sources")
    if sources is not None:
        if not isinstance(sources, list):
            return problems + [f"must provide an array [json-pointer:{ptr}/sources]"]
        for j, s in enumerate(sources):
            if not (isinstance(s, dict) and s.get("type") == "url" and isinstance(s.get("url"), str)
                    and isinstance(s.get("text"), str)):
                problems.append(f"must provide a url source {{type, url, text}} [json-pointer:{ptr}/sources/{j}]")
    return problems


# ------------------------------------------------------------------ the stream record

def new_stream(p: dict, ignored: list[str]) -> dict:
    """What the fake remembers of a stream (``fake.streams[(channel, ts)]``)."""
    return {
        "state": "streaming",  # streaming | stopped | expired | stopped_by_user
        "thread_ts": p.get("thread_ts"),
        "recipient_team_id": p.get("recipient_team_id"),
        "recipient_user_id": p.get("recipient_user_id"),
        "task_display_mode": p.get("task_display_mode") or "timeline",
        "chunks": [],  # every chunk sent, in order
        "tasks": {},  # task id -> its latest task_update (fields sent later replace earlier ones)
        "plan_title": None,
        "blocks": [],  # blocks sent in chunks
        "stop_blocks": None, "metadata": None, "session_status": None,
        "appends": 0,
        "calls": [],  # [{"method": "start"|"append"|"stop", "text": markdown this call added}]
        "ignored_args": list(ignored),
        "started": time.monotonic(),
    }


def apply_content(st: dict, content: Content, method: str) -> None:
    """Add one call's chunks to the record; the blocks in chunks may not pass 50."""
    new_blocks = [b for c in content.chunks if c["type"] == "blocks" for b in c["blocks"]]
    if len(st["blocks"]) + len(new_blocks) > CHUNK_BLOCKS_LIMIT:
        raise err("msg_blocks_too_many")
    st["blocks"].extend(new_blocks)
    st["chunks"].extend(content.chunks)
    for c in content.chunks:
        if c["type"] == "task_update":
            st["tasks"][c["id"]] = {**st["tasks"].get(c["id"], {}), **c}
        elif c["type"] == "plan_update":
            st["plan_title"] = c["title"]
    st["calls"].append({"method": method, "text": content.text})


def close_if_due(st: dict, after_appends: int | None, after_seconds: float | None) -> None:
    """End a stream that the fake was told to close after N appends or T seconds."""
    if st["state"] != "streaming":
        return
    if after_appends is not None and st["appends"] >= after_appends:
        st["state"] = "expired"
    elif after_seconds is not None and time.monotonic() - st["started"] >= after_seconds:
        st["state"] = "expired"
