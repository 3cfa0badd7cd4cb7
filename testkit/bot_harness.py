"""Run the real bot (Bolt + waitress + workers + Milvus Lite) against the fake Slack and Gemini."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from rag_core.config import load
from rag_core.pipeline import Pipeline
from testkit.fakes import slack_payloads as sp

SECRET = "test-signing-secret-0123456789"


def wait_until(pred, timeout=20.0, every=0.05):
    """Poll `pred` until it returns something truthy (returned) or fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(every)
    raise AssertionError("condition not met in time")


class BotHarness:
    def __init__(self, tmp_path: Path, slack, gemini=None, ingest: bool = True, **env):
        from bot.settings import load_bot_settings

        self.tmp = tmp_path
        self.slack = slack
        self.gemini = gemini
        rag_env = {"MILVUS_URI": str(tmp_path / "milvus.db"), "FAQBOT_CACHE_DIR": str(tmp_path / "cache"),
                   "FAQBOT_DOCS_SOURCE": env.pop("FAQBOT_DOCS_SOURCE", None) or str(
                       Path(__file__).resolve().parents[2] / "shared/data/milvus_docs_2.4.x_en.zip")}
        if gemini is not None:
            rag_env |= {"GEMINI_API_KEY": gemini.api_key, "GEMINI_BASE_URL": gemini.base_url,
                        "GEMINI_TIMEOUT": env.pop("GEMINI_TIMEOUT", "5")}
        rag_env |= {k: v for k, v in env.items() if not k.startswith(("SLACK_", "FAQBOT_S", "FAQBOT_E", "FAQBOT_R", "FAQBOT_CHANNEL",
                                                                          "FAQBOT_W", "FAQBOT_Q", "FAQBOT_A", "FAQBOT_L", "PORT"))}
        self.rag_settings = load(**rag_env)
        bot_env = {"SLACK_BOT_TOKEN": slack.bot_token, "SLACK_SIGNING_SECRET": SECRET,
                   "SLACK_API_URL": slack.api_url, "FAQBOT_STATE_DB": str(tmp_path / "state.db")}
        # answers on threads in this process unless a test asks for the answer process (serve's default)
        bot_env |= {"FAQBOT_ANSWER_PROCESS": "false"}
        # answers are posted and edited unless a test asks for Slack's native streaming (serve's default;
        # tests/test_streaming.py): most tests count chat.postMessage calls
        bot_env |= {"FAQBOT_STREAMING": "edit"}
        bot_env |= {k: v for k, v in env.items() if k not in rag_env}
        self.bot_settings = load_bot_settings(**bot_env)
        self.pipeline = Pipeline(self.rag_settings)
        if ingest:
            self.pipeline.ingest()
        if self.bot_settings.answer_process:
            self.pipeline.store.close()  # the answer process opens the Lite file
        self.bot = None
        self.server = None

    def start(self, worker: bool = True):
        """serve as `faqbot serve` runs it on one machine (its worker on threads here, or in a child
        process with FAQBOT_ANSWER_PROCESS=true); worker=False: acknowledge only, like a serve replica."""
        from bot.app import Bot
        from bot.jobstore import open_store
        from bot.serve import Health, local_answering, make_server, wsgi_app

        self.store = open_store(self.bot_settings.state_db, self.bot_settings.state_url)
        self.bot = Bot(self.bot_settings, self.store)
        self.answering = None
        if worker:
            in_process = not self.bot_settings.answer_process
            self.answering = local_answering(self.bot, self.rag_settings, in_process,
                                             pipeline=self.pipeline if in_process else None)
        self.health = Health("serve", self.store, self.bot_settings, intake=self.bot.intake, answering=self.answering)
        self.bot.start()
        self.server = make_server(wsgi_app(self.health, None if self.bot.socket_mode else self.bot.app), 0,
                                  host="127.0.0.1")
        self.port = self.server.effective_port
        self._closing = False
        self.thread = threading.Thread(target=self._run_server, daemon=True)
        self.thread.start()
        return self

    def _run_server(self):
        try:
            self.server.run()
        except (OSError, ValueError):  # its sockets were closed under the select loop by stop()
            if not self._closing:
                raise

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/slack/events"

    def stop(self):
        if self.server is not None:
            self._closing = True
            self.server.close()
        if self.bot is not None:
            self.bot.stop()
            if self.answering is not None:
                self.answering.stop(5.0)
            self.store.close()
        self.pipeline.store.close()

    # ---- requests ----------------------------------------------------------------
    def post_event(self, event: dict, event_id: str | None = None, **kw):
        envelope = sp.event_callback(event, event_id=event_id)
        status, _, body = sp.post_signed(self.url, json.dumps(envelope).encode(), "application/json", SECRET, **kw)
        return status, envelope

    def post_command(self, text: str, **kw):
        payload = sp.slash_command(text, **{k: v for k, v in kw.items() if k in ("channel_id", "user_id",
                                                                                  "response_url")})
        t0 = time.monotonic()
        status, headers, body = sp.post_signed(self.url, sp.form_body(payload),
                                               "application/x-www-form-urlencoded", SECRET)
        return status, body, time.monotonic() - t0, payload

    def post_action(self, action_id: str, value: str, **kw):
        payload = sp.block_actions(action_id, value, **kw)
        status, _, body = sp.post_signed(self.url, sp.interaction_body(payload),
                                         "application/x-www-form-urlencoded", SECRET)
        return status, payload

    def post_interaction(self, payload: dict) -> int:
        """Any interactivity payload (e.g. sp.feedback_click), signed as Slack sends it; the HTTP status."""
        status, _, _ = sp.post_signed(self.url, sp.interaction_body(payload), "application/x-www-form-urlencoded",
                                      SECRET)
        return status

    def idle(self, timeout: float = 20.0) -> bool:
        """Every accepted question finished (none queued or being answered), and notices sent."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            by_status = self.store.stats()["by_status"]
            if not by_status.get("queued") and not by_status.get("running"):
                time.sleep(0.1)  # a notice or the last edit may still be on its way
                by_status = self.store.stats()["by_status"]
                if not by_status.get("queued") and not by_status.get("running"):
                    return True
            time.sleep(0.02)
        return False

    def replies(self, channel: str | None = None) -> list:
        """Answers/notices posted by the bot (chat.postMessage calls that succeeded)."""
        return [c for c in self.slack.calls_to("chat.postMessage")
                if c.response.get("ok") and (channel is None or c.params.get("channel") == channel)]


    def shown(self, call) -> str:
        """What a posted message finally shows (after streaming edits): text plus blocks, as JSON."""
        msg = self.slack.message(call.params["channel"], call.response["ts"]) or call.params
        return json.dumps({"text": msg.get("text"), "blocks": msg.get("blocks")}, ensure_ascii=False)


def all_text(call) -> str:
    """Everything one API call sent: text plus the blocks' JSON."""
    return json.dumps({"text": call.params.get("text"), "blocks": call.params.get("blocks")}, ensure_ascii=False)
