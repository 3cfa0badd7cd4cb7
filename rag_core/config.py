"""Typed settings for the RAG engine, read from the environment and `.env`.

Bad values become one `ConfigError` line that names the variable and what is
expected, so the CLI and the bot can print it without a traceback.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# the docs milvus.io renders: one folder per version, version.json names the current one
DEFAULT_DOCS_SOURCE = "github:milvus-io/web-content"

_EXPECTED = {
    "MILVUS_URI": "a file path (Milvus Lite), http(s)://host:19530 or a Zilliz Cloud endpoint",
    "FAQBOT_TOP_K": "a whole number from 1 to 20",
    "GEMINI_EMBEDDING_DIM": "a whole number from 128 to 3072",
    "FAQBOT_EMBEDDER": "one of gemini, sentence-transformers, none",
    "FAQBOT_REINDEX_INTERVAL": "a duration like 30m, 6h or 24h",
    "PORT": "a port number from 1 to 65535",
    "FAQBOT_RATE_LIMIT": "a whole number of questions per user per minute (0 = off)",
    "FAQBOT_WORKERS": "a whole number from 1 to 512",
    "FAQBOT_QUEUE_SIZE": "a whole number from 1 to 100000",
    "GEMINI_TIMEOUT": "seconds, a number from 1 to 120",
    "FAQBOT_DOCS_VERSIONS": "comma-separated docs versions like latest,v2.6.x",
    "GITHUB_API_URL": "an http(s) URL such as https://api.github.com",
    "GITHUB_RAW_URL": "an http(s) URL such as https://raw.githubusercontent.com",
    "GITHUB_TIMEOUT": "seconds, a number from 1 to 300",
}


class ConfigError(Exception):
    """A configuration problem, phrased for the operator in one line."""


def parse_duration(value: str) -> int:
    """'30m', '6h', '1d', '90s' or plain seconds -> seconds."""
    m = re.fullmatch(r"\s*(\d+)\s*([smhd]?)\s*", value or "")
    if not m or int(m.group(1)) == 0:
        raise ValueError("expected a duration like 30m, 6h or 24h")
    return int(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]


class Settings(BaseSettings):
    """Everything rag_core needs. Field aliases are the environment variable names."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True, populate_by_name=True
    )

    milvus_uri: str = Field("./milvus_faq.db", alias="MILVUS_URI")
    milvus_token: str = Field("", alias="MILVUS_TOKEN", repr=False)
    milvus_collection: str = Field("milvus_faq", alias="MILVUS_COLLECTION")
    docs_source: str = Field(DEFAULT_DOCS_SOURCE, alias="FAQBOT_DOCS_SOURCE")
    docs_glob: str = Field("en/faq/*.md", alias="FAQBOT_DOCS_GLOB")
    docs_versions: str = Field("latest", alias="FAQBOT_DOCS_VERSIONS")
    github_api_url: str = Field("https://api.github.com", alias="GITHUB_API_URL")
    github_raw_url: str = Field("https://raw.githubusercontent.com", alias="GITHUB_RAW_URL")
    github_token: str = Field("", alias="GITHUB_TOKEN", repr=False)
    github_timeout: float = Field(30.0, alias="GITHUB_TIMEOUT", ge=1, le=300)
    top_k: int = Field(3, alias="FAQBOT_TOP_K", ge=1, le=20)
    gemini_api_key: str = Field("", alias="GEMINI_API_KEY", repr=False)
    gemini_model: str = Field("gemini-flash-latest", alias="GEMINI_MODEL")
    gemini_embedding_model: str = Field("gemini-embedding-001", alias="GEMINI_EMBEDDING_MODEL")
    gemini_embedding_dim: int = Field(768, alias="GEMINI_EMBEDDING_DIM", ge=128, le=3072)
    gemini_base_url: str = Field("", alias="GEMINI_BASE_URL")
    gemini_timeout: float = Field(10.0, alias="GEMINI_TIMEOUT", ge=1, le=120)
    embedder: Literal["gemini", "sentence-transformers", "none", ""] = Field(
        "", alias="FAQBOT_EMBEDDER"
    )
    local_model: str = Field(
        "sentence-transformers/all-MiniLM-L6-v2", alias="FAQBOT_LOCAL_MODEL"
    )
    cache_dir: Path = Field(
        Path.home() / ".cache" / "milvus-faq-bot", alias="FAQBOT_CACHE_DIR"
    )
    min_confidence: float | None = Field(None, alias="FAQBOT_MIN_CONFIDENCE")

    @field_validator("milvus_uri")
    @classmethod
    def _uri(cls, v: str) -> str:
        v = v.strip()
        if not v:
            raise ValueError("empty")
        if "://" in v and not re.match(r"^(https?|tcp|grpc|unix)://[^\s]+$", v):
            raise ValueError("bad scheme")
        return v

    @field_validator("docs_versions")
    @classmethod
    def _versions(cls, v: str) -> str:
        from .versions import parse_list

        return ",".join(parse_list(v))

    @field_validator("github_api_url", "github_raw_url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        v = v.strip().rstrip("/")
        if not re.match(r"^https?://[^\s/]+", v):
            raise ValueError("expected an http(s) URL")
        return v

    @field_validator("milvus_collection")
    @classmethod
    def _collection(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,254}", v):
            raise ValueError("letters, digits and underscores, not starting with a digit")
        return v

    @model_validator(mode="after")
    def _default_embedder(self) -> "Settings":
        if not self.embedder:
            self.embedder = "gemini" if self.gemini_api_key else "none"
        if self.embedder == "gemini" and not self.gemini_api_key:
            raise ValueError("FAQBOT_EMBEDDER=gemini needs GEMINI_API_KEY to be set")
        return self

    @property
    def version_list(self) -> list[str]:
        """FAQBOT_DOCS_VERSIONS as a list; the first is the default answer version."""
        return self.docs_versions.split(",")

    @property
    def milvus_is_local(self) -> bool:
        return "://" not in self.milvus_uri


def _one_line(exc: ValidationError, model: type[BaseSettings]) -> str:
    err = exc.errors()[0]
    loc = err.get("loc") or ()
    if loc:
        field = model.model_fields.get(str(loc[0]))
        var = (field.alias if field and field.alias else str(loc[0])).upper()
        expected = _EXPECTED.get(var) or err.get("msg", "a valid value").removeprefix("Value error, ")
        got = err.get("input")
        shown = "" if var.endswith(("TOKEN", "KEY", "SECRET")) else f" (got {got!r})"
        return f"{var} is invalid{shown}: expected {expected}."
    msg = err.get("msg", str(exc)).removeprefix("Value error, ")
    return f"Configuration error: {msg}."


def load(model: type[BaseSettings] = Settings, **overrides) -> BaseSettings:
    """Build settings from env/.env (+ explicit overrides) or raise ConfigError."""
    try:
        return model(**overrides)
    except ValidationError as exc:
        raise ConfigError(_one_line(exc, model)) from None
