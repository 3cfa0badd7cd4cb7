"""Run the bot's two roles: `faqbot serve` (acknowledge) and `faqbot worker` (answer).

serve, HTTP:   POST /slack/events (events, commands, interactivity) · GET /healthz · GET /metrics
serve, Socket: Slack's WebSocket via slack_sdk's built-in client; /healthz and /metrics still on PORT.
worker:        GET /healthz · GET /metrics on PORT.

One machine (FAQBOT_STATE_URL empty: the SQLite state file): serve starts its worker itself, as a
child process (local_worker.py) or, with FAQBOT_ANSWER_PROCESS=false, on threads. With
FAQBOT_STATE_URL (PostgreSQL) serve only acknowledges unless `--worker` asks for one, and any
number of serve and `faqbot worker` replicas share the queue.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time

from rag_core.errors import ServeError

log = logging.getLogger(__name__)

DRAIN_S = 10.0  # SIGTERM: how long answers in progress may take before their jobs are released


class Health:
    """What /healthz and /metrics report for one process: the job store, and the answering side
    (Milvus, answers in flight) when this process has one. Store numbers are cached for 2 s."""

    def __init__(self, role: str, store, settings, intake=None, answering=None):
        self.role, self.store, self.settings = role, store, settings
        self.intake, self.answering = intake, answering
        self.started = time.time()
        self._lock = threading.Lock()
        self._checked = 0.0
        self._state: tuple[str, dict] = ("unknown", {})

    def state(self) -> tuple[str, dict]:
        with self._lock:
            if time.monotonic() - self._checked > 2.0:
                try:
                    self._state = ("ok", self.store.stats())
                except Exception as exc:
                    self._state = (f"unavailable: {str(exc)[:200]}", {})
                self._checked = time.monotonic()
            return self._state

    def report(self) -> tuple[int, dict]:
        state, stats = self.state()
        answering = self.answering.status() if self.answering is not None else None
        milvus = answering["milvus"] if answering else "not used by this process"
        healthy = state == "ok" and (answering is None or milvus == "ok")
        body = {
            "status": "ok" if healthy else "degraded",
            "role": self.role,
            "state": state,
            "milvus": milvus,
            "queue_depth": stats.get("queue_depth", 0),
            "oldest_waiting_s": round(stats.get("oldest_waiting_s", 0.0), 1),
            "in_flight": answering["in_flight"] if answering else 0,
            "workers": self.settings.workers if answering else 0,
            "queue_size": self.settings.queue_size,
            "stats": (dict(self.intake.stats) if self.intake else {}) | (answering["stats"] if answering else {}),
            "uptime_s": round(time.time() - self.started, 1),
        }
        return (200 if healthy else 503), body


def wsgi_app(health: Health, slack_app=None):
    from slack_bolt.adapter.wsgi import SlackRequestHandler

    slack = SlackRequestHandler(slack_app, path="/slack/events") if slack_app is not None else None

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

            data, content_type = render(health)
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


def make_server(app, port: int, host: str = "0.0.0.0"):
    from waitress.server import create_server

    try:
        return create_server(app, host=host, port=port, threads=8, channel_timeout=30, ident="faqbot",
                             clear_untrusted_proxy_headers=True)
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


def _settings(http: bool = False):
    from rag_core.config import load

    from .settings import load_bot_settings

    bot_settings = load_bot_settings()
    if not bot_settings.slack_bot_token:
        raise ServeError("SLACK_BOT_TOKEN is not set: create the Slack app from manifest.yml and copy its "
                         "Bot User OAuth Token (xoxb-…).")
    return bot_settings, load()


def local_answering(bot, rag_settings, in_process: bool, pipeline=None):
    """The worker `serve` starts on one machine: a child process, or threads in this one."""
    from .local_worker import LocalWorker, start_local

    if not in_process:
        return LocalWorker(rag_settings, bot.settings, bot.bot_user_id, acks=bot.gate.shared).start()
    from rag_core.pipeline import Pipeline

    from .answering import check_milvus

    pipeline = pipeline or Pipeline(rag_settings)
    check_milvus(pipeline)
    return start_local(pipeline, bot.settings, bot.store, bot.client, bot.bot_user_id, bot.gate.shared)


def run_until_stopped(server, on_stop) -> None:
    """Serve until SIGTERM/SIGINT, then `on_stop()` (release work, close connections)."""
    stop = threading.Event()

    def shutdown(*_):
        stop.set()
        server.close()

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    try:
        server.run()
    except (OSError, ValueError):
        if not stop.is_set():
            raise
    finally:
        on_stop()


def serve(http: bool = False, port: int | None = None, worker: bool | None = None) -> int:
    from .app import Bot
    from .jobstore import open_store
    from .logs import configure

    bot_settings, rag_settings = _settings()
    configure(bot_settings.log_format)
    socket_mode = bot_settings.socket_mode and not http
    if not socket_mode and not bot_settings.slack_signing_secret:
        raise ServeError("SLACK_SIGNING_SECRET is not set: HTTP mode refuses to start without it "
                         "(or set SLACK_APP_TOKEN for Socket Mode).")
    store = open_store(bot_settings.state_db, bot_settings.state_url)
    bot = Bot(bot_settings, store, socket_mode=socket_mode)
    health = Health("serve", store, bot_settings, intake=bot.intake)
    port = port or bot_settings.port
    server = make_server(wsgi_app(health, None if socket_mode else bot.app), port)  # a taken port fails first
    with_worker = worker if worker is not None else not bot_settings.state_url
    if with_worker:
        health.answering = local_answering(bot, rag_settings, not bot_settings.answer_process)
    answering = health.answering
    bot.start()
    handler = None
    if socket_mode:
        handler = socket_handler(bot)
        handler.connect()
        log.info("Socket Mode connected; /healthz on port %s", port)
    else:
        log.info("HTTP mode: POST /slack/events and GET /healthz on port %s", port)

    def on_stop():
        if handler is not None:
            handler.close()  # no more events reach this replica; Slack sends them to the others
        bot.stop()
        if answering is not None:
            answering.stop(DRAIN_S)
        store.close()

    run_until_stopped(server, on_stop)
    return 0


def work(port: int | None = None) -> int:
    """`faqbot worker`: claim and answer jobs; /healthz and /metrics on PORT."""
    from rag_core.pipeline import Pipeline

    from .answering import Answering, check_milvus
    from .app import auth, web_client
    from .jobstore import open_store
    from .logs import configure
    from .worker import owner_name

    bot_settings, rag_settings = _settings()
    configure(bot_settings.log_format)
    client = web_client(bot_settings)
    identity = auth(client, bot_settings)
    store = open_store(bot_settings.state_db, bot_settings.state_url)
    pipeline = Pipeline(rag_settings)
    check_milvus(pipeline)
    answering = Answering(pipeline, bot_settings, store, client, identity.get("user_id"), owner_name("worker"))
    health = Health("worker", store, bot_settings, answering=answering)
    port = port or bot_settings.port
    server = make_server(wsgi_app(health), port)
    answering.start()
    log.info("worker %s: answering; /healthz and /metrics on port %s", answering.worker.owner, port)

    def on_stop():
        answering.stop(DRAIN_S)
        store.close()

    run_until_stopped(server, on_stop)
    return 0
