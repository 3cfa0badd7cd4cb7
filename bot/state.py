"""The bot's SQLite state: dedupe keys, durable jobs, answers, feedback.

A question is written here (dedupe keys and job in ONE transaction) before its
Slack event is acknowledged, so a redelivery can never make a second job and a
crash never loses an accepted question. The file is created with mode 0600.
"""

from __future__ import annotations

import json
import os
import queue
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS dedupe (key TEXT PRIMARY KEY, job_id INTEGER, created REAL NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL, channel TEXT NOT NULL, user TEXT NOT NULL, question TEXT NOT NULL,
    ts TEXT, thread_ts TEXT, response_url TEXT, team TEXT,
    status TEXT NOT NULL DEFAULT 'queued', reply_ts TEXT, attempts INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL, updated REAL NOT NULL, error TEXT, response_url_only INTEGER NOT NULL DEFAULT 0,
    keys TEXT
);
DROP INDEX IF EXISTS jobs_status;
CREATE TABLE IF NOT EXISTS answers (
    id TEXT PRIMARY KEY, job_id INTEGER, channel TEXT, thread_ts TEXT, user TEXT,
    question TEXT, answer TEXT, mode TEXT, sources TEXT, created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT, answer_id TEXT, user TEXT, value TEXT, created REAL NOT NULL
);
"""

# A job and its dedupe keys are written by ONE statement: the trigger adds the keys, and a key seen
# before fails the whole statement (the job row with it), leaving the rest of the transaction intact.
DEDUPE_TRIGGER = """
CREATE TRIGGER IF NOT EXISTS jobs_dedupe AFTER INSERT ON jobs WHEN NEW.keys IS NOT NULL BEGIN
    INSERT INTO dedupe (key, job_id, created) SELECT value, NEW.id, NEW.created FROM json_each(NEW.keys);
