"""The answer's live message: Slack's native stream, or post + edit when Slack will not stream.

Native (FAQBOT_STREAMING=native, the default): slack_sdk's `chat_stream` helper — chat.startStream
with a plan of two tasks ("Searching the v3.0.x docs" → "Writing the answer"), chat.appendStream
as Gemini writes, chat.stopStream with the closing blocks (sources, 👍/👎, "Still need help").
Slack refuses or drops a stream in some cases (a surface or client without streaming, a stream
open too long: `message_not_in_streaming_state`, rate limits): from then on the same message is
edited with chat.update, at most once a second. One answer, never two: every path ends on the one
message whose ts is stored as the job's `reply_ts`.

Streamed text is escaped like every other text the bot sends (no live mentions); the trailing few
characters are held back until more arrive, since escaping "@here" depends on what follows.
"""

from __future__ import annotations

import logging
import threading
import time

from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.models.messages.chunk import TaskUpdateChunk

from . import blocks
from .jobstore import Job
from .posting import reply_metadata

log = logging.getLogger(__name__)

EDIT_EVERY_S = 1.0  # chat.update is Tier 3: ~1 edit per second keeps well inside it
APPEND_EVERY_CHARS = 200  # appendStream calls: one per ~200 characters of answer
HOLD_BACK = 8  # characters of escaped text kept until more arrive (see the module docstring)


class LiveAnswer:
    def __init__(self, poster, job: Job, native: bool):
        self.poster, self.job = poster, job
        self.client = poster.client
        self.stream = None  # slack_sdk ChatStream while the native stream is open
        self.native = native and bool(job.thread_ts and job.user and (job.team or job.channel.startswith("D")))
        self.text = ""  # the answer so far, as Gemini wrote it (markdown)
        self.sent = 0  # escaped characters handed to the stream
        self.last_edit = 0.0
        self.lock = threading.Lock()

    # ---- progress ---------------------------------------------------------------------------
    def searching(self, version: str | None) -> None:
        """Open the stream with the plan: searching the docs (in progress), writing (pending)."""
        if not self.native:
            return
        where = f"the Milvus {version} docs" if version else "the Milvus docs"
        try:
            self.stream = self.client.chat_stream(
                channel=self.job.channel, thread_ts=self.job.thread_ts, recipient_user_id=self.job.user,
                recipient_team_id=self.job.team, task_display_mode="plan", buffer_size=APPEND_EVERY_CHARS)
            self.stream.append(chunks=[TaskUpdateChunk(id="search", title=f"Searching {where}", status="in_progress"),
                                       TaskUpdateChunk(id="write", title="Writing the answer", status="pending")])
        except (SlackApiError, SlackRequestError) as exc:
            self._fall_back("start", exc)
            return
        self.job.reply_ts = self.stream.ts
        self.poster.store.update(self.job.id, reply_ts=self.job.reply_ts)

    def writing(self) -> None:
        self._chunks([TaskUpdateChunk(id="search", title="Searched the docs", status="complete"),
                      TaskUpdateChunk(id="write", title="Writing the answer", status="in_progress")])

    # ---- text ---------------------------------------------------------------------------------
    def push(self, delta: str) -> None:
        """Gemini wrote `delta`: stream it, or edit the message at most once a second."""
        with self.lock:
            self.text += delta
            if self.stream is not None:
                self._append(final=False)
                return
            now = time.monotonic()
            if now - self.last_edit < EDIT_EVERY_S and self.job.reply_ts:
                return
            self.last_edit = now
            partial = blocks.md_to_mrkdwn(self.text)[:2900] + " …"
            try:
                self.poster.post_or_update(self.job, text=partial, blocks=None)
            except SlackApiError as exc:  # best effort; the final message decides
                log.info("stream update failed: %s", exc.response.get("error"))

    def _append(self, final: bool) -> None:
        escaped = blocks.escape(self.text)
        upto = len(escaped) if final else max(self.sent, len(escaped) - HOLD_BACK)
        if upto <= self.sent:
            return
        try:
            self.stream.append(markdown_text=escaped[self.sent:upto])
            self.sent = upto
        except (SlackApiError, SlackRequestError) as exc:
            self._fall_back("append", exc)

    def _chunks(self, chunks: list) -> None:
        if self.stream is None:
            return
        try:
            self.stream.append(chunks=chunks)
        except (SlackApiError, SlackRequestError) as exc:
            self._fall_back("append", exc)

    def _fall_back(self, step: str, exc: Exception) -> None:
        error = exc.response.get("error") if isinstance(exc, SlackApiError) else str(exc)
        log.info("job %s: Slack %s a native stream (%s at %s); editing the message instead",
                 self.job.id, "refused" if step == "start" else "dropped", error, step)
        self.stream, self.native = None, False

    # ---- the end --------------------------------------------------------------------------------
    def finish(self, answer_text: str, text: str, kit: list, footer: list, streamed_is_final: bool) -> None:
        """The final message. If the streamed text is the answer, close the stream with the footer
        blocks; otherwise (e.g. Gemini failed mid-stream: the extractive answer stands in, or the
        stream was dropped) close what is open and edit the message to the full answer."""
        with self.lock:
            if self.stream is not None and streamed_is_final and answer_text == self.text:
                self._append(final=True)
                if self.stream is not None:
                    try:
                        self.stream.stop(chunks=[TaskUpdateChunk(id="write", title="Wrote the answer",
                                                                 status="complete")], blocks=footer,
                                         metadata=reply_metadata(self.job.id))
                        self.stream = None
                        return
                    except (SlackApiError, SlackRequestError) as exc:
                        self._fall_back("stop", exc)
            if self.stream is not None:
                try:
                    self.stream.stop(chunks=[TaskUpdateChunk(id="write", title="Answer ready", status="complete")])
                except (SlackApiError, SlackRequestError) as exc:
                    log.info("job %s: closing the stream failed (%s)", self.job.id, exc)
                self.stream = None
        self.poster.post_or_update(self.job, text=text, blocks=kit)

    def abandon(self) -> None:
        """An error ends the job: close an open stream so the apology can edit the message."""
        if self.stream is not None:
            try:
                self.stream.stop()
            except (SlackApiError, SlackRequestError):
                pass
            self.stream = None
