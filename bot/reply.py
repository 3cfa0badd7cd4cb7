"""The worker's side: one job in, one answer (or one short apology) out.

Progress shows within a second (a 👀 reaction, or the assistant status), the
answer is streamed by posting it early and editing it as Gemini writes, and
the final message is Block Kit built by `blocks.answer_blocks`. Every failure
ends in a short reply in user terms: never silence. `handle` returns how the
job ended; the worker records it (only the lease holder can).
"""

from __future__ import annotations

import logging
import re
import time

from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from rag_core.answer import Turn
from rag_core.embedders import EmbeddingError
from rag_core.store import StoreError

from . import blocks
from .ackgate import no_pause
from .insights import classify_outcome
from .jobstore import Outcome
from .jobstore import Job, JobStatus, StateUnavailable
from .kinds import Progress, rules
from .posting import Poster, asker
from .stream import LiveAnswer

log = logging.getLogger(__name__)

THINKING_REACTION = "eyes"
MAX_QUESTION_CHARS = 4000
NO_CHANNEL = ("not_in_channel", "channel_not_found", "is_archived")


def clean_question(text: str, bot_user_id: str | None = None) -> str:
    """Slack message text -> the plain question (bot mention removed, entities decoded)."""
    if bot_user_id:
        text = re.sub(rf"<@{re.escape(bot_user_id)}(?:\|[^>]*)?>", " ", text or "")
    text = (text or "").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    text = re.sub(r"\s+", " ", text).strip()
    return text[:MAX_QUESTION_CHARS]


def outcome(answer) -> Outcome:
    """What the insights report counts this answer as (an AI answer saying the docs don't cover the
    question counts as not covered, so keyless and AI bots both report gaps)."""
    return classify_outcome(getattr(answer, "mode", "") or "", getattr(answer, "confident", True), answer.answer)


