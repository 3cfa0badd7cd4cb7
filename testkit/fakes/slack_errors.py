"""How the Slack fake answers ``{"ok": false, ...}``: method handlers raise these.

Schema-style problems carry Slack's ``response_metadata.messages`` list, each message
``"[ERROR] <problem> [json-pointer:/path]"``, as real Slack does for ``invalid_blocks``
and ``invalid_arguments``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["SlackApiErrorResponse", "err", "invalid_blocks", "invalid_arguments", "schema_error"]


class SlackApiErrorResponse(Exception):
    """Raised inside a method handler to answer ``{"ok": false, ...}``."""

    def __init__(self, error: str, status: int = 200, headers: dict | None = None, **extra: Any):
        super().__init__(error)
        self.error = error
        self.status = status
        self.headers = headers or {}
        self.extra = extra


def err(error: str, **extra: Any) -> SlackApiErrorResponse:
    return SlackApiErrorResponse(error, **extra)


def schema_error(error: str, problems: list[str]) -> SlackApiErrorResponse:
    """``error`` with one ``[ERROR] ...`` message per problem."""
    return err(error, response_metadata={"messages": [f"[ERROR] {m}" for m in problems]})


def invalid_blocks(problems: list[str]) -> SlackApiErrorResponse:
    resp = schema_error("invalid_blocks", problems)
    resp.extra["errors"] = problems
    return resp


def invalid_arguments(problems: list[str]) -> SlackApiErrorResponse:
    return schema_error("invalid_arguments", problems)
