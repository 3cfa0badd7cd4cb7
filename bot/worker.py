"""The answering side: claim jobs from the store, answer them, record how they ended.

One dispatcher thread claims as many jobs as there are free answer slots (`FAQBOT_WORKERS` answers
in flight per process), a pool of threads answers them (`Responder.handle`), and a heartbeat thread
renews the lease of every job held here every third of `FAQBOT_LEASE_SECONDS`. A worker that dies
stops renewing: once its leases run out any other worker claims those jobs and edits the reply
already posted (never a second one). A job that waited longer than FAQBOT_ANSWER_WITHIN_SECONDS
gets a short apology instead of a late answer. A job whose answering lost the job store (the database
restarting) is not over: it goes back to the queue and its next attempt edits the reply in the thread.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from .ackgate import no_pause
from .jobstore import Job, JobStatus, JobStore, StateUnavailable

log = logging.getLogger(__name__)

CLAIM_BATCH = 16  # jobs per claim query at most
IDLE_WAIT_S = 0.5  # a worker with nothing to do looks again at least this often (expired leases, stop)
FINISH_RETRY_S = 0.5  # how often a worker tries again to store how a job ended while the store is down
MAX_STATE_RETRIES = 5  # attempts of a job whose answering kept losing the job store, before it counts as failed


def owner_name(service: str) -> str:
    """'<machine>/<service>/<pid>-<random>': release_owner('<machine>/local/') frees what a previous
    run of the local worker held, without touching other machines' or other services' jobs."""
    return f"{socket.gethostname()}/{service}/{os.getpid()}-{uuid.uuid4().hex[:8]}"


class Worker:
    def __init__(self, store: JobStore, handle: Callable[[Job], tuple[JobStatus, str | None]],
                 notify: Callable[[Job, str], None], owner: str, concurrency: int = 8, lease_s: float = 15.0,
                 answer_within_s: float = 600.0, pause=None):
        self.store, self._handle, self._notify = store, handle, notify
        self.owner, self.concurrency, self.lease_s = owner, concurrency, lease_s
        self.answer_within_s = answer_within_s
        self._pause = pause or no_pause  # acks first on one machine (bot/ackgate.py)
        self._held: dict[int, Job] = {}
        self._cond = threading.Condition()
        self._stopping = threading.Event()
        self._claiming = threading.Event()
        self._claiming.set()
        self._pool = ThreadPoolExecutor(concurrency, thread_name_prefix="answer")
        self._threads: list[threading.Thread] = []
        self.stats = {"claimed": 0, "answered": 0, "failed": 0, "skipped": 0, "expired": 0, "lost_lease": 0,
                      "retried": 0}
        self.last_error: str | None = None  # the store's, while it cannot be reached

    # ---- lifecycle ------------------------------------------------------------------------
    def start(self) -> "Worker":
        for target, name in ((self._dispatch, "claims"), (self._renew, "heartbeats")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self, drain_s: float = 10.0) -> int:
        """Claim nothing more; let answers in progress finish for up to `drain_s`, then give the
        rest back to the queue (another worker takes them at once). Returns how many were released."""
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()
            self._cond.wait_for(lambda: not self._held, timeout=drain_s)
            left = list(self._held)
        for t in self._threads:  # nothing may use the store once stop() returns (the caller closes it)
            t.join(IDLE_WAIT_S + 1.0)
        released = sum(self.store.release(job_id, self.owner) for job_id in left)
        if released:
            log.info("released %d question(s) still being answered; another worker takes them", released)
        self._pool.shutdown(wait=False)
        return released

    def pause(self) -> None:
        """Claim nothing until resume() (answers in progress go on); e.g. while a test sets up a crash."""
        self._claiming.clear()

    def resume(self) -> None:
        self._claiming.set()

    @property
    def in_flight(self) -> int:
        return len(self._held)

    # ---- claiming -------------------------------------------------------------------------
    def _dispatch(self) -> None:
        while not self._stopping.is_set():
            with self._cond:
                if not self._cond.wait_for(lambda: len(self._held) < self.concurrency or self._stopping.is_set(),
                                           timeout=IDLE_WAIT_S):
                    continue
                free = self.concurrency - len(self._held)
            if self._stopping.is_set():
                return
            if not self._claiming.wait(IDLE_WAIT_S):
                continue
            self._pause()  # a claim is a write on the state file: after the acks
            try:
                jobs = self.store.claim(self.owner, self.lease_s, limit=min(free, CLAIM_BATCH))
                self.last_error = None
            except StateUnavailable as exc:
                if self.last_error is None:
                    log.error("cannot claim questions: %s (retrying every second)", exc)
                self.last_error = str(exc)
                self._stopping.wait(1.0)
                continue
            if not jobs:
                self.store.wait_for_work(IDLE_WAIT_S)
                continue
            with self._cond:
                for job in jobs:
                    self._held[job.id] = job
            self.stats["claimed"] += len(jobs)
            for job in jobs:
                self._pool.submit(self._run, job)

    def _run(self, job: Job) -> None:
        status, error = JobStatus.FAILED, "unhandled"
        try:
            if time.time() - job.created > self.answer_within_s:
                status, error = self._too_late(job)
            else:
                status, error = self._handle(job)
        except StateUnavailable as exc:
            error = f"{StateUnavailable.__name__}: {exc}"
        except Exception:
            log.exception("job %s failed", job.id)
        finally:
            if _lost_state(error) and job.attempts < MAX_STATE_RETRIES:
                self._retry(job, error)
            else:
                self._record(job, status, error)

    def _retry(self, job: Job, error: str) -> None:
        """The job store went away while this job was answered (its answer or reply ts may not be
        stored): the job is not over. It goes back to the queue as soon as the store is back, or its
        lease runs out; the next attempt edits whatever reply this one left in the thread."""
        self.stats["retried"] += 1
        log.warning("job %s: the state database was unreachable while answering (%s); it is answered again",
                    job.id, error[:200])
        try:
            self.store.release(job.id, self.owner)
        except StateUnavailable:
            pass  # still down: the lease runs out instead (no heartbeats once it leaves _held)
        with self._cond:
            self._held.pop(job.id, None)
            self._cond.notify_all()

    def _too_late(self, job: Job) -> tuple[JobStatus, str]:
        """Older than FAQBOT_ANSWER_WITHIN_SECONDS: say so rather than answer a stale question."""
        self.stats["expired"] += 1
        try:
            self._notify(job, "restarted" if job.attempts > 1 else "late")
        except Exception as exc:
            log.warning("job %s: could not send the late notice (%s)", job.id, exc)
        return JobStatus.FAILED, "expired"

    def _record(self, job: Job, status: JobStatus, error: str | None) -> None:
        """Store how the job ended. If the store is down, keep trying (the job stays held, so its
        lease is renewed as soon as the store is back) for up to one lease: an answer already in the
        thread is then recorded as done, not answered a second time after the lease runs out."""
        give_up = time.monotonic() + self.lease_s
        while True:
            try:
                if not self.store.finish(job.id, self.owner, status, error):
                    self.stats["lost_lease"] += 1
                    log.warning("job %s: its lease ran out and another worker took it over", job.id)
                break
            except StateUnavailable as exc:
                if time.monotonic() >= give_up or self._stopping.wait(FINISH_RETRY_S):
                    log.error("job %s: answered, but its status was not stored (%s); it is retried after the lease",
                              job.id, exc)
                    break
        key = {JobStatus.DONE: "answered", JobStatus.SKIPPED: "skipped"}.get(status, "failed")
        with self._cond:
            self.stats[key] += 1
            self._held.pop(job.id, None)
            self._cond.notify_all()

    # ---- leases ---------------------------------------------------------------------------
    def _renew(self) -> None:
        every = max(0.5, self.lease_s / 3)
        while not self._stopping.wait(every):
            with self._cond:
                held = list(self._held)
            for job_id in held:
                try:
                    if not self.store.heartbeat(job_id, self.owner, self.lease_s) and job_id in self._held:
                        log.warning("job %s: lease lost (the store gave it to another worker)", job_id)
                except StateUnavailable as exc:
                    log.warning("lease of job %s not renewed: %s", job_id, exc)
                    break


def _lost_state(error: str | None) -> bool:
    """Did answering fail because the job store could not be reached? The handler raises
    StateUnavailable, or (bot/reply.py today) apologises and reports the error as 'StateUnavailable…'."""
    return bool(error) and error.startswith(StateUnavailable.__name__)
