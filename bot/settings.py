"""Slack-side settings (SPEC §3), read from the environment and `.env`."""

from __future__ import annotations

import re
from pathlib import Path

from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from rag_core.config import ConfigError, load, parse_duration


class BotSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True,
                                      populate_by_name=True)

    slack_bot_token: str = Field("", alias="SLACK_BOT_TOKEN", repr=False)
    slack_app_token: str = Field("", alias="SLACK_APP_TOKEN", repr=False)
    slack_signing_secret: str = Field("", alias="SLACK_SIGNING_SECRET", repr=False)
    slack_api_url: str = Field("https://slack.com/api/", alias="SLACK_API_URL")
    support_channels: str = Field("", alias="FAQBOT_SUPPORT_CHANNELS")
    channel_versions: str = Field("", alias="FAQBOT_CHANNEL_VERSIONS")
    escalation: str = Field("", alias="FAQBOT_ESCALATION")
    state_db: Path = Field(Path("./faqbot_state.db"), alias="FAQBOT_STATE_DB")
    state_url: str = Field("", alias="FAQBOT_STATE_URL", repr=False)  # postgresql://… (holds a password)
    lease_s: float = Field(15.0, alias="FAQBOT_LEASE_SECONDS", ge=3, le=600)
    answer_within_s: float = Field(600.0, alias="FAQBOT_ANSWER_WITHIN_SECONDS", ge=10)
    reindex_interval: str = Field("", alias="FAQBOT_REINDEX_INTERVAL")
    port: int = Field(3000, alias="PORT", ge=1, le=65535)
    rate_limit: int = Field(5, alias="FAQBOT_RATE_LIMIT", ge=0, le=10000)
    workers: int = Field(128, alias="FAQBOT_WORKERS", ge=1, le=512)  # answers in flight per worker process
    queue_size: int = Field(200, alias="FAQBOT_QUEUE_SIZE", ge=1, le=100000)
    answer_process: bool = Field(True, alias="FAQBOT_ANSWER_PROCESS")
    streaming: Literal["native", "edit"] = Field("native", alias="FAQBOT_STREAMING")
    log_format: Literal["text", "json"] = Field("text", alias="FAQBOT_LOG_FORMAT")
    admins: str = Field("", alias="FAQBOT_ADMINS")  # user IDs who see the numbers on the App Home

    @field_validator("slack_bot_token", "slack_app_token")
    @classmethod
    def _token(cls, v: str, info) -> str:
        prefix, kind = {"slack_bot_token": ("xoxb-", "a bot token"),
                        "slack_app_token": ("xapp-", "an app-level token")}[info.field_name]
        v = v.strip()
        if v and not v.startswith(prefix):
            raise ValueError(f"{kind} starting with {prefix}")
        return v

    @field_validator("slack_api_url")
    @classmethod
    def _api_url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("an http(s) URL")
        return v if v.endswith("/") else v + "/"

    @field_validator("state_url")
    @classmethod
    def _state_url(cls, v: str) -> str:
        v = v.strip()
        if v and not v.lower().startswith(("postgresql://", "postgres://")):
            raise ValueError("a postgresql://user:password@host:port/dbname URL (or empty for FAQBOT_STATE_DB)")
        return v

    @field_validator("reindex_interval")
    @classmethod
    def _interval(cls, v: str) -> str:
        if v.strip():
            parse_duration(v)
        return v.strip()

    @field_validator("support_channels", "escalation")
    @classmethod
    def _ids(cls, v: str) -> str:
        for item in _split(v):
            if not item[:1] in ("C", "G", "D", "S", "U", "W") or not item.isalnum():
                raise ValueError("comma-separated Slack IDs (C…, S…, U…)")
        return v

    @field_validator("admins")
    @classmethod
    def _admins(cls, v: str) -> str:
        for item in _split(v):
            if not re.fullmatch(r"[UW][A-Z0-9]{2,20}", item):
                raise ValueError(f"comma-separated Slack user IDs (U… or W…); {item!r} is not one")
        return v

    @field_validator("channel_versions")
    @classmethod
    def _channel_versions(cls, v: str) -> str:
        from rag_core.versions import parse_channel_map

        parse_channel_map(v)
        return v

    @property
    def channel_version_map(self) -> dict[str, str]:
        """Channel ID -> default docs version for questions asked there."""
        from rag_core.versions import parse_channel_map

        return parse_channel_map(self.channel_versions)

    @property
    def support_channel_ids(self) -> frozenset[str]:
        return frozenset(_split(self.support_channels))

    @property
    def escalation_ids(self) -> list[str]:
        return _split(self.escalation)

    @property
    def admin_ids(self) -> frozenset[str]:
        return frozenset(_split(self.admins))

    @property
    def reindex_seconds(self) -> int | None:
        return parse_duration(self.reindex_interval) if self.reindex_interval else None

    @property
    def socket_mode(self) -> bool:
        return bool(self.slack_app_token)


def _split(value: str) -> list[str]:
    return [x.strip() for x in (value or "").split(",") if x.strip()]


def load_bot_settings(**overrides) -> BotSettings:
    return load(BotSettings, **overrides)


__all__ = ["BotSettings", "load_bot_settings", "ConfigError"]
