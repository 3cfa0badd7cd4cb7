"""accept → dedupe → queue → worker → reply.

Listeners call `Intake.submit()`: it enforces the per-user rate limit, writes
the job (with its dedupe keys) to the state DB, and puts it on a bounded
queue. A fixed pool of worker threads takes jobs off the queue and hands them
to the `Responder`. Everything that talks to Slack happens on worker or notice
threads, never on the thread that acknowledges the event. In `faqbot serve`
the workers run in the answer process (answer_process.py), which uses this
same Intake; the serve process dispatches to it through `ProcessIntake`.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import defaultdict, deque
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Callable

from .state import Job, State

log = logging.getLogger(__name__)

RECOVER_WINDOW_S = 600  # accepted-but-unanswered questions younger than this are answered after a restart


class AckGate:
    """Acks first. Slack redelivers an event that is not acknowledged within 3 s, and answer work
    competes with the threads that acknowledge (for the GIL when answers run in this process, for
    the CPU when they run in the answer process). Bolt's dispatch runs inside `acking()`; workers
    call `yield_to_acks()` between the steps of an answer, which waits (at most `max_wait`) while
    any request is being acknowledged. `shared` mirrors the count for the answer process
    (`RemoteAckGate`)."""

    def __init__(self):
        self._busy = 0
        self._cond = threading.Condition()
        self._local = threading.local()
        self.shared = None  # a multiprocessing RawValue mirroring _busy for the answer process

    @contextmanager
    def acking(self):
        with self._cond:
            self._busy += 1
            if self.shared is not None:
                self.shared.value = self._busy
        self._local.acking = True
        try:
            yield
        finally:
            self._local.acking = False
            with self._cond:
                self._busy -= 1
                if self.shared is not None:
                    self.shared.value = self._busy
                if not self._busy:
                    self._cond.notify_all()

    def yield_to_acks(self, max_wait: float = 1.0) -> None:
        if getattr(self._local, "acking", False):
            return  # called from an ack itself (e.g. a rejected job's status): never wait for ourselves
        with self._cond:
            if self._busy:
                self._cond.wait_for(lambda: not self._busy, timeout=max_wait)

    def wrap(self, dispatch):
        def gated(*args, **kwargs):
            with self.acking():
                return dispatch(*args, **kwargs)

        return gated


class RemoteAckGate:
    """The answer process's view of the parent's AckGate (a shared counter): same pause."""

    def __init__(self, shared, poll_s: float = 0.001):
        self.shared, self.poll_s = shared, poll_s

    def yield_to_acks(self, max_wait: float = 1.0) -> None:
        if self.shared.value <= 0:
            return
        deadline = time.monotonic() + max_wait
        while self.shared.value > 0 and time.monotonic() < deadline:
            time.sleep(self.poll_s)


class RateLimiter:
    """At most `limit` questions per user in any 60 s window (0 = unlimited)."""

    def __init__(self, limit: int, window_s: float = 60.0):
        self.limit, self.window = limit, window_s
        self._hits: dict[str, deque] = defaultdict(deque)
        self._lock = threading.Lock()

    def allow(self, user: str) -> bool:
        if self.limit <= 0:
            return True
        now = time.monotonic()
        with self._lock:
            hits = self._hits[user]
            while hits and now - hits[0] > self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                return False
            hits.append(now)
            return True


class Intake:
    def __init__(self, state: State, handle: Callable[[Job], None], notify: Callable[[Job, str], None],
                 workers: int = 4, queue_size: int = 200, rate_limit: int = 5,
                 on_done: Callable[[int, bool], None] | None = None):
        self.state = state
        self._on_done = on_done  # (job id, answered?) after each job: see answer_process
        self._handle = handle
        self._notify = notify  # (job, error kind) -> short reply to the user
        self.queue: queue.Queue[Job | None] = queue.Queue(maxsize=queue_size)
        self.limiter = RateLimiter(rate_limit)
        self.notices = ThreadPoolExecutor(2, thread_name_prefix="notice")
        self._workers: list[threading.Thread] = []
        self._n_workers = workers
        self._in_flight = 0
        self._lock = threading.Lock()
        self.stats = {"accepted": 0, "duplicates": 0, "rate_limited": 0, "busy": 0, "answered": 0, "failed": 0}

    # ---- listener side (fast: no network) -----------------------------------------------
    def submit(self, keys: list[str], **job) -> Job | None:
        """Accept a question exactly once. Returns the job, or None for a duplicate."""
        for name in ("kind", "channel", "question"):
            if not isinstance(job.get(name), str) or not job[name]:
                raise ValueError(f"payload without a usable {name}")
        for name in ("user", "ts", "thread_ts", "response_url", "team"):
            if job.get(name) is not None and not isinstance(job[name], str):
                raise ValueError(f"payload with a malformed {name}")
        job["user"] = job.get("user") or ""
        accepted = self.state.accept(keys, **job)
        if accepted is None:
            self._count("duplicates")
            return None
        self._count("accepted")
        if not self.limiter.allow(accepted.user):
            self._reject(accepted, "rate_limited")
            return accepted
        try:
            self._dispatch(accepted)
        except queue.Full:
            self._reject(accepted, "busy")
        return accepted

    def _dispatch(self, job: Job) -> None:
        """Hand a stored job to the workers; queue.Full when they are too far behind."""
        self.queue.put_nowait(job)

    def _reject(self, job: Job, kind: str) -> None:
        self._count(kind)
        self.state.finish(job.id, status=kind, urgent=True)
        self.notices.submit(self._safe_notify, job, kind)

    def _safe_notify(self, job: Job, kind: str) -> None:
        try:
            self._notify(job, kind)
        except Exception:
            log.exception("could not tell the user about %s (job %s)", kind, job.id)

    # ---- workers ------------------------------------------------------------------------
    def start(self) -> None:
        for n in range(self._n_workers):
            t = threading.Thread(target=self._work, name=f"answer-{n}", daemon=True)
            t.start()
            self._workers.append(t)

    def recover(self) -> tuple[int, int]:
        """Requeue questions accepted in the last 10 minutes; apologise for older ones."""
        requeued = apologised = 0
        for job in self.state.unfinished():
            if time.time() - job.created <= RECOVER_WINDOW_S:
                try:
                    self._dispatch(job)
                    requeued += 1
                except queue.Full:
                    self._reject(job, "busy")
            else:
                self.state.finish(job.id, status="expired")
                self.notices.submit(self._safe_notify, job, "restarted")
                apologised += 1
        if requeued or apologised:
            log.info("recovered %d unanswered question(s); apologised for %d old one(s)", requeued, apologised)
        return requeued, apologised

    def _work(self) -> None:
        while True:
            job = self.queue.get()
            if job is None:
                self.queue.task_done()
                return
            with self._lock:
                self._in_flight += 1
            ok = False
            try:
                self.state.start(job.id)
                self._handle(job)
                self._count("answered")
                ok = True
            except Exception:
                self._count("failed")
                log.exception("job %s failed", job.id)
                try:
                    self.state.finish(job.id, status="failed", error="unhandled")
                except Exception:
                    pass
            finally:
                with self._lock:
                    self._in_flight -= 1
                if self._on_done:
                    self._on_done(job.id, ok)
                self.queue.task_done()

    def stop(self, timeout: float = 10.0) -> None:
        for _ in self._workers:
            self.queue.put(None)
        deadline = time.monotonic() + timeout
        for t in self._workers:
            t.join(max(0.0, deadline - time.monotonic()))
        self.notices.shutdown(wait=False)

    def wait_idle(self, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.queue.unfinished_tasks == 0:
                return True
            time.sleep(0.02)
        return False

    # ---- health --------------------------------------------------------------------------
    @property
    def depth(self) -> int:
        return self.queue.qsize()

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def _count(self, key: str) -> None:
        with self._lock:
            self.stats[key] += 1
