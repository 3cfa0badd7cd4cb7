"""Build the Bolt app and the objects behind it (state, intake, responder).

Path of a mention: serve.py (HTTP/Socket Mode) → Bolt → listeners/mention.py
→ jobs.Intake.submit (dedupe + durable job) → worker → reply.Responder.handle
→ rag_core.Pipeline.ask → blocks.answer_blocks → chat.postMessage.
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
from .jobs import AckGate, Intake
from .listeners import register_all
from .reply import Responder
from .state import State

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


def warm_up(pipeline) -> None:
    """Open Milvus and build the embedder/answerer before the first question (never fatal)."""
    try:
        pipeline.warm_up()
    except Exception as exc:  # Milvus down at start: /healthz says degraded, answers apologise
        log.warning("warm-up failed (will retry on the first question): %s", exc)


def milvus_status(store) -> str:
    """"ok" or "unavailable: <why>" (what /healthz reports)."""
    try:
        store.ping()
        return "ok"
    except Exception as exc:
        return f"unavailable: {str(exc)[:200]}"


class Bot:
    """Everything the listeners need, in one place."""

    def __init__(self, settings, pipeline, state: State | None = None, client: WebClient | None = None,
                 socket_mode: bool | None = None):
        self.settings = settings
        self.socket_mode = settings.socket_mode if socket_mode is None else socket_mode
        self.pipeline = pipeline
        self.state = state or State(settings.state_db)
        self.client = client or web_client(settings)
        self.bot_user_id: str | None = None
        self.gate = AckGate()
        self.responder = Responder(self.client, pipeline, self.state, settings, gate=self.gate)
        if settings.answer_process:  # answers in a child process: see answer_process.py
            from .answer_process import ProcessIntake

            self.intake = ProcessIntake(self.state, self.responder.notify, pipeline.settings, settings,
                                        workers=settings.workers, queue_size=settings.queue_size,
                                        rate_limit=settings.rate_limit)
        else:
            self.intake = Intake(self.state, self.responder.handle, self.responder.notify,
                                 workers=settings.workers, queue_size=settings.queue_size,
                                 rate_limit=settings.rate_limit)
        self._side = ThreadPoolExecutor(2, thread_name_prefix="side")
        self.app = self._build_app()

    def _build_app(self) -> App:
        try:
            auth = self.client.auth_test()
        except SlackApiError as exc:
            raise ServeError(f"SLACK_BOT_TOKEN was rejected by Slack ({exc.response.get('error')}).") from None
        except Exception as exc:
            raise ServeError(f"Cannot reach Slack at SLACK_API_URL={self.settings.slack_api_url} ({exc}).") from None
        self.bot_user_id = auth.get("user_id")
        self.responder.bot_user_id = self.bot_user_id
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
            return BoltResponse(status=500, body="")

        return app

    # ---- lifecycle ------------------------------------------------------------------
    def start(self) -> None:
        # Acks do a little I/O (SQLite) between CPU work; with CPython's default 5 ms switch
        # interval every I/O can cost an ack thread a 5 ms wait to get the GIL back (convoy effect).
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        self.intake.bot_user_id = self.bot_user_id
        self.gate.shared = getattr(self.intake, "acks_in_flight", None)  # answer process pauses for acks
        self.intake.start()
        self.intake.recover()
        self._stopping = threading.Event()
        threading.Thread(target=self._maintain, name="state-maintenance", daemon=True).start()
        if not self.settings.answer_process:  # else the answer process owns Milvus and warms it up
            self.later(warm_up, self.pipeline)

    @property
    def owns_milvus(self) -> bool:
        """False when the answer process opens Milvus (this process must not touch a Lite file)."""
        return not self.settings.answer_process

    def _maintain(self, every_s: float = 5.0) -> None:
        """WAL checkpoints off the ack path; old dedupe keys and finished jobs pruned hourly."""
        last_prune = 0.0
        while not self._stopping.wait(every_s):
            try:
                self.state.checkpoint()
                if time.monotonic() - last_prune > 3600:
                    self.state.prune()
                    last_prune = time.monotonic()
            except Exception as exc:
                log.warning("state maintenance failed: %s", exc)

    def stop(self) -> None:
        if hasattr(self, "_stopping"):
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
        if all(self.state.remember(k) for k in keys):
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