class Responder:
    """Answers jobs: retrieval and Gemini through the pipeline, Slack through the poster."""

    def __init__(self, poster: Poster, pipeline, settings, bot_user_id: str | None = None, pause=None):
        self.poster = poster
        self.client = poster.client
        self.store = poster.store
        self.pipeline = pipeline
        self.settings = settings
        self.bot_user_id = bot_user_id
        self.pause = pause or no_pause  # acks first (bot/ackgate.py)
        self.errors = {"milvus": 0, "gemini": 0, "slack": 0, "internal": 0}  # for /metrics

    # ---- the job ----------------------------------------------------------------------
    def handle(self, job: Job) -> tuple[JobStatus, str | None]:
        """Answer one claimed job; returns how it ended (status, error) for the worker to record."""
        kind = rules(job.kind)
        reacted = False
        live: LiveAnswer | None = None
        writes = self.pipeline.answerer is not None  # Gemini writes (and streams) the answer
        default_version = self.settings.channel_version_map.get(job.channel)
        try:
            self.pause()
            if not kind.confident_only:  # visible within a second, before any slow call
                reacted = self._progress(job)
                if writes and not kind.posts_question:
                    live = self._live(job, self._version_hint(job, default_version))
            self.pause()
            retrieval = self.pipeline.search(job.question, default_version=default_version)
            if kind.confident_only:
                if not retrieval.confident:
                    return JobStatus.SKIPPED, None  # unsure in a support channel: stay quiet
                reacted = self._progress(job)
            if kind.posts_question and not job.thread_ts and not job.response_url_only:
                self._post_question(job)
            if writes and live is None and not job.response_url_only:
                live = self._live(job, retrieval.version)
            if live is not None:
                live.writing()
            answer = self.pipeline.ask(job.question, history=self._history(job),
                                       on_delta=live.push if live else None, retrieval=retrieval)
            self.pause()
            self._deliver(job, answer, live)
            return JobStatus.DONE, None
        except (StoreError, EmbeddingError) as exc:
            log.error("job %s: retrieval failed: %s", job.id, exc)
            return self._apologise(job, "milvus", str(exc), live)
        except SlackApiError as exc:
            error = exc.response.get("error")
            log.error("job %s: Slack API error %s%s", job.id, error,
                      " — check SLACK_BOT_TOKEN" if error in ("invalid_auth", "not_authed", "token_revoked") else "")
            return self._apologise(job, "slack", f"slack:{error}", live)
        except StateUnavailable:
            if live is not None:
                live.abandon()
            raise  # the job store is down: the worker puts the job back (no apology for a question it will answer)
        except Exception as exc:
            log.exception("job %s: unexpected error", job.id)
            return self._apologise(job, "internal", type(exc).__name__, live)
        finally:
            if reacted:
                self._safe(self.client.reactions_remove, channel=job.channel, timestamp=job.ts,
                           name=THINKING_REACTION)

    def _version_hint(self, job: Job, default_version: str | None) -> str | None:
        """Which docs version retrieval will search (for the progress line shown before it runs)."""
        try:
            return self.pipeline.route(job.question, default_version=default_version).version
        except Exception:  # Milvus down: the search itself will say so
            return None

    def _live(self, job: Job, version: str | None) -> LiveAnswer:
        """The answer's message: a native stream (opened now, with the plan) or post + edit."""
        native = self.settings.streaming == "native"
        if native and job.attempts > 1 and not job.reply_ts:
            self.poster.find_reply(job)  # an earlier attempt's reply: edit it, don't stream a second one
        live = LiveAnswer(self.poster, job, native=native and not job.reply_ts)
        live.searching(version)
        return live

    def _apologise(self, job: Job, kind: str, error: str, live: LiveAnswer | None = None) -> tuple[JobStatus, str]:
        self.errors[kind] = self.errors.get(kind, 0) + 1
        if live is not None:
            live.abandon()
        try:
            self.poster.notify(job, kind)
            return JobStatus.FAILED, error[:500]
        except Exception as exc:
            log.error("job %s: could not even apologise (%s)", job.id, exc)
            return JobStatus.FAILED, f"{error[:400]}; apology failed"

    # ---- progress & context --------------------------------------------------------------
    def _progress(self, job: Job) -> bool:
        """Show that the bot is on it; True if a reaction was added (removed when done)."""
        progress = rules(job.kind).progress
        if progress == Progress.STATUS:
            self._safe(self.client.assistant_threads_setStatus, channel_id=job.channel,
                       thread_ts=job.thread_ts, status="is searching the Milvus docs…")
        elif progress == Progress.REACTION and job.ts:
            try:
                self.client.reactions_add(channel=job.channel, timestamp=job.ts, name=THINKING_REACTION)
            except SlackApiError as exc:  # already there: an earlier attempt added it, this one removes it
                if exc.response.get("error") != "already_reacted":
                    log.info("reactions_add failed: %s", exc.response.get("error"))
                    return False
            return True
        return False

    def _history(self, job: Job) -> list[Turn]:
        if not job.thread_ts or not job.ts or job.thread_ts == job.ts or rules(job.kind).posts_question:
            return []
        try:
            resp = self.client.conversations_replies(channel=job.channel, ts=job.thread_ts, limit=50)
        except SlackApiError as exc:
            log.info("no thread history (%s)", exc.response.get("error"))
            return []
        turns = []
        for msg in resp.get("messages", []):
            if float(msg.get("ts", 0)) >= float(job.ts):
                continue
            mine = msg.get("user") == self.bot_user_id or (msg.get("bot_id") and msg.get("bot_profile"))
            text = clean_question(msg.get("text", ""), self.bot_user_id)
            if text:
                turns.append(Turn("assistant" if mine else "user", text))
        return turns[-10:]

    # ---- posting ------------------------------------------------------------------------
    def _post_question(self, job: Job) -> None:
        """/milvus: the question goes to the channel, the answer into its thread."""
        text = f"{asker(job)} asked: {blocks.escape(job.question)}"
        try:
            resp = self.client.chat_postMessage(channel=job.channel, text=text[:3000], unfurl_links=False)
        except SlackApiError as exc:
            if exc.response.get("error") in NO_CHANNEL and job.response_url:
                job.response_url_only = True
                self.store.update(job.id, response_url_only=1)
                return
            raise
        job.thread_ts = resp["ts"]
        self.store.update(job.id, thread_ts=job.thread_ts)

    def _deliver(self, job: Job, answer, live: LiveAnswer | None) -> None:
        answer_id = f"a{job.id}"
        if self.pipeline.answerer is not None and answer.mode != "gemini" and answer.retrieval.hits:
            self.errors["gemini"] += 1  # Gemini failed or was blocked: the extractive answer stands in
        latency = round(time.time() - job.created, 3) if job.created else None
        self.store.save_answer(answer_id, job, answer=answer.answer, mode=getattr(answer, "mode", "") or "",
                               outcome=outcome(answer), sources=list(answer.sources or []),
                               version=getattr(answer, "version", None), latency_s=latency)
        note = answer.note
        if len(job.question) >= MAX_QUESTION_CHARS:
            note = ((note + " ") if note else "") + "Your question was long, so I used its first 4,000 characters."
        look = {"answer_id": answer_id, "note": note, "escalation": bool(self.settings.escalation_ids),
                "version": answer.version}
        kit = blocks.answer_blocks(answer.answer, answer.sources, **look)
        text = blocks.fallback_text(answer.answer)
        if job.response_url_only:
            question = blocks.escape(job.question)[:2900]
            WebhookClient(job.response_url).send(
                response_type="in_channel", text=text,
                blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": f"{asker(job)} asked: {question}",
                                                     "verbatim": True}}] + kit)
            return
        try:
            if live is not None:
                live.finish(answer.answer, text, kit, blocks.footer_blocks(answer.sources, **look),
                            streamed_is_final=answer.mode == "gemini")
            else:
                self.poster.post_or_update(job, text=text, blocks=kit)
        except SlackApiError as exc:
            if exc.response.get("error") not in ("msg_too_long", "invalid_blocks"):
                raise
            # should not happen (blocks.py keeps to the limits); degrade to a short plain reply
            short = blocks.answer_blocks(blocks.fallback_text(answer.answer, 2500), answer.sources,
                                         **(look | {"escalation": False}))
            self.poster.post_or_update(job, text=text[:2500], blocks=short)

    @staticmethod
    def _safe(fn, **kwargs) -> bool:
        try:
            fn(**kwargs)
            return True
        except SlackApiError as exc:
            log.info("%s failed: %s", getattr(fn, "__name__", "call"), exc.response.get("error"))
            return False
        except Exception as exc:
            log.info("%s failed: %s", getattr(fn, "__name__", "call"), exc)
            return False
