"""The job store: one small interface that `serve` (acknowledge) and `worker` (answer) replicas share.

    accept ─► queued ─claim─► running ─finish─► done | failed | skipped
                 ▲               │
                 └── release ────┤  (SIGTERM; release_owner after a restart on this machine)
                 └── lease expired, claimed again by anyone

Backends (`open_store`):
- SQLite (`sqlite.py`, the embedded default): nothing to install, one machine. WAL, group commit of acks,
  a write lock that lets acks go first.
- PostgreSQL (`postgres.py`, FAQBOT_STATE_URL=postgresql://…): several machines. FOR UPDATE SKIP LOCKED
  claims, LISTEN/NOTIFY wake-ups, numbered migrations under an advisory lock.
- Memory (`memory.py`): dicts and a lock, for fast unit tests of listeners and workers.

Every backend gives the guarantees written on `JobStore`; tests/test_jobstore.py runs one conformance
suite over all three.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, fields
from enum import StrEnum
from pathlib import Path
from typing import Any, Mapping, Protocol, runtime_checkable


class JobKind(StrEnum):
    MENTION = "mention"
    COMMAND = "command"
    SUPPORT = "support"
    DM = "dm"
    ASSISTANT = "assistant"


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"


OPEN_STATUSES = (JobStatus.QUEUED, JobStatus.RUNNING)
FINAL_STATUSES = (JobStatus.DONE, JobStatus.FAILED, JobStatus.SKIPPED)


class Outcome(StrEnum):
    """What the asker got, for the insights report (answered by AI / extractive / not covered / failed)."""

    GEMINI = "gemini"
    EXTRACTIVE = "extractive"
    NOT_COVERED = "not_covered"
    FAILED = "failed"


VOTES = ("up", "down")

# what insights_rows() gives for each question (bot/insights.py builds the report from it)
INSIGHT_FIELDS = ("job_id", "question", "outcome", "mode", "latency_s", "channel", "thread_ts", "user", "created",
                  "up", "down")
# failed jobs stay this long whatever prune() is asked (the 30-day report counts them); other finished jobs go
FAILED_KEEP_S = 31 * 86400


class StateUnavailable(Exception):
    """The state database cannot be reached (or written). A serve replica answers 5xx on it — never a 200
    for a question it did not store. The message names the setting (FAQBOT_STATE_URL or FAQBOT_STATE_DB)
    and never a password."""


@dataclass
class Job:
    id: int
    kind: JobKind
    channel: str
    user: str
    question: str
    ts: str | None = None  # the question's own message ts (reactions, dedupe)
    thread_ts: str | None = None  # where the answer goes
    response_url: str | None = None
    team: str | None = None
    # a JobStatus; bot/state.py (the current bot) also writes rate_limited / busy / expired, read back as str
    status: JobStatus | str = JobStatus.QUEUED
    reply_ts: str | None = None  # the answer message, once posted (makes a retry edit, not repost)
    attempts: int = 0
    created: float = 0.0
    updated: float = 0.0
    error: str | None = None
    response_url_only: bool = False  # /milvus where the bot is not in the channel
    owner: str | None = None  # who holds the lease of a running job
    lease_until: float | None = None  # epoch seconds; a running job past it may be claimed by anyone

    def __post_init__(self):
        # a dict lookup, not JobKind(value): this runs on every accept and costs ~1 us less per field
        self.kind = _KINDS.get(self.kind, self.kind)
        self.status = _STATUSES.get(self.status, self.status)  # a legacy status (e.g. 'busy') stays a str
        self.response_url_only = bool(self.response_url_only)


_KINDS = {str(k): k for k in JobKind}
_STATUSES = {str(s): s for s in JobStatus}


JOB_FIELDS = tuple(f.name for f in fields(Job))
# what accept(**job) stores (anything else in **job is ignored, as bot/state did)
ACCEPT_FIELDS = tuple(f for f in JOB_FIELDS if f not in ("id", "created", "updated", "owner", "lease_until",
                                                         "attempts"))
# what update(job_id, **values) may change
UPDATE_FIELDS = tuple(f for f in JOB_FIELDS if f != "id")


def job_from_row(row: Mapping[str, Any]) -> Job:
    return Job(**{k: row[k] for k in JOB_FIELDS if k in row.keys()})


RATE_LIMITED = "rate_limited"  # the error of a job accepted over its user's rate limit


def check_job(job: dict) -> None:
    """accept(**job) needs a known kind and the text fields the bot cannot answer without."""
    if not isinstance(job.get("kind"), str) or job["kind"] not in _KINDS:
        raise ValueError(f"job kind must be one of {', '.join(JobKind)}, not {job.get('kind')!r}")
    for name in ("channel", "question"):
        if not isinstance(job.get(name), str) or not job[name]:
            raise ValueError(f"job without a usable {name}")
    for name in ("user", "ts", "thread_ts", "response_url", "team"):
        if job.get(name) is not None and not isinstance(job[name], str):
            raise ValueError(f"job with a malformed {name}")


def unique_keys(keys) -> list[str]:
    """Dedupe keys in a stable order (sorted: concurrent accepts lock them in the same order)."""
    if isinstance(keys, str):
        raise TypeError("keys must be a list of strings, not one string")
    return sorted(set(keys))


def check_final(status) -> JobStatus:
    status = JobStatus(status)
    if status not in FINAL_STATUSES:
        raise ValueError(f"finish() takes done, failed or skipped, not {status}; release() puts a job back")
    return status


def check_vote(value: str) -> str:
    if value not in VOTES:
        raise ValueError(f"feedback value must be 'up' or 'down', not {value!r}")
    return value


@runtime_checkable
class JobStore(Protocol):
    """Jobs, dedupe keys, rate limits, answers and feedback of the bot, shared by all its processes."""

    def accept(self, keys: list[str], *, rate: tuple[int, float] | None = None, **job) -> Job | None:
        """Store the job (status queued) and every dedupe key in ONE transaction, durable when this
        returns (so the event may be acknowledged). None if any key was stored before (by any process):
        then nothing of this call is stored. Concurrent accepts of overlapping keys make exactly one job.
        `job` holds Job fields (kind, channel, user, question, ts, …). Raises StateUnavailable when the
        database cannot be reached — the caller must not acknowledge with a 200 then.
        `rate` = (limit, window_s): the user's rate limit (`allow`) is checked in the same transaction;
        over it, the job is stored as skipped with error "rate_limited" (its keys too, so a
        redelivery stays a duplicate) — one write on the ack path instead of three."""

    def remember(self, key: str) -> bool:
        """Store a dedupe key without a job (e.g. a button click); False if it was already there."""

    def claim(self, owner: str, lease_s: float, limit: int = 1) -> list[Job]:
        """Take up to `limit` jobs, oldest first, among queued jobs and running jobs whose lease expired:
        each becomes running with this owner, lease_until = now + lease_s and attempts + 1. Concurrent
        claimers (threads, processes, machines) never get the same job."""

    def heartbeat(self, job_id: int, owner: str, lease_s: float) -> bool:
        """Extend the lease to now + lease_s, only if `owner` still holds the job (False otherwise:
        someone else claimed it after the lease ran out, or it is finished)."""

    def finish(self, job_id: int, owner: str, status: JobStatus, error: str | None = None) -> bool:
        """Record the result (done, failed or skipped) — only the lease holder can; False otherwise."""

    def cancel(self, job_id: int, status: JobStatus, error: str | None = None) -> bool:
        """A queued job that no worker claimed yet ends with `status` (e.g. skipped, 'rate_limited'), on the
        ack path; False if a worker already claimed it (then it is answered as usual)."""

    def release(self, job_id: int, owner: str) -> bool:
        """Give a held job back (queued, no owner), e.g. on SIGTERM; False if `owner` did not hold it."""

    def release_owner(self, owner_prefix: str) -> int:
        """Every running job whose owner starts with `owner_prefix` back to queued at once, without
        waiting for leases: a restarted bot releases what its previous run on this machine held
        (owners are named '<machine>/<service>/…'). Returns how many."""

    def update(self, job_id: int, **values) -> None:
        """Set Job fields (e.g. reply_ts once the answer is posted, thread_ts, response_url_only)."""

    def job(self, job_id: int) -> Job | None:
        """The job as stored now, or None."""

    def wait_for_work(self, timeout_s: float) -> None:
        """Block until a job is accepted (or released) — by any process — since this thread's last
        claim, or timeout_s passes. PostgreSQL: LISTEN/NOTIFY; SQLite: a Condition in-process plus short
        polling for other processes; memory: a Condition. Expired leases wake nobody: a worker loop
        claims again after each timeout anyway."""

    def allow(self, user: str, limit: int, window_s: float = 60.0) -> bool:
        """Per-user rate limit shared by all processes: True (and the hit is counted) if `user` had
        fewer than `limit` allowed hits in the last window_s seconds (a sliding window stored in the
        database; old hits expire). limit <= 0: always True, nothing stored."""

    def save_answer(self, answer_id: str, job: Job, *, answer: str, mode: str, outcome: Outcome,
                    sources: list[dict], version: str | None, latency_s: float | None) -> None:
        """Record (or replace) an answer with what the insights report counts: outcome, docs version,
        latency (question to answer) and created time (indexed)."""

    def add_feedback(self, answer_id: str, user: str, value: str) -> None:
        """👍 'up' / 👎 'down': one vote per user and answer — a second click changes it."""

    def feedback(self, answer_id: str | None = None) -> list[dict]:
        """Votes (answer_id, user, value, created, updated), in order of first vote; of one answer if given."""

    def insights_rows(self, since: float) -> list[dict]:
        """What the insights report counts, for the questions since `since` (epoch seconds), oldest first:
        one dict (INSIGHT_FIELDS) per answer created since then, with its 👍/👎 counts in up/down, and one
        per job created since then whose status is failed (outcome 'failed', mode '', latency_s None,
        up = down = 0) — which replaces that job's answer if it has one (the asker got an apology).
        Indexed on every backend (answers by created, votes by answer, failed jobs by created): the cost
        follows the rows in the window, not the size of the database."""

    def set_meta(self, key: str, value: str) -> None:
        """Store (or replace) a small text value under `key`, shared by all processes — e.g. the indexed
        docs versions (written by the process that owns Milvus) and the Slack workspace URL, so that
        the App Home and `faqbot report` never open Milvus or call Slack."""

    def meta(self, key: str) -> str | None:
        """The value stored under `key`, or None."""

    def stats(self) -> dict:
        """{'by_status'': {status: count}, 'queue_depth': queued jobs, 'oldest_waiting_s': age of the
        oldest queued job (0.0 when none)}."""

    def prune(self, older_than_s: float = 7 * 86400) -> None:
        """Drop dedupe keys and finished jobs older than this (Slack retries stop after ~6 min) and
        expired rate-limit hits; failed jobs stay FAILED_KEEP_S at least (the insights report counts them).
        Job ids never restart. Answers, feedback and meta values stay (the insights report)."""

    def close(self) -> None:
        """Release connections and threads."""


class Wakeup:
    """Wakes `wait_for_work` callers. Each thread remembers the generation it saw when it last claimed;
    a bump since then (an accept or a release here, a NOTIFY, a poll that saw a newer job) ends its wait
    at once, so a job accepted between a claim and the next wait is never slept through."""

    def __init__(self):
        self._cond = threading.Condition()
        self.generation = 0
        self._local = threading.local()

    def bump(self) -> None:
        with self._cond:
            self.generation += 1
            self._cond.notify_all()

    def mark(self) -> None:
        """Called by claim() before it looks for work."""
        self._local.seen = self.generation

    def wait(self, timeout_s: float, poll=None, poll_every_s: float = 0.2) -> bool:
        """True if woken by new work; `poll()` (another process's work?) runs every poll_every_s."""
        deadline = time.monotonic() + max(0.0, timeout_s)
        with self._cond:
            seen = getattr(self._local, "seen", self.generation)
        while True:
            with self._cond:
                if self.generation > seen:
                    self._local.seen = self.generation
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, poll_every_s) if poll else remaining)
            if poll is not None:
                poll()


