"""SQLite job store: the embedded default (nothing to install, one machine).

A question is written here (dedupe keys and job in ONE statement) before its Slack event is
acknowledged, so a redelivery can never make a second job and a crash never loses an accepted
question. The file is created with mode 0600. The measured wins of the SQLite backend live here:
group commit of concurrent acks, acks before workers on the write lock, WAL without checkpoints
on the ack path, a trigger that writes a job's dedupe keys, no jobs(status) index (44 -> 30 us an
accept), a small connection pool.
"""

from __future__ import annotations

import json
import os
import queue
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from . import (ACCEPT_FIELDS, FAILED_KEEP_S, RATE_LIMITED, UPDATE_FIELDS, Job, JobStatus, Outcome, StateUnavailable, Wakeup,
               check_final, check_job, check_meta, check_vote, job_from_row, merge_insight_rows, unique_keys)

POOL_SIZE = 4  # SQLite connections per process: writes are one at a time anyway, reads are short
POLL_S = 0.02  # wait_for_work: how often to look for jobs accepted by other processes (an indexed MAX(id))

# Idempotent: runs on every start, in one write transaction (several processes may start at once).
SCHEMA = [
    "CREATE TABLE IF NOT EXISTS dedupe (key TEXT PRIMARY KEY, job_id INTEGER, created REAL NOT NULL) WITHOUT ROWID",
    """CREATE TABLE IF NOT EXISTS jobs (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL, channel TEXT NOT NULL, user TEXT NOT NULL, question TEXT NOT NULL,
        ts TEXT, thread_ts TEXT, response_url TEXT, team TEXT,
        status TEXT NOT NULL DEFAULT 'queued', reply_ts TEXT, attempts INTEGER NOT NULL DEFAULT 0,
        created REAL NOT NULL, updated REAL NOT NULL, error TEXT, response_url_only INTEGER NOT NULL DEFAULT 0,
        keys TEXT, owner TEXT, lease_until REAL)""",
    "DROP INDEX IF EXISTS jobs_status",  # measured: an index on status costs every accept more than it saves
    """CREATE TABLE IF NOT EXISTS answers (
        id TEXT PRIMARY KEY, job_id INTEGER, channel TEXT, thread_ts TEXT, user TEXT,
        question TEXT, answer TEXT, mode TEXT, sources TEXT, created REAL NOT NULL,
        outcome TEXT, version TEXT, latency_s REAL)""",
    """CREATE TABLE IF NOT EXISTS feedback (
        id INTEGER PRIMARY KEY AUTOINCREMENT, answer_id TEXT, user TEXT, value TEXT, created REAL NOT NULL,
        updated REAL)""",
    "CREATE TABLE IF NOT EXISTS rate_hits (user TEXT NOT NULL, at REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated REAL NOT NULL) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS rate_hits_user ON rate_hits (user, at)",
]
# columns a state DB from before may lack
COLUMNS = {
    "jobs": {"keys": "TEXT", "owner": "TEXT", "lease_until": "REAL"},
    "answers": {"outcome": "TEXT", "version": "TEXT", "latency_s": "REAL"},
    "feedback": {"updated": "REAL"},
}
INDEXES = [
    # the insights report: questions over 7/30 days by outcome, median latency, "not covered" questions
    "CREATE INDEX IF NOT EXISTS answers_created ON answers (created, outcome, latency_s)",
    "CREATE INDEX IF NOT EXISTS answers_outcome ON answers (outcome, created)",
    "CREATE INDEX IF NOT EXISTS feedback_updated ON feedback (updated, value)",
    # failed questions of a period; partial, so an accept (status queued) never writes to it
    "CREATE INDEX IF NOT EXISTS jobs_failed ON jobs (created) WHERE status = 'failed'",
]
# the insights report (insights_rows): answers by created, their votes through feedback_vote (answer_id, user)
INSIGHT_ANSWERS = """SELECT a.job_id, a.question, a.outcome, a.mode, a.latency_s, a.channel, a.thread_ts, a.user,
    a.created,
    (SELECT COUNT(*) FROM feedback f WHERE f.answer_id = a.id AND f.value = 'up') AS up,
    (SELECT COUNT(*) FROM feedback f WHERE f.answer_id = a.id AND f.value = 'down') AS down
    FROM answers a WHERE a.created >= ?"""
