"""Shared fixtures: the docs archive from ../shared, a fake Gemini, settings on a temp Milvus Lite file."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
DOCS_ZIP = SHARED / "data" / "milvus_docs_2.4.x_en.zip"
DEV_QUESTIONS = SHARED / "eval" / "dev_questions.jsonl"

# Never let a developer's .env or real keys leak into the tests.
for _var in list(os.environ):
    if _var.startswith(("MILVUS_", "FAQBOT_", "GEMINI_", "SLACK_")) or _var == "PORT":
        os.environ.pop(_var)
os.environ["FAQBOT_ENV_FILE"] = "/nonexistent/.env"


@pytest.fixture(autouse=True)
def _no_dotenv(monkeypatch, tmp_path):
    # pydantic-settings reads ./.env: run every test from an empty folder
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def docs_zip() -> Path:
    if not DOCS_ZIP.exists():
        pytest.fail(f"missing test data {DOCS_ZIP}")
    return DOCS_ZIP


@pytest.fixture(scope="session")
def faq_folder(tmp_path_factory, docs_zip) -> Path:
    """The FAQ pages unzipped into a folder (read-only reference copy)."""
    root = tmp_path_factory.mktemp("faqdocs")
    with zipfile.ZipFile(docs_zip) as zf:
        for name in zf.namelist():
            if name.startswith("en/faq/") and name.endswith(".md"):
                zf.extract(name, root)
    return root


@pytest.fixture
def slack():
    from testkit.fakes.slack_api import FakeSlack

    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def fake_gemini():
    from testkit.fakes.gemini_server import FakeGemini

    with FakeGemini() as fake:
        yield fake


@pytest.fixture
def make_settings(tmp_path, docs_zip):
    from rag_core.config import load

    def make(**overrides):
        values = {
            "MILVUS_URI": str(tmp_path / "milvus.db"),
            "FAQBOT_DOCS_SOURCE": str(docs_zip),
            "FAQBOT_CACHE_DIR": str(tmp_path / "cache"),
        }
        values.update(overrides)
        return load(**values)

    return make


@pytest.fixture
def gemini_env(fake_gemini):
    return {"GEMINI_API_KEY": fake_gemini.api_key, "GEMINI_BASE_URL": fake_gemini.base_url}


# ---- secrets: every log line and every message the bot sends is scanned -----------------------
import logging
import re

SECRETS = ("xoxb-test-token", "xapp-test-token", "test-signing-secret-0123456789", "test-gemini-key")
_SECRET_RE = re.compile("|".join(re.escape(s) for s in SECRETS) + r"|xox[abpr]-[A-Za-z0-9-]{6,}|xapp-[A-Za-z0-9-]{6,}")
LEAKS: list[str] = []
SCANNED = {"log_records": 0, "slack_calls": 0}


class _SecretScanner(logging.Handler):
    def emit(self, record):
        SCANNED["log_records"] += 1
        try:
            text = self.format(record)
        except Exception:
            text = str(record.msg)
        if _SECRET_RE.search(text):
            LEAKS.append(f"log {record.name}: {text[:300]}")


def pytest_configure(config):
    handler = _SecretScanner(level=logging.INFO)  # what `faqbot serve` logs in production
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)

    from testkit.fakes import slack_api

    original_stop = slack_api.FakeSlack.stop

    def stop_and_scan(self):
        for call in list(self.calls):
            SCANNED["slack_calls"] += 1
            text = json.dumps(call.params, default=str)
            if _SECRET_RE.search(text):
                LEAKS.append(f"slack {call.method}: {text[:300]}")
        return original_stop(self)

    slack_api.FakeSlack.stop = stop_and_scan


import json  # noqa: E402


# ---- PostgreSQL for the job store tests (testkit/pg_server.py) ---------------------------------------
import itertools  # noqa: E402


class PgURL(str):
    """The URL of a running test PostgreSQL (database `postgres`); `.server` is the PostgresServer,
    `.restart()` restarts it mid-test, `.fresh()` returns the URL of a new empty schema (instant),
    `.fresh_database()` of a new empty database."""

    server = None

    def restart(self) -> None:
        self.server.restart()

    def fresh(self, prefix: str = "t") -> str:
        return self.server.create_schema(f"{prefix}_{next(_PG_DB_COUNTER)}")

    def fresh_database(self, prefix: str = "db") -> str:
        return self.server.create_database(f"{prefix}_{next(_PG_DB_COUNTER)}")


_PG_DB_COUNTER = itertools.count(1)


@pytest.fixture(scope="session")
def pg_url():
    from testkit.pg_server import PostgresServer

    try:
        server = PostgresServer()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    try:
        server.start()
        url = PgURL(server.url())
        url.server = server
        yield url
    finally:
        server.cleanup()