def check_meta(key: str, value: str | None = None) -> None:
    if not isinstance(key, str) or not key:
        raise ValueError("a meta key must be a non-empty string")
    if value is not None and not isinstance(value, str):
        raise TypeError(f"meta values are text (JSON if structured), not {type(value).__name__}")


def merge_insight_rows(answers: list[dict], failed_jobs: list[dict]) -> list[dict]:
    """insights_rows() from its two plain queries: a failed job replaces its answer; oldest first."""
    failed_ids = {r["job_id"] for r in failed_jobs}
    rows = [dict(r) for r in answers if r["job_id"] is None or r["job_id"] not in failed_ids]
    rows += [dict(r) for r in failed_jobs]
    for r in rows:
        r["outcome"] = str(r["outcome"] or "")
        r["up"], r["down"] = int(r["up"] or 0), int(r["down"] or 0)
    return sorted(rows, key=lambda r: (r["created"], r["job_id"] or 0))


def open_store(state_db_path: str | Path, state_url: str = "") -> JobStore:
    """The store the settings ask for: FAQBOT_STATE_URL=postgresql://… (or postgres://) → PostgreSQL;
    empty → the SQLite file FAQBOT_STATE_DB. Anything else is a ConfigError naming FAQBOT_STATE_URL."""
    from rag_core.config import ConfigError

    url = (state_url or "").strip()
    if not url:
        from .sqlite import SQLiteJobStore

        return SQLiteJobStore(state_db_path)
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in ("postgresql", "postgres"):
        raise ConfigError("FAQBOT_STATE_URL must be a postgresql://user:password@host:port/dbname URL "
                          f"(or empty for the SQLite file FAQBOT_STATE_DB), not a {scheme or 'schemeless'} value")
    from .postgres import PostgresJobStore

    return PostgresJobStore(url)


__all__ = ["Job", "JobKind", "JobStatus", "JobStore", "Outcome", "StateUnavailable", "open_store",
           "OPEN_STATUSES", "FINAL_STATUSES", "VOTES", "Wakeup", "INSIGHT_FIELDS", "FAILED_KEEP_S"]