INSIGHT_FAILED = """SELECT id AS job_id, question, 'failed' AS outcome, '' AS mode, NULL AS latency_s, channel,
    thread_ts, user, created, 0 AS up, 0 AS down FROM jobs WHERE status = 'failed' AND created >= ?"""
# one vote per user and answer (a state DB from before kept every click: the last one counts)
FEEDBACK_VOTE = [
    "DELETE FROM feedback WHERE id NOT IN (SELECT MAX(id) FROM feedback GROUP BY answer_id, user)",
    "UPDATE feedback SET updated = created WHERE updated IS NULL",
    "CREATE UNIQUE INDEX IF NOT EXISTS feedback_vote ON feedback (answer_id, user)",
]

# A job and its dedupe keys are written by ONE statement: the trigger adds the keys, and a key seen
# before fails the whole statement (the job row with it), leaving the rest of the transaction intact.
DEDUPE_TRIGGER = """
CREATE TRIGGER IF NOT EXISTS jobs_dedupe AFTER INSERT ON jobs WHEN NEW.keys IS NOT NULL BEGIN
    INSERT INTO dedupe (key, job_id, created) SELECT value, NEW.id, NEW.created FROM json_each(NEW.keys);
END
"""

CLAIMABLE = "status = 'queued' OR (status = 'running' AND COALESCE(lease_until, 0) < ?)"


