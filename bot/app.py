"""The serve side: the Bolt app and the few things its listeners use.

Path of a mention: serve.py (HTTP or Socket Mode) → Bolt → listeners/mention.py → intake.py
(dedupe + durable job in the store, then the 200) … worker.py (claims it) → reply.py (answers)
→ posting.py / blocks.py (the reply in the thread).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from slack_bolt import App, BoltResponse
from slack_bolt.error import BoltError
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

from rag_core.errors import ServeError

from . import blocks
from .ackgate import AckGate
from .intake import DEPTH_EVERY_S, Intake
from .jobstore import JobStore
from .listeners import register_all
from .meta import save_workspace_url
from .posting import Poster

log = logging.getLogger(__name__)

SWITCH_INTERVAL_S = 0.0005


class _NotTokenSkipped(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN from the environment on its own and then warns at every start
    that our WebClient (which carries that token and the retry handlers) takes precedence."""

    def filter(self, record: logging.LogRecord) -> bool:
        from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped

        return record.getMessage() != warning_client_prioritized_and_token_skipped()


_BOLT_LOG = logging.getLogger("bot.bolt")
_BOLT_LOG.addFilter(_NotTokenSkipped())


def web_client(settings, token: str | None = None) -> WebClient:
    client = WebClient(token=token or settings.slack_bot_token, base_url=settings.slack_api_url, timeout=15)
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=3))
    client.retry_handlers.append(ConnectionErrorRetryHandler(max_retry_count=2))
    return client


def auth(client: WebClient, settings) -> dict:
    """auth.test, with errors that name the setting to fix."""
    try:
        return client.auth_test().data
    except SlackApiError as exc:
        raise ServeError(f"SLACK_BOT_TOKEN was rejected by Slack ({exc.response.get('error')}).") from None
    except Exception as exc:
        raise ServeError(f"Cannot reach Slack at SLACK_API_URL={settings.slack_api_url} ({exc}).") from None


class Bot:
    """What the listeners use: settings, the Slack client, the job store and the intake."""

    def __init__(self, settings, store: JobStore, client: WebClient | None = None, socket_mode: bool | None = None):
        self.settings = settings
        self.socket_mode = settings.socket_mode if socket_mode is None else socket_mode
        self.store = store
        self.client = client or web_client(settings)
        self.poster = Poster(self.client, store)
        self.intake = Intake(store, self.poster.notify, rate_limit=settings.rate_limit, queue_size=settings.queue_size)
        self.bot_user_id: str | None = None
        self.identity: dict = {}
        self.gate = AckGate()  # the local worker pauses while this process acknowledges
        self._side = ThreadPoolExecutor(2, thread_name_prefix="side")
        self._stopping = threading.Event()
        self.app = self._build_app()

    def _build_app(self) -> App:
        self.identity = auth(self.client, self.settings)
        self.bot_user_id = self.identity.get("user_id")
        try:
            save_workspace_url(self.store, self.identity)  # thread links in the App Home and `faqbot report`
        except Exception as exc:
            log.warning("workspace URL not stored: %s", exc)
        try:
            app = App(
                client=self.client,
                signing_secret=self.settings.slack_signing_secret or None,
                request_verification_enabled=not self.socket_mode,  # HTTP requests are always signed
                token_verification_enabled=False,  # done above, with a clear error
                process_before_response=True,  # the job is stored before Slack gets its ack
                ignoring_self_events_enabled=True,
                logger=_BOLT_LOG,
            )
        except BoltError as exc:
            raise ServeError(f"Cannot build the Slack app: {exc}") from None
        register_all(app, self)
        app.dispatch = self.gate.wrap(app.dispatch)  # HTTP and Socket Mode both come through here

        @app.error
        def on_error(error, request):
            kind = (request.body or {}).get("type") if isinstance(request.body, dict) else None
            if isinstance(error, (KeyError, TypeError, ValueError, AttributeError, IndexError)):
                # a payload of a shape we don't understand: retrying it will not help
                log.warning("ignored a malformed %s payload: %s: %s", kind, type(error).__name__, error)
                return BoltResponse(status=200, body="")
            log.error("listener failed on a %s payload (%s: %s); Slack will redeliver",
                      kind, type(error).__name__, error)
            return BoltResponse(status=500, body="")  # e.g. the job store is unreachable: never a 200

        return app

    # ---- lifecycle ------------------------------------------------------------------
    def start(self) -> None:
        # Acks do a little I/O (the store) between CPU work; with CPython's default 5 ms switch
        # interval every I/O can cost an ack thread a 5 ms wait to get the GIL back (convoy effect).
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        threading.Thread(target=self._maintain, name="state-maintenance", daemon=True).start()

    def _maintain(self, every_s: float = DEPTH_EVERY_S) -> None:
        """Off the ack path: the backlog estimate each second; old dedupe keys and jobs pruned hourly."""
        last_prune = time.monotonic()
        ticks = 0
        while not self._stopping.wait(every_s):
            ticks += 1
            try:
                self.intake.refresh()
                checkpoint = getattr(self.store, "checkpoint", None)
                if checkpoint is not None and ticks % 5 == 0:
                    checkpoint()  # SQLite: WAL checkpoints off the ack path
                if time.monotonic() - last_prune > 3600:
                    self.store.prune()
                    last_prune = time.monotonic()
            except Exception as exc:
                log.warning("state maintenance failed: %s", exc)

    def stop(self) -> None:
        self._stopping.set()
        self.intake.stop()
        self._side.shutdown(wait=False)

    # ---- small side jobs (never on the ack path) -------------------------------------------
    def later(self, fn, *args) -> None:
        def run():
            try:
                fn(*args)
            except Exception:
                log.exception("side job %s failed", getattr(fn, "__name__", fn))

        self._side.submit(run)

    def usage_once(self, keys: list[str], channel: str, thread_ts: str) -> None:
        if all(self.store.remember(k) for k in keys):
            self.later(lambda: self.client.chat_postMessage(
                channel=channel, thread_ts=thread_ts, text=blocks.error_text("empty"),
                blocks=blocks.usage_blocks()))

    def ephemeral(self, body: dict, text: str) -> None:
        channel = (body.get("channel") or {}).get("id")
        message = body.get("message") or {}
        self.client.chat_postEphemeral(channel=channel, user=body["user"]["id"], text=text,
                                       thread_ts=message.get("thread_ts") or message.get("ts"))

    def escalate(self, body: dict) -> None:
        channel = (body.get("channel") or {}).get("id")
        message = body.get("message") or {}
        thread_ts = message.get("thread_ts") or message.get("ts")
        user = body["user"]["id"]
        targets = " ".join(f"<!subteam^{i}>" if i.startswith("S") else f"<@{i}>"
                           for i in self.settings.escalation_ids)
        if not targets:
            self.ephemeral(body, "No escalation contacts are configured (FAQBOT_ESCALATION); "
                                 "please ask your team in the channel.")
            return
        self.client.chat_postMessage(channel=channel, thread_ts=thread_ts,
                                     text=f"{targets} — <@{user}> still needs help with this question.")
