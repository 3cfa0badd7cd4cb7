"""Posting into Slack for one job: the answer message (posted once, then edited) and short notices.

Shared by the serve side (rate-limit and busy notices on arrival) and the worker (answers, apologies).
A retried job edits the reply an earlier attempt posted: `reply_ts` is in the job row, and a reply
posted in the instant before an attempt died is found again by the job id in its message metadata.
"""

from __future__ import annotations

import logging
import re

from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from . import blocks
from .jobstore import Job, JobKind
from .kinds import Notice, rules

log = logging.getLogger(__name__)

REPLY_EVENT = "faqbot_answer"  # message metadata on every answer: which job it belongs to
USER_ID = re.compile(r"[UW][A-Z0-9]{2,20}")  # the asker of /milvus: the one mention the bot adds itself


def reply_metadata(job_id: int) -> dict:
    return {"event_type": REPLY_EVENT, "event_payload": {"job_id": str(job_id)}}


def asker(job: Job) -> str:
    return f"<@{job.user}>" if USER_ID.fullmatch(job.user or "") else "Someone"


class Poster:
    def __init__(self, client, store, bot_user_id: str | None = None):
        self.client = client
        self.store = store
        self.bot_user_id = bot_user_id

    def post_or_update(self, job: Job, text: str, blocks: list | None) -> None:
        kwargs = {"text": text} | ({"blocks": blocks} if blocks is not None else {})
        if not job.reply_ts and job.attempts > 1:  # claimed before: an earlier attempt may have posted
            self.find_reply(job)
        if job.reply_ts:
            self.client.chat_update(channel=job.channel, ts=job.reply_ts, **kwargs)
            return
        resp = self.client.chat_postMessage(channel=job.channel, thread_ts=job.thread_ts,
                                            unfurl_links=False, unfurl_media=False,
                                            metadata=reply_metadata(job.id), **kwargs)
        job.reply_ts = resp["ts"]
        self.store.update(job.id, reply_ts=job.reply_ts)

    def find_reply(self, job: Job) -> None:
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
        messages = resp.get("messages", [])
        for msg in messages:
            meta = msg.get("metadata") or {}
            if (meta.get("event_type") == REPLY_EVENT
                    and str((meta.get("event_payload") or {}).get("job_id")) == str(job.id)):
                self._adopt(job, msg["ts"], "its metadata")
                return
        # chat.startStream takes no metadata: a stream cut off before its ts was stored is the bot's
        # first message after the question that carries no job id, before anyone else spoke again
        for msg in messages:
            if job.ts and float(msg.get("ts", 0)) <= float(job.ts):
                continue
            if not self._mine(msg):
                return  # someone spoke after the question: no reply of ours came first
            if not msg.get("metadata"):
                self._adopt(job, msg["ts"], "its place in the thread (a stream)")
                return

    def _mine(self, msg: dict) -> bool:
        return bool(msg.get("bot_id")) and (not self.bot_user_id or msg.get("user") in (None, self.bot_user_id))

    def _adopt(self, job: Job, ts: str, how: str) -> None:
        job.reply_ts = ts
        self.store.update(job.id, reply_ts=ts)
        log.info("job %s: found its reply from an earlier attempt by %s (%s); editing it", job.id, how, ts)

    def notify(self, job: Job, kind: str) -> None:
        """A short message for the user: in the thread, or ephemeral for rate/busy notices."""
        text = blocks.error_text(kind)
        if job.kind == JobKind.COMMAND and job.response_url and not job.thread_ts:
            WebhookClient(job.response_url).send(response_type="ephemeral", text=text)
            return
        if kind in ("rate_limited", "busy") and rules(job.kind).notice == Notice.EPHEMERAL:
            self.client.chat_postEphemeral(channel=job.channel, user=job.user, text=text,
                                           thread_ts=job.thread_ts if job.thread_ts != job.ts else None)
            return
        # blocks too: an edit without blocks would keep the blocks of an answer already posted there
        self.post_or_update(job, text=text, blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": text,
                                                                                 "verbatim": True}}])