class SQLiteJobStore:
    """The JobStore on one SQLite file (see bot.jobstore.JobStore for the guarantees)."""

    def __init__(self, path: str | Path):
        self.path = str(path)
        self._write = _WriteLock()
        # a small pool, not one connection per thread: the answer process has 128 worker threads,
        # and a connection each cost ~20 MB (measured)
        self._idle: queue.LifoQueue[sqlite3.Connection] = queue.LifoQueue()
        self._opened: list[sqlite3.Connection] = []
        self._pool_lock = threading.Lock()
        self._pool_size = 1 if self.path == ":memory:" else POOL_SIZE  # one in-memory DB per connection
        self._pending: list[_Accept] = []
        self._committing = False
        self._group = threading.Condition()
        self._wakeup = Wakeup()
        self._max_seen = 0  # the newest job id this process knows of (wait_for_work polls for newer)
        self._poll_lock = threading.Lock()
        self._last_poll = 0.0
        try:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600)
                os.close(fd)
                os.chmod(self.path, 0o600)
            with self._connection() as conn:
                self._migrate(conn)
                self._max_seen = conn.execute("SELECT COALESCE(MAX(id), 0) FROM jobs").fetchone()[0]
        except (OSError, sqlite3.Error) as exc:
            self.close()
            raise StateUnavailable(f"cannot open the state database FAQBOT_STATE_DB={self.path}: {exc}") from exc

    @staticmethod
    def _migrate(conn: sqlite3.Connection) -> None:
        """Create or bring up to date, in one write transaction: processes starting at once take turns."""
        conn.execute("BEGIN IMMEDIATE")
        try:
            for sql in SCHEMA:
                conn.execute(sql)
            for table, columns in COLUMNS.items():
                have = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
                for name, kind in columns.items():
                    if name not in have:  # a state DB from before
                        conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")
            if not conn.execute("SELECT 1 FROM sqlite_master WHERE type='index' AND name='feedback_vote'").fetchone():
                for sql in FEEDBACK_VOTE:
                    conn.execute(sql)
            for sql in INDEXES:
                conn.execute(sql)
            conn.execute(DEDUPE_TRIGGER)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a process crash loses nothing
        # no checkpoint (with its fsync) inside an ack's commit: `checkpoint()` runs in the background
        conn.execute("PRAGMA wal_autocheckpoint=0")
        return conn

    @contextmanager
    def _connection(self):
        """Borrow a connection from the pool (opened on first need, at most POOL_SIZE)."""
        try:
            conn = self._idle.get_nowait()
        except queue.Empty:
            with self._pool_lock:
                conn = self._open() if len(self._opened) < self._pool_size else None
                if conn is not None:
                    self._opened.append(conn)
            if conn is None:
                conn = self._idle.get()
        try:
            yield conn
        finally:
            self._idle.put(conn)

    def _unavailable(self, exc: Exception) -> StateUnavailable:
        return StateUnavailable(f"cannot use the state database FAQBOT_STATE_DB={self.path}: {exc}")

    @contextmanager
    def _tx(self, urgent: bool = False):
        """BEGIN IMMEDIATE ... COMMIT, one writer at a time (SQLite allows one)."""
        try:
            with self._write.hold(urgent), self._connection() as conn:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
                try:
                    conn.execute("COMMIT")
                except sqlite3.Error:
                    if conn.in_transaction:  # a failed COMMIT leaves the transaction open
                        conn.execute("ROLLBACK")
                    raise
        except sqlite3.OperationalError as exc:  # locked past the busy timeout, disk full, I/O error
            raise self._unavailable(exc) from exc

    def _statement(self, sql: str, params, urgent: bool = False) -> sqlite3.Cursor:
        """One write statement: atomic on its own (autocommit). `urgent` = on the ack path."""
        try:
            with self._write.hold(urgent), self._connection() as conn:
                return conn.execute(sql, params)
        except sqlite3.OperationalError as exc:
            raise self._unavailable(exc) from exc

    def _read(self, sql: str, params=()) -> list[sqlite3.Row]:
        try:
            with self._connection() as conn:
                return conn.execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:
            raise self._unavailable(exc) from exc

    # ---- intake -----------------------------------------------------------------------
    def accept(self, keys: list[str], *, rate: tuple[int, float] | None = None, **job) -> Job | None:
        """Record the job and its dedupe keys atomically; None if any key was seen before.

        Group commit: acks arrive concurrently, and a commit costs more than the inserts in it, so
        whoever finds no commit in progress writes every pending job in one transaction (each job
        is one statement, so a duplicate rolls back only itself) while the others wait for it."""
        check_job(job)
        now = time.time()
        cols = [c for c in job if c in ACCEPT_FIELDS]
        values = {c: job[c] for c in cols}
        if "response_url_only" in values:
            values["response_url_only"] = int(bool(values["response_url_only"]))
        item = _Accept(
            f"INSERT INTO jobs ({', '.join(cols)}, created, updated, keys) VALUES "
            f"({', '.join('?' for _ in cols)}, ?, ?, ?)",
            [values[c] for c in cols] + [now, now, json.dumps(unique_keys(keys))],
            user=values.get("user") or "", rate=rate if rate and rate[0] > 0 else None, now=now)
        with self._group:
            self._pending.append(item)
            while self._committing and not item.done:
                self._group.wait()
            if not item.done:  # lead: take everything pending
                self._committing = True
                batch, self._pending = self._pending, []
        if not item.done:
            try:
                self._commit(batch)
            finally:
                with self._group:
                    self._committing = False
                    self._group.notify_all()
        if item.error is not None:
            if isinstance(item.error, StateUnavailable):
                raise item.error
            raise self._unavailable(item.error) from item.error
        if item.job_id is None:
            return None
        self._max_seen = max(self._max_seen, item.job_id)
        if item.limited:
            return Job(id=item.job_id, created=now, updated=now, status=JobStatus.SKIPPED, error=RATE_LIMITED,
                       **values)
        self._wakeup.bump()
        return Job(id=item.job_id, created=now, updated=now, **values)

    def _commit(self, batch: list[_Accept]) -> None:
        try:
            with self._tx(urgent=True) as conn:
                for it in batch:
                    try:
                        it.job_id = conn.execute(it.sql, it.params).lastrowid
                        if it.rate and not _rate_hit(conn, it.user, *it.rate, it.now):
                            conn.execute("UPDATE jobs SET status='skipped', error=? WHERE id=?", (RATE_LIMITED, it.job_id))
                            it.limited = True
                    except sqlite3.IntegrityError:
                        it.job_id = None  # a key seen before: this statement (and only it) is undone
                    except sqlite3.Error as exc:
                        it.job_id, it.error = None, exc
                        if not conn.in_transaction:  # SQLite gave up the transaction: so do we
                            raise
        except Exception as exc:
            for it in batch:
                it.job_id, it.error = None, it.error or exc
        finally:
            for it in batch:
                it.done = True

    def remember(self, key: str) -> bool:
        """Record a key outside a job (e.g. an interaction); False if it was already there."""
        cur = self._statement("INSERT OR IGNORE INTO dedupe (key, created) VALUES (?, ?)", (key, time.time()),
                              urgent=True)
        return cur.rowcount == 1

    # ---- workers ------------------------------------------------------------------------
    def claim(self, owner: str, lease_s: float, limit: int = 1) -> list[Job]:
        if not owner:
            raise ValueError("claim() needs an owner")
        self._wakeup.mark()
        now = time.time()
        with self._tx() as conn:  # BEGIN IMMEDIATE: the write lock of the file, so claimers take turns
            self._max_seen = max(self._max_seen, conn.execute("SELECT COALESCE(MAX(id), 0) FROM jobs").fetchone()[0])
            rows = conn.execute(
                "UPDATE jobs SET status='running', owner=?, lease_until=?, attempts=attempts+1, updated=? "
                f"WHERE id IN (SELECT id FROM jobs WHERE {CLAIMABLE} ORDER BY id LIMIT ?) RETURNING *",
                (owner, now + lease_s, now, now, max(0, int(limit)))).fetchall()
        return sorted((job_from_row(r) for r in rows), key=lambda j: j.id)

    def heartbeat(self, job_id: int, owner: str, lease_s: float) -> bool:
        now = time.time()
        cur = self._statement("UPDATE jobs SET lease_until=?, updated=? WHERE id=? AND owner=? AND status='running'",
                              (now + lease_s, now, job_id, owner))
        return cur.rowcount == 1

    def finish(self, job_id: int, owner: str, status: JobStatus, error: str | None = None) -> bool:
        status = check_final(status)
        cur = self._statement("UPDATE jobs SET status=?, error=?, lease_until=NULL, updated=? "
                              "WHERE id=? AND owner=? AND status='running'",
                              (str(status), error, time.time(), job_id, owner))
        return cur.rowcount == 1

    def cancel(self, job_id: int, status: JobStatus, error: str | None = None) -> bool:
        status = check_final(status)
        cur = self._statement("UPDATE jobs SET status=?, error=?, updated=? WHERE id=? AND status='queued'",
                              (str(status), error, time.time(), job_id), urgent=True)
        return cur.rowcount == 1

    def release(self, job_id: int, owner: str) -> bool:
        cur = self._statement("UPDATE jobs SET status='queued', owner=NULL, lease_until=NULL, updated=? "
                              "WHERE id=? AND owner=? AND status='running'", (time.time(), job_id, owner))
        if cur.rowcount:
            self._wakeup.bump()
        return cur.rowcount == 1

    def release_owner(self, owner_prefix: str) -> int:
        if not owner_prefix:
            raise ValueError("release_owner() needs a non-empty owner prefix (it would release every job)")
        cur = self._statement("UPDATE jobs SET status='queued', owner=NULL, lease_until=NULL, updated=? "
                              "WHERE status='running' AND substr(owner, 1, ?) = ?",
                              (time.time(), len(owner_prefix), owner_prefix))
        if cur.rowcount:
            self._wakeup.bump()
        return cur.rowcount

    def update(self, job_id: int, urgent: bool = False, **values) -> None:
        """Set Job fields; `urgent` = on the ack path (goes before workers' writes)."""
        bad = set(values) - set(UPDATE_FIELDS)
        if bad:
            raise ValueError(f"not job fields: {', '.join(sorted(bad))}")
        values.setdefault("updated", time.time())
        if "response_url_only" in values:
            values["response_url_only"] = int(bool(values["response_url_only"]))
        values = {k: (str(v) if isinstance(v, (JobStatus,)) else v) for k, v in values.items()}
        self._statement(f"UPDATE jobs SET {', '.join(f'{k}=?' for k in values)} WHERE id=?",
                        [*values.values(), job_id], urgent=urgent)

    def job(self, job_id: int) -> Job | None:
        rows = self._read("SELECT * FROM jobs WHERE id=?", (job_id,))
        return job_from_row(rows[0]) if rows else None

    def wait_for_work(self, timeout_s: float) -> None:
        self._wakeup.wait(timeout_s, poll=self._poll, poll_every_s=POLL_S)

    def _poll(self) -> None:
        """Another process accepted a job? (one waiting thread looks, at most every POLL_S)"""
        if not self._poll_lock.acquire(blocking=False):
            return
        try:
            if time.monotonic() - self._last_poll < POLL_S / 2:
                return
            self._last_poll = time.monotonic()
            newest = self._read("SELECT COALESCE(MAX(id), 0) FROM jobs")[0][0]
            if newest > self._max_seen:
                self._max_seen = newest
                self._wakeup.bump()
        except (sqlite3.Error, StateUnavailable):
            pass  # the next claim will say what is wrong
        finally:
            self._poll_lock.release()

    # ---- rate limit ------------------------------------------------------------------------
    def allow(self, user: str, limit: int, window_s: float = 60.0) -> bool:
        if limit <= 0:
            return True
        with self._tx(urgent=True) as conn:  # on the ack path
            return _rate_hit(conn, user, limit, window_s, time.time())

    # ---- answers & feedback ----------------------------------------------------------------
    def save_answer(self, answer_id: str, job: Job, *, answer: str, mode: str, outcome: Outcome,
                    sources: list[dict], version: str | None, latency_s: float | None) -> None:
        self._statement(
            "INSERT OR REPLACE INTO answers (id, job_id, channel, thread_ts, user, question, answer, mode,"
            " sources, created, outcome, version, latency_s) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (answer_id, job.id, job.channel, job.thread_ts, job.user, job.question, answer, mode,
             json.dumps(sources), time.time(), str(Outcome(outcome)), version, latency_s))

    def answer(self, answer_id: str) -> dict | None:
        rows = self._read("SELECT * FROM answers WHERE id=?", (answer_id,))
        if not rows:
            return None
        out = dict(rows[0])
        out["sources"] = json.loads(out["sources"] or "[]")
        return out

    def add_feedback(self, answer_id: str, user: str, value: str) -> None:
        now = time.time()
        self._statement("INSERT INTO feedback (answer_id, user, value, created, updated) VALUES (?,?,?,?,?) "
                        "ON CONFLICT (answer_id, user) DO UPDATE SET value=excluded.value, updated=excluded.updated",
                        (answer_id, user, check_vote(value), now, now), urgent=True)

    def feedback(self, answer_id: str | None = None) -> list[dict]:
        if answer_id is None:
            rows = self._read("SELECT * FROM feedback ORDER BY id")
        else:
            rows = self._read("SELECT * FROM feedback WHERE answer_id=? ORDER BY id", (answer_id,))
        return [dict(r) for r in rows]

    # ---- insights & meta ----------------------------------------------------------------------
    def insights_rows(self, since: float) -> list[dict]:
        try:
            with self._connection() as conn:
                conn.execute("BEGIN")  # one snapshot for both queries
                try:
                    answers = conn.execute(INSIGHT_ANSWERS, (since,)).fetchall()
                    failed = conn.execute(INSIGHT_FAILED, (since,)).fetchall()
                finally:
                    conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            raise self._unavailable(exc) from exc
        return merge_insight_rows([dict(r) for r in answers], [dict(r) for r in failed])

    def set_meta(self, key: str, value: str) -> None:
        check_meta(key, value)
        self._statement("INSERT INTO meta (key, value, updated) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE "
                        "SET value = excluded.value, updated = excluded.updated", (key, value, time.time()))

    def meta(self, key: str) -> str | None:
        check_meta(key)
        rows = self._read("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    # ---- upkeep -------------------------------------------------------------------------
    def answer_stats(self, buckets) -> dict:
        """Answers by outcome and their time to answer: {"by_outcome": {outcome: n}, "latency_count",
        "latency_sum", "latency_le": [answers with latency_s <= b for b in buckets]} (for /metrics)."""
        by_outcome = {r[0]: r[1] for r in self._read("SELECT outcome, COUNT(*) FROM answers GROUP BY outcome")}
        sums = ", ".join("SUM(latency_s <= ?)" for _ in buckets)
        row = self._read(f"SELECT COUNT(latency_s), COALESCE(SUM(latency_s), 0) {', ' + sums if sums else ''} "
                         "FROM answers", tuple(float(b) for b in buckets))[0]
        return {"by_outcome": by_outcome, "latency_count": row[0], "latency_sum": float(row[1]),
                "latency_le": [int(x or 0) for x in list(row)[2:]]}

    def stats(self) -> dict:
        with self._connection() as conn:
            by_status = {r[0]: r[1] for r in conn.execute("SELECT status, COUNT(*) FROM jobs GROUP BY status")}
            oldest = conn.execute("SELECT MIN(created) FROM jobs WHERE status='queued'").fetchone()[0]
        return {"by_status": by_status, "queue_depth": by_status.get("queued", 0),
                "oldest_waiting_s": max(0.0, time.time() - oldest) if oldest is not None else 0.0}

    def prune(self, older_than_s: float = 7 * 86400) -> None:
        """Drop dedupe keys and finished jobs older than a week (Slack retries stop after ~6 min); failed
        jobs stay FAILED_KEEP_S (the insights report counts them)."""
        now = time.time()
        cutoff = now - older_than_s
        with self._tx() as conn:
            conn.execute("DELETE FROM dedupe WHERE created < ?", (cutoff,))
            # the newest job stays, so job ids never restart (the table has no AUTOINCREMENT)
            conn.execute("DELETE FROM jobs WHERE updated < ? AND status NOT IN ('queued','running') "
                         "AND NOT (status = 'failed' AND updated >= ?) AND id < (SELECT MAX(id) FROM jobs)",
                         (cutoff, now - max(older_than_s, FAILED_KEEP_S)))
            conn.execute("DELETE FROM rate_hits WHERE at < ?", (now - min(older_than_s, 86400),))

    def checkpoint(self) -> None:
        """Copy the WAL into the database without blocking writers (called every few seconds)."""
        with self._connection() as conn:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def close(self) -> None:
        with self._pool_lock:
            opened, self._opened = self._opened, []
        for conn in opened:
            conn.close()
        self._idle = queue.LifoQueue()


class _WriteLock:
    """SQLite takes one writer at a time; this lock decides who goes next. Writes on the ack path
    (`urgent`) go before answer workers' writes: with a plain lock, an ack's commit could queue
    behind dozens of workers' status updates while Slack waits."""

    def __init__(self):
        self._mutex = threading.Lock()
        self._urgent = threading.Condition(self._mutex)
        self._normal = threading.Condition(self._mutex)
        self._held = False
        self._waiting_urgent = 0

    @contextmanager
    def hold(self, urgent: bool = False):
        with self._mutex:
            if urgent:
                self._waiting_urgent += 1
                while self._held:
                    self._urgent.wait()
                self._waiting_urgent -= 1
            else:
                while self._held or self._waiting_urgent:
                    self._normal.wait()
            self._held = True
        try:
            yield
        finally:
            with self._mutex:
                self._held = False
                (self._urgent if self._waiting_urgent else self._normal).notify()


def _rate_hit(conn, user: str, limit: int, window_s: float, now: float) -> bool:
    """Count a hit for `user` if under `limit` in the sliding window (inside the caller's transaction)."""
    conn.execute("DELETE FROM rate_hits WHERE user=? AND at < ?", (user, now - window_s))
    if conn.execute("SELECT COUNT(*) FROM rate_hits WHERE user=?", (user,)).fetchone()[0] >= limit:
        return False
    conn.execute("INSERT INTO rate_hits (user, at) VALUES (?, ?)", (user, now))
    return True


class _Accept:
    __slots__ = ("sql", "params", "user", "rate", "now", "done", "job_id", "error", "limited")

    def __init__(self, sql: str, params: list, user: str = "", rate: tuple[int, float] | None = None,
                 now: float = 0.0):
        self.sql, self.params, self.user, self.rate, self.now = sql, params, user, rate, now
        self.done, self.job_id, self.error, self.limited = False, None, None, False