END;
"""

OPEN = ("queued", "running")


@dataclass
class Job:
    id: int
    kind: str  # mention | command | support | dm | assistant
    channel: str
    user: str
    question: str
    ts: str | None = None  # the question's own message ts (reactions, dedupe)
    thread_ts: str | None = None  # where the answer goes
    response_url: str | None = None
    team: str | None = None
    status: str = "queued"
    reply_ts: str | None = None  # the answer message, once posted (makes a retry edit, not repost)
    attempts: int = 0
    created: float = 0.0
    updated: float = 0.0
    error: str | None = None
    response_url_only: bool = False  # /milvus where the bot is not in the channel


_JOB_FIELDS = [f.name for f in fields(Job)]


POOL_SIZE = 4  # SQLite connections per process: writes are one at a time anyway, reads are short


class State:
    def __init__(self, path: str | Path):
        self.path = str(path)
        self._write = _WriteLock()
        # a small pool, not one connection per thread: the answer process has 128 worker threads,
        # and a connection each cost ~20 MB (measured)
        self._idle: queue.LifoQueue[sqlite3.Connection] = queue.LifoQueue()
        self._opened: list[sqlite3.Connection] = []
        self._pool_lock = threading.Lock()
        self._pool_size = 1 if self.path == ":memory:" else POOL_SIZE  # one in-memory DB per connection
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600)
            os.close(fd)
            os.chmod(self.path, 0o600)
        self._pending: list[_Accept] = []
        self._committing = False
        self._group = threading.Condition()
        with self._connection() as conn:
            conn.executescript(SCHEMA)
            if "keys" not in {r[1] for r in conn.execute("PRAGMA table_info(jobs)")}:  # a state DB from before
                conn.execute("ALTER TABLE jobs ADD COLUMN keys TEXT")
            conn.executescript(DEDUPE_TRIGGER)

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

    @contextmanager
    def _tx(self, urgent: bool = False):
        """BEGIN IMMEDIATE ... COMMIT, one writer at a time (SQLite allows one)."""
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

    def _statement(self, sql: str, params, urgent: bool = False) -> sqlite3.Cursor:
        """One write statement: atomic on its own (autocommit). `urgent` = on the ack path."""
        with self._write.hold(urgent), self._connection() as conn:
            return conn.execute(sql, params)

    def _read(self, sql: str, params=()) -> list[sqlite3.Row]:
        with self._connection() as conn:
            return conn.execute(sql, params).fetchall()

    # ---- intake -----------------------------------------------------------------------
    def accept(self, keys: list[str], **job) -> Job | None:
        """Record the job and its dedupe keys atomically; None if any key was seen before.

        Group commit: acks arrive concurrently, and a commit costs more than the inserts in it, so
        whoever finds no commit in progress writes every pending job in one transaction (each job
        is one statement, so a duplicate rolls back only itself) while the others wait for it."""
        now = time.time()
        cols = [c for c in job if c in _JOB_FIELDS and c not in ("id", "created", "updated")]
        item = _Accept(
            f"INSERT INTO jobs ({', '.join(cols)}, created, updated, keys) VALUES "
            f"({', '.join('?' for _ in cols)}, ?, ?, ?)",
            [job[c] for c in cols] + [now, now, json.dumps(list(keys))])
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
            raise item.error
        if item.job_id is None:
            return None
        return Job(id=item.job_id, created=now, updated=now, **{c: job[c] for c in cols})

    def _commit(self, batch: list[_Accept]) -> None:
        try:
            with self._tx(urgent=True) as conn:
                for it in batch:
                    try:
                        it.job_id = conn.execute(it.sql, it.params).lastrowid
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

    # ---- jobs ------------------------------------------------------------------------
    def job(self, job_id: int) -> Job | None:
        rows = self._read("SELECT * FROM jobs WHERE id=?", (job_id,))
        return Job(**{k: rows[0][k] for k in _JOB_FIELDS}) if rows else None

    def update(self, job_id: int, urgent: bool = False, **values) -> None:
        values["updated"] = time.time()
        self._statement(f"UPDATE jobs SET {', '.join(f'{k}=?' for k in values)} WHERE id=?",
                        [*values.values(), job_id], urgent=urgent)

    def start(self, job_id: int) -> None:
        self._statement("UPDATE jobs SET status='running', attempts=attempts+1, updated=? WHERE id=?",
                        (time.time(), job_id))

    def finish(self, job_id: int, status: str = "done", error: str | None = None, urgent: bool = False) -> None:
        self.update(job_id, status=status, error=error, urgent=urgent)

    def unfinished(self) -> list[Job]:
        rows = self._read("SELECT * FROM jobs WHERE status IN ('queued','running') ORDER BY id")
        return [Job(**{k: r[k] for k in _JOB_FIELDS}) for r in rows]

    def counts(self) -> dict[str, int]:
        rows = self._read("SELECT status, COUNT(*) FROM jobs GROUP BY status")
        return {r[0]: r[1] for r in rows}

    # ---- answers & feedback ----------------------------------------------------------------
    def save_answer(self, answer_id: str, job: Job, answer) -> None:
        self._statement(
            "INSERT OR REPLACE INTO answers (id, job_id, channel, thread_ts, user, question, answer, mode,"
            " sources, created) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (answer_id, job.id, job.channel, job.thread_ts, job.user, job.question, answer.answer,
             answer.mode, json.dumps(answer.sources), time.time()))

    def add_feedback(self, answer_id: str, user: str, value: str) -> None:
        self._statement("INSERT INTO feedback (answer_id, user, value, created) VALUES (?,?,?,?)",
                        (answer_id, user, value, time.time()), urgent=True)

    def feedback(self) -> list[dict]:
        return [dict(r) for r in self._read("SELECT * FROM feedback ORDER BY id")]

    def prune(self, older_than_s: float = 7 * 86400) -> None:
        """Drop dedupe keys and finished jobs older than a week (Slack retries stop after ~6 min)."""
        cutoff = time.time() - older_than_s
        with self._tx() as conn:
            conn.execute("DELETE FROM dedupe WHERE created < ?", (cutoff,))
            # the newest job stays, so job ids never restart (the table has no AUTOINCREMENT)
            conn.execute("DELETE FROM jobs WHERE updated < ? AND status NOT IN ('queued','running') "
                         "AND id < (SELECT MAX(id) FROM jobs)", (cutoff,))

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


class _Accept:
    __slots__ = ("sql", "params", "done", "job_id", "error")

    def __init__(self, sql: str, params: list):
        self.sql, self.params = sql, params
        self.done, self.job_id, self.error = False, None, None
