"""The worker's side: one job in, one answer (or one short apology) out.

Progress shows within a second (a 👀 reaction, or the assistant status), the
answer is streamed by posting it early and editing it as Gemini writes, and
the final message is Block Kit built by `blocks.answer_blocks`. Every failure
ends in a short reply in user terms: never silence.
"""

from __future__ import annotations

import logging
import re
import threading
import time

from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from rag_core.answer import Turn
from rag_core.embedders import EmbeddingError
from rag_core.store import StoreError

from . import blocks
from .jobs import AckGate
from .state import Job, State

log = logging.getLogger(__name__)

THINKING_REACTION = "eyes"
STREAM_EVERY_S = 1.0  # chat.update is Tier 3: ~1 edit per second keeps well inside it
MAX_QUESTION_CHARS = 4000
NO_CHANNEL = ("not_in_channel", "channel_not_found", "is_archived")
_USER_ID = re.compile(r"[UW][A-Z0-9]{2,20}")  # the asker of /milvus: the one mention the bot adds itself


def clean_question(text: str, bot_user_id: str | None = None) -> str:
    """Slack message text -> the plain question (bot mention removed, entities decoded)."""
    if bot_user_id:
        text = re.sub(rf"<@{re.escape(bot_user_id)}(?:\|[^>]*)?>", " ", text or "")
    text = (text or "").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    text = re.sub(r"\s+", " ", text).strip()
    return text[:MAX_QUESTION_CHARS]


class _Streamer:
    """Posts the answer when the first words arrive and edits it at most once a second."""

    def __init__(self, responder: "Responder", job: Job):
        self.r, self.job = responder, job
        self.text = ""
        self.last = 0.0
        self.lock = threading.Lock()

    def push(self, delta: str) -> None:
        with self.lock:
            self.text += delta
            now = time.monotonic()
            if now - self.last < STREAM_EVERY_S and self.job.reply_ts:
                return
            self.last = now
            partial = blocks.md_to_mrkdwn(self.text)[:2900] + " …"
            try:
                self.r.post_or_update(self.job, text=partial, blocks=None)
            except SlackApiError as exc:  # streaming is best effort; the final post decides
                log.info("stream update failed: %s", exc.response.get("error"))


REPLY_EVENT = "faqbot_answer"  # message metadata on every answer: which job it belongs to


def reply_metadata(job_id: int) -> dict:
    return {"event_type": REPLY_EVENT, "event_payload": {"job_id": str(job_id)}}


