"""In-memory job store: dicts and a lock, the same semantics as SQLite and PostgreSQL, for fast unit
tests of listeners and workers. Two stores made with the same `MemoryData` behave like two processes
on one database (shared jobs, keys, rate limits and wake-ups)."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import Counter

from . import (ACCEPT_FIELDS, FAILED_KEEP_S, RATE_LIMITED, UPDATE_FIELDS, Job, JobStatus, Outcome, Wakeup, check_final,
               check_job, check_meta, check_vote, merge_insight_rows, unique_keys)


class MemoryData:
    """What a database would hold."""

    def __init__(self):
        self.lock = threading.RLock()
        self.jobs: dict[int, Job] = {}
        self.dedupe: dict[str, tuple[int | None, float]] = {}
        self.answers: dict[str, dict] = {}
        self.feedback: dict[tuple[str, str], dict] = {}
        self.rate_hits: dict[str, list[float]] = {}
        self.meta: dict[str, str] = {}
        self.last_id = 0
        self.last_vote_id = 0
        self.wakeup = Wakeup()


class MemoryJobStore:
    def __init__(self, data: MemoryData | None = None):
        self.data = data or MemoryData()

    @staticmethod
    def _copy(job: Job) -> Job:
        return dataclasses.replace(job)

    def accept(self, keys: list[str], *, rate: tuple[int, float] | None = None, **job) -> Job | None:
        check_job(job)
        keys = unique_keys(keys)
        now = time.time()
        d = self.data
        with d.lock:
            if any(k in d.dedupe for k in keys):
                return None
            d.last_id += 1
            stored = Job(id=d.last_id, created=now, updated=now, **{c: job[c] for c in job if c in ACCEPT_FIELDS})
            if rate and not self._hit(stored.user, rate[0], rate[1], now):
                stored.status, stored.error = JobStatus.SKIPPED, RATE_LIMITED
            d.jobs[stored.id] = stored
            for k in keys:
                d.dedupe[k] = (stored.id, now)
        d.wakeup.bump()
        return self._copy(stored)

    def remember(self, key: str) -> bool:
        with self.data.lock:
            if key in self.data.dedupe:
                return False
            self.data.dedupe[key] = (None, time.time())
            return True

    def claim(self, owner: str, lease_s: float, limit: int = 1) -> list[Job]:
        if not owner:
            raise ValueError("claim() needs an owner")
        d = self.data
        d.wakeup.mark()
        now = time.time()
        out = []
        with d.lock:
            for job in sorted(d.jobs.values(), key=lambda j: j.id):
                if len(out) >= limit:
                    break
                if job.status == JobStatus.QUEUED or (job.status == JobStatus.RUNNING
                                                      and (job.lease_until or 0) < now):
                    job.status, job.owner, job.lease_until = JobStatus.RUNNING, owner, now + lease_s
                    job.attempts += 1
                    job.updated = now
                    out.append(self._copy(job))
        return out

    def _held(self, job_id: int, owner: str) -> Job | None:
        job = self.data.jobs.get(job_id)
        return job if job is not None and job.owner == owner and job.status == JobStatus.RUNNING else None

    def heartbeat(self, job_id: int, owner: str, lease_s: float) -> bool:
        with self.data.lock:
            job = self._held(job_id, owner)
            if job is None:
                return False
            now = time.time()
            job.lease_until, job.updated = now + lease_s, now
            return True

    def finish(self, job_id: int, owner: str, status: JobStatus, error: str | None = None) -> bool:
        status = check_final(status)
        with self.data.lock:
            job = self._held(job_id, owner)
            if job is None:
                return False
            job.status, job.error, job.lease_until, job.updated = status, error, None, time.time()
            return True

    def cancel(self, job_id: int, status: JobStatus, error: str | None = None) -> bool:
        status = check_final(status)
        with self.data.lock:
            job = self.data.jobs.get(job_id)
            if job is None or job.status != JobStatus.QUEUED:
                return False
            job.status, job.error, job.updated = status, error, time.time()
            return True

    def release(self, job_id: int, owner: str) -> bool:
        with self.data.lock:
            job = self._held(job_id, owner)
            if job is None:
                return False
            job.status, job.owner, job.lease_until, job.updated = JobStatus.QUEUED, None, None, time.time()
        self.data.wakeup.bump()
        return True

    def release_owner(self, owner_prefix: str) -> int:
        if not owner_prefix:
            raise ValueError("release_owner() needs a non-empty owner prefix (it would release every job)")
        n = 0
        with self.data.lock:
            for job in self.data.jobs.values():
                if job.status == JobStatus.RUNNING and (job.owner or "").startswith(owner_prefix):
                    job.status, job.owner, job.lease_until, job.updated = JobStatus.QUEUED, None, None, time.time()
                    n += 1
        if n:
            self.data.wakeup.bump()
        return n

    def update(self, job_id: int, **values) -> None:
        bad = set(values) - set(UPDATE_FIELDS)
        if bad:
            raise ValueError(f"not job fields: {', '.join(sorted(bad))}")
        values.setdefault("updated", time.time())
        with self.data.lock:
            job = self.data.jobs.get(job_id)
            if job is not None:
                for k, v in values.items():
                    setattr(job, k, v)
                job.__post_init__()

    def job(self, job_id: int) -> Job | None:
        with self.data.lock:
            job = self.data.jobs.get(job_id)
            return self._copy(job) if job is not None else None

    def wait_for_work(self, timeout_s: float) -> None:
        self.data.wakeup.wait(timeout_s)

    def allow(self, user: str, limit: int, window_s: float = 60.0) -> bool:
        with self.data.lock:
            return self._hit(user, limit, window_s, time.time())

    def _hit(self, user: str, limit: int, window_s: float, now: float) -> bool:
        """Count a hit if `user` is under `limit` (caller holds the lock)."""
        if limit <= 0:
            return True
        hits = [t for t in self.data.rate_hits.get(user, []) if t >= now - window_s]
        allowed = len(hits) < limit
        if allowed:
            hits.append(now)
        self.data.rate_hits[user] = hits
        return allowed

    def save_answer(self, answer_id: str, job: Job, *, answer: str, mode: str, outcome: Outcome,
                    sources: list[dict], version: str | None, latency_s: float | None) -> None:
        row = {"id": answer_id, "job_id": job.id, "channel": job.channel, "thread_ts": job.thread_ts,
               "user": job.user, "question": job.question, "answer": answer, "mode": mode,
               "sources": list(sources), "created": time.time(), "outcome": Outcome(outcome), "version": version,
               "latency_s": latency_s}
        with self.data.lock:
            self.data.answers[answer_id] = row

    def answer_stats(self, buckets) -> dict:
        """Answers by outcome and their time to answer: {"by_outcome": {outcome: n}, "latency_count",
        "latency_sum", "latency_le": [answers with latency_s <= b for b in buckets]} (for /metrics)."""
        with self.data.lock:
            rows = list(self.data.answers.values())
        by_outcome: dict = {}
        for r in rows:
            by_outcome[str(r["outcome"])] = by_outcome.get(str(r["outcome"]), 0) + 1
        lat = [r["latency_s"] for r in rows if r["latency_s"] is not None]
        return {"by_outcome": by_outcome, "latency_count": len(lat), "latency_sum": float(sum(lat)),
                "latency_le": [sum(1 for x in lat if x <= b) for b in buckets]}

    def answer(self, answer_id: str) -> dict | None:
        with self.data.lock:
            row = self.data.answers.get(answer_id)
            return dict(row) if row else None

    def add_feedback(self, answer_id: str, user: str, value: str) -> None:
        check_vote(value)
        now = time.time()
        with self.data.lock:
            vote = self.data.feedback.get((answer_id, user))
            if vote is None:
                self.data.last_vote_id += 1
                self.data.feedback[(answer_id, user)] = {"id": self.data.last_vote_id, "answer_id": answer_id,
                                                         "user": user, "value": value, "created": now,
                                                         "updated": now}
            else:
                vote.update(value=value, updated=now)

    def feedback(self, answer_id: str | None = None) -> list[dict]:
        with self.data.lock:
            votes = [dict(v) for v in self.data.feedback.values() if answer_id in (None, v["answer_id"])]
        return sorted(votes, key=lambda v: v["id"])

    def insights_rows(self, since: float) -> list[dict]:
        with self.data.lock:
            votes = Counter((v["answer_id"], v["value"]) for v in self.data.feedback.values())
            answers = [{"job_id": a["job_id"], "question": a["question"], "outcome": a["outcome"], "mode": a["mode"],
                        "latency_s": a["latency_s"], "channel": a["channel"], "thread_ts": a["thread_ts"],
                        "user": a["user"], "created": a["created"],
                        "up": votes[a["id"], "up"], "down": votes[a["id"], "down"]}
                       for a in self.data.answers.values() if a["created"] >= since]
            failed = [{"job_id": j.id, "question": j.question, "outcome": "failed", "mode": "", "latency_s": None,
                       "channel": j.channel, "thread_ts": j.thread_ts, "user": j.user, "created": j.created,
                       "up": 0, "down": 0}
                      for j in self.data.jobs.values() if j.status == JobStatus.FAILED and j.created >= since]
        return merge_insight_rows(answers, failed)

    def set_meta(self, key: str, value: str) -> None:
        check_meta(key, value)
        with self.data.lock:
            self.data.meta[key] = value

    def meta(self, key: str) -> str | None:
        check_meta(key)
        with self.data.lock:
            return self.data.meta.get(key)

    def stats(self) -> dict:
        now = time.time()
        by_status: dict[str, int] = {}
        with self.data.lock:
            for job in self.data.jobs.values():
                by_status[str(job.status)] = by_status.get(str(job.status), 0) + 1
            queued = [j.created for j in self.data.jobs.values() if j.status == JobStatus.QUEUED]
        return {"by_status": by_status, "queue_depth": len(queued),
                "oldest_waiting_s": max(0.0, now - min(queued)) if queued else 0.0}

    def prune(self, older_than_s: float = 7 * 86400) -> None:
        now = time.time()
        cutoff = now - older_than_s
        d = self.data
        with d.lock:
            d.dedupe = {k: v for k, v in d.dedupe.items() if v[1] >= cutoff}
            failed_cutoff = now - max(older_than_s, FAILED_KEEP_S)
            d.jobs = {i: j for i, j in d.jobs.items()
                      if j.status in (JobStatus.QUEUED, JobStatus.RUNNING) or j.updated >= cutoff
                      or (j.status == JobStatus.FAILED and j.updated >= failed_cutoff)}
            hits_cutoff = now - min(older_than_s, 86400)
            d.rate_hits = {u: [t for t in h if t >= hits_cutoff] for u, h in d.rate_hits.items()}
            d.rate_hits = {u: h for u, h in d.rate_hits.items() if h}

    def close(self) -> None:
        pass
