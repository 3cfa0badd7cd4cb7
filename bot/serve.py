"""Run the bot: HTTP mode (waitress, a production WSGI server) or Socket Mode.

HTTP:   POST /slack/events (events, commands, interactivity) · GET /healthz · GET /metrics
Socket: Slack's WebSocket via slack_sdk's built-in client; /healthz and /metrics still on PORT.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time

from rag_core.errors import ServeError
from rag_core.store import StoreError, StoreLocked

log = logging.getLogger(__name__)


class Health:
    """Queue depth, in-flight answers and whether Milvus answers (cached for 2 s)."""

    def __init__(self, bot):
        self.bot = bot
        self._checked = 0.0
        self._milvus = "unknown"
        self._lock = threading.Lock()
        self.started = time.time()

    def milvus(self) -> str:
        if not self.bot.owns_milvus:
            return self.bot.intake.milvus_status  # reported by the answer process every 2 s
        with self._lock:
            if time.monotonic() - self._checked > 2.0:
                from .app import milvus_status

                self._milvus = milvus_status(self.bot.pipeline.store)
                self._checked = time.monotonic()
            return self._milvus

    def report(self) -> tuple[int, dict]:
        milvus = self.milvus()
        intake = self.bot.intake
        body = {
            "status": "ok" if milvus == "ok" else "degraded",
            "milvus": milvus,
            "queue_depth": intake.depth,
            "in_flight": intake.in_flight,
            "workers": self.bot.settings.workers,
            "queue_size": self.bot.settings.queue_size,
            "stats": dict(intake.stats),
            "uptime_s": round(time.time() - self.started, 1),
        }
        return (200 if milvus == "ok" else 503), body


def wsgi_app(bot, health: Health, with_slack: bool = True):
    from slack_bolt.adapter.wsgi import SlackRequestHandler

    slack = SlackRequestHandler(bot.app, path="/slack/events") if with_slack else None

    def app(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == "/healthz" and environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            status, body = health.report()
            data = json.dumps(body).encode()
            start_response(f"{status} {'OK' if status == 200 else 'Service Unavailable'}",
                           [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
            return [data]
        if path == "/metrics" and environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            from .metrics import render

            data, content_type = render(bot, health)
            start_response("200 OK", [("Content-Type", content_type), ("Content-Length", str(len(data)))])
            return [data]
        if slack is not None and path == "/slack/events":
            try:
                return slack(environ, start_response)
            except Exception as exc:  # Bolt parses the body (and builds a context) before checking it
                log.warning("rejected a request Bolt could not parse (%s: %s)", type(exc).__name__, str(exc)[:200])
                start_response("400 Bad Request", [("Content-Type", "text/plain")])
                return [b"Bad Request"]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"Not Found"]

    return app


def build_bot(http: bool = False):
    """Settings checked first (no network), then Slack's auth.test, then the Bolt app."""
    from rag_core.config import load
    from rag_core.pipeline import Pipeline

    from .app import Bot
    from .settings import load_bot_settings

    bot_settings = load_bot_settings()
    rag_settings = load()
    if not bot_settings.slack_bot_token:
        raise ServeError("SLACK_BOT_TOKEN is not set: create the Slack app from manifest.yml and copy its "
                         "Bot User OAuth Token (xoxb-…).")
    socket_mode = bot_settings.socket_mode and not http
    if not socket_mode and not bot_settings.slack_signing_secret:
        raise ServeError("SLACK_SIGNING_SECRET is not set: HTTP mode refuses to start without it "
                         "(or set SLACK_APP_TOKEN for Socket Mode).")
    return Bot(bot_settings, Pipeline(rag_settings), socket_mode=socket_mode)


def make_server(bot, port: int, host: str = "0.0.0.0", with_slack: bool = True):
    from waitress.server import create_server

    health = Health(bot)
    try:
        return create_server(wsgi_app(bot, health, with_slack), host=host, port=port, threads=8,
                             channel_timeout=30, ident="faqbot", clear_untrusted_proxy_headers=True)
    except OSError as exc:
        raise ServeError(f"Cannot listen on port {port} ({exc.strerror}); set PORT to a free port.") from None


def socket_handler(bot, ping_interval: float = 5):
    """Socket Mode via slack_sdk's built-in client (no extra packages); reconnects on its own."""
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    from .app import web_client

    settings = bot.settings
    return SocketModeHandler(bot.app, app_token=settings.slack_app_token,
                             web_client=web_client(settings, settings.slack_app_token),
                             ping_interval=ping_interval, trace_enabled=False,
                             all_message_trace_enabled=False, ping_pong_trace_enabled=False)


def serve(http: bool = False, port: int | None = None) -> int:
    from .logs import configure
    from .settings import load_bot_settings

    configure(load_bot_settings().log_format)
    bot = build_bot(http=http)
    settings = bot.settings
    port = port or settings.port
    socket_mode = bot.socket_mode
    if bot.owns_milvus:  # else the answer process does all of this
        try:
            bot.pipeline.store.ping()  # a locked Lite file is fatal; a server that is down is not
        except StoreLocked:
            raise
        except StoreError as exc:
            log.warning("starting degraded — %s (answers resume when Milvus is back)", exc)
        from .reindex import start_reindexer

        start_reindexer(bot.pipeline, settings.reindex_seconds)
    server = make_server(bot, port, with_slack=not socket_mode)  # a taken port fails before anything starts
    bot.start()
    stop = threading.Event()

    def shutdown(*_):
        stop.set()
        server.close()

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    handler = None
    if socket_mode:
        handler = socket_handler(bot)
        handler.connect()
        log.info("Socket Mode connected; /healthz on port %s", port)
    else:
        log.info("HTTP mode: POST /slack/events and GET /healthz on port %s", port)
    try:
        server.run()
    except (OSError, ValueError):
        if not stop.is_set():
            raise
    finally:
        if handler is not None:
            handler.close()
        bot.stop()
    return 0
