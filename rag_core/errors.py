"""The failures we expect and print as one line (no traceback)."""

from __future__ import annotations

from .answer import AnswerUnavailable
from .config import ConfigError
from .embedders import EmbeddingError
from .sources import SourceError
from .store import StoreError


class ServeError(Exception):
    """The bot cannot start (missing Slack settings, port in use...)."""


EXPECTED = (ConfigError, SourceError, StoreError, EmbeddingError, AnswerUnavailable, ServeError)


def describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