class Responder:
    def __init__(self, client, pipeline, state: State, settings, bot_user_id: str | None = None, gate=None):
        self.gate = gate or AckGate()
        self.client = client
        self.pipeline = pipeline
        self.state = state
        self.settings = settings
        self.bot_user_id = bot_user_id

    # ---- the job ----------------------------------------------------------------------
    def handle(self, job: Job) -> None:
        reacted = False
        try:
            pause = self.gate.yield_to_acks
            pause()
            if job.kind != "support":  # visible within a second, before any slow call
                reacted = self._progress(job)
            pause()
            retrieval = self.pipeline.search(job.question,
                                             default_version=self.settings.channel_version_map.get(job.channel))
            if job.kind == "support":
                if not retrieval.confident:
                    self.state.finish(job.id, status="skipped")  # unsure in a support channel: stay quiet
                    return
                reacted = self._progress(job)
            if job.kind == "command" and not job.thread_ts and not job.response_url_only:
                self._post_question(job)
            streamer = _Streamer(self, job) if self.pipeline.answerer is not None and not job.response_url_only else None
            answer = self.pipeline.ask(job.question, history=self._history(job),
                                       on_delta=streamer.push if streamer else None, retrieval=retrieval)
            pause()
            self._deliver(job, answer)
            self.state.finish(job.id, status="done")
        except (StoreError, EmbeddingError) as exc:
            log.error("job %s: retrieval failed: %s", job.id, exc)
            self._apologise(job, "milvus", str(exc))
        except SlackApiError as exc:
            error = exc.response.get("error")
            log.error("job %s: Slack API error %s%s", job.id, error,
                      " — check SLACK_BOT_TOKEN" if error in ("invalid_auth", "not_authed", "token_revoked") else "")
            self._apologise(job, "slack", f"slack:{error}")
        except Exception as exc:
            log.exception("job %s: unexpected error", job.id)
            self._apologise(job, "internal", type(exc).__name__)
        finally:
            if reacted:
                self._safe(self.client.reactions_remove, channel=job.channel, timestamp=job.ts,
                           name=THINKING_REACTION)

    def _apologise(self, job: Job, kind: str, error: str) -> None:
        try:
            self.notify(job, kind)
            self.state.finish(job.id, status="failed", error=error[:500])
        except Exception as exc:
            log.error("job %s: could not even apologise (%s)", job.id, exc)
            self.state.finish(job.id, status="failed", error=f"{error[:400]}; apology failed")

    # ---- progress & context --------------------------------------------------------------
    def _progress(self, job: Job) -> bool:
        if job.kind == "assistant":
            self._safe(self.client.assistant_threads_setStatus, channel_id=job.channel,
                       thread_ts=job.thread_ts, status="is searching the Milvus docs…")
            return False
        if job.ts and job.kind != "command":
            return self._safe(self.client.reactions_add, channel=job.channel, timestamp=job.ts,
                              name=THINKING_REACTION)
        return False

    def _history(self, job: Job) -> list[Turn]:
        if not job.thread_ts or not job.ts or job.thread_ts == job.ts or job.kind == "command":
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
        asker = f"<@{job.user}>" if _USER_ID.fullmatch(job.user or "") else "Someone"
        text = f"{asker} asked: {blocks.escape(job.question)}"
        try:
            resp = self.client.chat_postMessage(channel=job.channel, text=text[:3000], unfurl_links=False)
        except SlackApiError as exc:
            if exc.response.get("error") in NO_CHANNEL and job.response_url:
                job.response_url_only = True
                self.state.update(job.id, response_url_only=1)
                return
            raise
        job.thread_ts = resp["ts"]
        self.state.update(job.id, thread_ts=job.thread_ts)

    def post_or_update(self, job: Job, text: str, blocks: list | None) -> None:
        kwargs = {"text": text} | ({"blocks": blocks} if blocks is not None else {})
        if not job.reply_ts and job.attempts > 0:  # attempts made before this one
            self._find_reply(job)  # posted by an earlier attempt that died before it could record the ts
        if job.reply_ts:
            self.client.chat_update(channel=job.channel, ts=job.reply_ts, **kwargs)
            return
        resp = self.client.chat_postMessage(channel=job.channel, thread_ts=job.thread_ts,
                                            unfurl_links=False, unfurl_media=False,
                                            metadata=reply_metadata(job.id), **kwargs)
        job.reply_ts = resp["ts"]
        self.state.update(job.id, reply_ts=job.reply_ts)

    def _find_reply(self, job: Job) -> None:
        """The bot's reply to this job already in the thread, found by the job id its message
        metadata carries; adopted as `reply_ts` so the answer edits it instead of posting twice."""
        if not job.thread_ts:
            return
        try:
            resp = self.client.conversations_replies(channel=job.channel, ts=job.thread_ts, limit=200,
                                                     include_all_metadata=True)
        except SlackApiError as exc:
            log.info("job %s: could not look for an earlier reply (%s)", job.id, exc.response.get("error"))
            return
        for msg in resp.get("messages", []):
            meta = msg.get("metadata") or {}
            if (meta.get("event_type") == REPLY_EVENT
                    and str((meta.get("event_payload") or {}).get("job_id")) == str(job.id)):
                job.reply_ts = msg["ts"]
                self.state.update(job.id, reply_ts=job.reply_ts)
                log.info("job %s: found its reply from an earlier attempt (%s); editing it", job.id, job.reply_ts)
                return

    def _deliver(self, job: Job, answer) -> None:
        answer_id = f"a{job.id}"
        self.state.save_answer(answer_id, job, answer)
        note = answer.note
        if len(job.question) >= MAX_QUESTION_CHARS:
            note = ((note + " ") if note else "") + "Your question was long, so I used its first 4,000 characters."
        kit = blocks.answer_blocks(answer.answer, answer.sources, answer_id=answer_id, note=note,
                                   escalation=bool(self.settings.escalation_ids), version=answer.version)
        text = blocks.fallback_text(answer.answer)
        if job.response_url_only:
            question = blocks.escape(job.question)[:2900]
            asker = f"<@{job.user}>" if _USER_ID.fullmatch(job.user or "") else "Someone"
            WebhookClient(job.response_url).send(
                response_type="in_channel", text=text,
                blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": f"{asker} asked: {question}",
                                                     "verbatim": True}}] + kit)
            return
        try:
            self.post_or_update(job, text=text, blocks=kit)
        except SlackApiError as exc:
            if exc.response.get("error") not in ("msg_too_long", "invalid_blocks"):
                raise
            # should not happen (blocks.py keeps to the limits); degrade to a short plain reply
            short = blocks.answer_blocks(blocks.fallback_text(answer.answer, 2500), answer.sources,
                                         answer_id=answer_id, note=note, escalation=False, version=answer.version)
            self.post_or_update(job, text=text[:2500], blocks=short)

    def notify(self, job: Job, kind: str) -> None:
        """A short message for the user: in the thread, or ephemeral for rate/busy notices."""
        text = blocks.error_text(kind)
        if job.kind == "command" and job.response_url and not job.thread_ts:
            WebhookClient(job.response_url).send(response_type="ephemeral", text=text)
            return
        if kind in ("rate_limited", "busy") and job.kind != "assistant":
            self.client.chat_postEphemeral(channel=job.channel, user=job.user, text=text,
                                           thread_ts=job.thread_ts if job.thread_ts != job.ts else None)
            return
        self.post_or_update(job, text=text, blocks=None)

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
