"""`faqbot doctor`: one line per configured part — docs source, Milvus, embedder, Gemini, Slack."""

from __future__ import annotations

import os


def run_checks():
    from .config import ConfigError, load

    try:
        settings = load()
    except ConfigError as exc:
        yield "FAIL", "config", str(exc)
        return
    yield "ok", "config", f"MILVUS_URI={settings.milvus_uri} collection={settings.milvus_collection} " \
                          f"embedder={settings.embedder}"
    yield from _docs(settings)
    yield from _milvus(settings)
    yield from _gemini(settings)
    yield from _slack()


def _docs(settings):
    """List (not download) the configured docs versions: a few GitHub API calls at most."""
    from .sources import SourceError, open_source

    try:
        src = open_source(settings.docs_source, settings)
        listed = src.versions(settings.version_list, settings.docs_glob)
    except SourceError as exc:
        yield "FAIL", "docs", str(exc)
        return
    found = ", ".join(f"{v.version}{' (current)' if v.current else ''}: {v.files} files" for v in listed)
    yield "ok", "docs", f"{src.label} {settings.docs_glob}: {found}"


def _late_note(emb, store) -> str:
    """The local model's late interaction (rag_core.late): on, or how to turn it on."""
    if not getattr(emb, "late", False):
        return ""
    from .late import FORMAT

    if store.late_format() == FORMAT:
        return "; late interaction on"
    return "; no late-interaction data (built before it existed): `faqbot ingest --recreate` adds it"


def _milvus(settings):
    from .embedders import EmbeddingError, build_embedder
    from .store import MilvusStore, StoreError

    store = MilvusStore(settings.milvus_uri, settings.milvus_token, settings.milvus_collection)
    try:
        store.ping()
        yield "ok", "milvus", f"reachable at {settings.milvus_uri}"
        recorded = store.recorded_embedder()
        if recorded is None:
            yield "FAIL", "collection", f"{settings.milvus_collection!r} does not exist: run `faqbot ingest`"
            return
        from .versions import sort_key

        record = store.versions_record()["versions"]
        indexed = ", ".join(f"{v} ({record[v].get('chunks', 0)})" for v in sorted(record, key=sort_key))
        yield "ok", "collection", f"{settings.milvus_collection!r}: {store.count()} chunks, " \
                                  f"embedder {recorded[0]} ({recorded[1]} dims), versions {indexed or 'none'}"
        try:
            emb = build_embedder(settings)
        except EmbeddingError as exc:
            yield "FAIL", "embedder", str(exc)
            return
        if (emb.name, emb.dim) != recorded:
            yield "FAIL", "embedder", f"configured {emb.name} ({emb.dim} dims) does not match the collection: " \
                                      "run `faqbot ingest --recreate`"
        else:
            yield "ok", "embedder", f"{emb.name} matches the collection" + _late_note(emb, store)
    except StoreError as exc:
        yield "FAIL", "milvus", str(exc)
    finally:
        store.close()


def _gemini(settings):
    if not settings.gemini_api_key:
        yield "skip", "gemini", "GEMINI_API_KEY is empty: keyless mode (BM25 + extractive answers)"
        return
    from .embedders import gemini_client

    client = gemini_client(settings, timeout_s=10, retries=0)
    for model in (settings.gemini_model, settings.gemini_embedding_model):
        try:
            info = client.models.get(model=model)
            yield "ok", "gemini", f"model {model} available ({getattr(info, 'display_name', '') or model})"
        except Exception as exc:
            code = getattr(exc, "code", "")
            hint = "check GEMINI_API_KEY" if code in (400, 401, 403) else \
                "check GEMINI_MODEL / GEMINI_EMBEDDING_MODEL" if code == 404 else "check GEMINI_BASE_URL / network"
            yield "FAIL", "gemini", f"model {model}: {code} {getattr(exc, 'message', exc)} — {hint}"[:300]


def _slack():
    token = os.environ.get("SLACK_BOT_TOKEN", "")
    if not token:
        yield "skip", "slack", "SLACK_BOT_TOKEN is empty: the bot cannot connect (faqbot chat still works)"
        return
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError

    url = os.environ.get("SLACK_API_URL", "https://slack.com/api/")
    try:
        auth = WebClient(token=token, base_url=url, timeout=10).auth_test()
        yield "ok", "slack", f"auth.test ok: bot {auth.get('user')} in team {auth.get('team')}"
    except SlackApiError as exc:
        yield "FAIL", "slack", f"auth.test: {exc.response.get('error')} — check SLACK_BOT_TOKEN"
    except Exception as exc:
        yield "FAIL", "slack", f"cannot reach {url} ({type(exc).__name__}) — check SLACK_API_URL"
    mode = "Socket Mode" if os.environ.get("SLACK_APP_TOKEN") else "HTTP mode"
    if mode == "HTTP mode" and not os.environ.get("SLACK_SIGNING_SECRET"):
        yield "FAIL", "slack", "HTTP mode needs SLACK_SIGNING_SECRET (or set SLACK_APP_TOKEN for Socket Mode)"
    else:
        yield "ok", "slack", mode
