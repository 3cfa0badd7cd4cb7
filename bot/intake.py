"""The serve side of a question: validate it, store it once, acknowledge.

Listeners call `Intake.submit()`: the job and its dedupe keys go into the job store in one
transaction (durable before Slack gets its 200; a redelivery to any replica finds the keys and
makes no second job), with the per-user rate limit checked in that same transaction (shared by all
replicas); then a backlog check. A question turned away gets a short notice, sent off the ack path.
Answering is the worker's job (worker.py): it claims jobs from the store.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from .jobstore import Job, JobStatus, JobStore

log = logging.getLogger(__name__)

DEPTH_EVERY_S = 1.0  # how often the backlog estimate is refreshed from the store (off the ack path)


class Intake:
    def __init__(self, store: JobStore, notify: Callable[[Job, str], None], rate_limit: int = 5,
                 queue_size: int = 200):
        self.store = store
        self._notify = notify  # (job, kind) -> a short notice to the asker
        self.rate_limit = rate_limit
        self.rate_window_s = 60.0
        self.queue_size = queue_size
        self.notices = ThreadPoolExecutor(2, thread_name_prefix="notice")
        self._lock = threading.Lock()
        self._depth = 0  # queued jobs at the last refresh, plus those accepted here since
        self.stats = {"accepted": 0, "duplicates": 0, "rate_limited": 0, "busy": 0}

    def submit(self, keys: list[str], **job) -> Job | None:
        """Accept a question exactly once. Returns the job, or None for a duplicate. Raises
        StateUnavailable when the store cannot be reached: the event is then not acknowledged."""
        job["user"] = job.get("user") or ""  # the store checks the rest (jobstore.check_job)
        # the user's rate limit is checked in the same transaction (one write per ack: with a
        # separate check, acks at 50 concurrent senders measured p50 100 ms instead of 67 ms)
        rate = (self.rate_limit, self.rate_window_s) if self.rate_limit > 0 else None
        accepted = self.store.accept(keys, rate=rate, **job)
        if accepted is None:
            self._count("duplicates")
            return None
        self._count("accepted")
        if accepted.status == JobStatus.SKIPPED:  # over the rate limit: stored as skipped already
            self._count("rate_limited")
            self.notices.submit(self._safe_notify, accepted, "rate_limited")
        elif self._backlog() > self.queue_size:
            self.notices.submit(self._turn_away, accepted, "busy")  # its cancel is a write: off the ack path
        return accepted

    def _backlog(self) -> int:
        """Questions waiting for a worker, estimated without a query on the ack path: the store's
        count at the last refresh plus every question accepted here since."""
        with self._lock:
            self._depth += 1
            return self._depth

    def refresh(self) -> None:
        """Re-read the queue depth (the serve process's maintenance thread calls this every second)."""
        depth = self.store.stats()["queue_depth"]
        with self._lock:
            self._depth = depth

    def _turn_away(self, job: Job, kind: str) -> None:
        try:
            if not self.store.cancel(job.id, JobStatus.SKIPPED, error=kind):
                return  # a worker claimed it in the meantime: it is answered after all
        except Exception:  # the job stays queued and is answered: nothing is lost
            log.exception("could not turn away job %s (%s)", job.id, kind)
            return
        self._count(kind)
        with self._lock:
            self._depth -= 1
        self._safe_notify(job, kind)

    def _safe_notify(self, job: Job, kind: str) -> None:
        try:
            self._notify(job, kind)
        except Exception:
            log.exception("could not tell the user about %s (job %s)", kind, job.id)

    def _count(self, key: str) -> None:
        with self._lock:
            self.stats[key] += 1

    def stop(self) -> None:
        self.notices.shutdown(wait=True, cancel_futures=False)
