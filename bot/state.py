"""The bot's SQLite state: dedupe keys, durable jobs, answers, feedback.

A question is written here (dedupe keys and job in ONE transaction) before its
Slack event is acknowledged, so a redelivery can never make a second job and a
crash never loses an accepted question. The file is created with mode 0600.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from dataclasses import dataclass, fields
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS dedupe (key TEXT PRIMARY KEY, job_id INTEGER, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL, channel TEXT NOT NULL, user TEXT NOT NULL, question TEXT NOT NULL,
    ts TEXT, thread_ts TEXT, response_url TEXT, team TEXT,
    status TEXT NOT NULL DEFAULT 'queued', reply_ts TEXT, attempts INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL, updated REAL NOT NULL, error TEXT, response_url_only INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status);
CREATE TABLE IF NOT EXISTS answers (
    id TEXT PRIMARY KEY, job_id INTEGER, channel TEXT, thread_ts TEXT, user TEXT,
    question TEXT, answer TEXT, mode TEXT, sources TEXT, created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT, answer_id TEXT, user TEXT, value TEXT, created REAL NOT NULL
);
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


class State:
    def __init__(self, path: str | Path):
        self.path = str(path)
        self._local = threading.local()
        self._write = threading.Lock()
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600)
            os.close(fd)
            os.chmod(self.path, 0o600)
        with self._conn() as conn:
            conn.executescript(SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a process crash loses nothing
            # no checkpoint (with its fsync) inside an ack's commit: `checkpoint()` runs in the background
            conn.execute("PRAGMA wal_autocheckpoint=0")
            self._local.conn = conn
        return conn

    def _tx(self):
        return _Tx(self._conn(), self._write)

    # ---- intake -----------------------------------------------------------------------
    def accept(self, keys: list[str], **job) -> Job | None:
        """Record the job and its dedupe keys atomically; None if any key was seen before."""
        now = time.time()
        cols = [c for c in job if c in _JOB_FIELDS and c not in ("id", "created", "updated")]
        try:
            with self._tx() as conn:
                cur = conn.execute(
                    f"INSERT INTO jobs ({', '.join(cols)}, created, updated) VALUES "
                    f"({', '.join('?' for _ in cols)}, ?, ?)",
                    [job[c] for c in cols] + [now, now],
                )
                job_id = cur.lastrowid
                # the primary key makes a second delivery fail here, rolling the job back with it
                conn.executemany("INSERT INTO dedupe (key, job_id, created) VALUES (?, ?, ?)",
                                 [(k, job_id, now) for k in keys])
        except sqlite3.IntegrityError:
            return None
        return Job(id=job_id, created=now, updated=now, **{c: job[c] for c in cols})

    def remember(self, key: str) -> bool:
        """Record a key outside a job (e.g. an interaction); False if it was already there."""
        with self._tx() as conn:
            cur = conn.execute("INSERT OR IGNORE INTO dedupe (key, created) VALUES (?, ?)", (key, time.time()))
            return cur.rowcount == 1

    # ---- jobs ------------------------------------------------------------------------
    def job(self, job_id: int) -> Job | None:
        row = self._conn().execute("SELECT * FROM jobs WHERE id=?", (job_id,)).fetchone()
        return Job(**{k: row[k] for k in _JOB_FIELDS}) if row else None

    def update(self, job_id: int, **values) -> None:
        values["updated"] = time.time()
        with self._tx() as conn:
            conn.execute(f"UPDATE jobs SET {', '.join(f'{k}=?' for k in values)} WHERE id=?",
                         [*values.values(), job_id])

    def start(self, job_id: int) -> None:
        with self._tx() as conn:
            conn.execute("UPDATE jobs SET status='running', attempts=attempts+1, updated=? WHERE id=?",
                         (time.time(), job_id))

    def finish(self, job_id: int, status: str = "done", error: str | None = None) -> None:
        self.update(job_id, status=status, error=error)

    def unfinished(self) -> list[Job]:
        rows = self._conn().execute(
            "SELECT * FROM jobs WHERE status IN ('queued','running') ORDER BY id").fetchall()
        return [Job(**{k: r[k] for k in _JOB_FIELDS}) for r in rows]

    def counts(self) -> dict[str, int]:
        rows = self._conn().execute("SELECT status, COUNT(*) FROM jobs GROUP BY status").fetchall()
        return {r[0]: r[1] for r in rows}

    # ---- answers & feedback ----------------------------------------------------------------
    def save_answer(self, answer_id: str, job: Job, answer) -> None:
        with self._tx() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO answers (id, job_id, channel, thread_ts, user, question, answer, mode,"
                " sources, created) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (answer_id, job.id, job.channel, job.thread_ts, job.user, job.question, answer.answer,
                 answer.mode, json.dumps(answer.sources), time.time()))

    def add_feedback(self, answer_id: str, user: str, value: str) -> None:
        with self._tx() as conn:
            conn.execute("INSERT INTO feedback (answer_id, user, value, created) VALUES (?,?,?,?)",
                         (answer_id, user, value, time.time()))

    def feedback(self) -> list[dict]:
        return [dict(r) for r in self._conn().execute("SELECT * FROM feedback ORDER BY id")]

    def prune(self, older_than_s: float = 7 * 86400) -> None:
        """Drop dedupe keys and finished jobs older than a week (Slack retries stop after ~6 min)."""
        cutoff = time.time() - older_than_s
        with self._tx() as conn:
            conn.execute("DELETE FROM dedupe WHERE created < ?", (cutoff,))
            conn.execute("DELETE FROM jobs WHERE updated < ? AND status NOT IN ('queued','running')", (cutoff,))

    def checkpoint(self) -> None:
        """Copy the WAL into the database without blocking writers (called every few seconds)."""
        self._conn().execute("PRAGMA wal_checkpoint(PASSIVE)")

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


class _Tx:
    """BEGIN IMMEDIATE ... COMMIT, serialised in-process (SQLite allows one writer)."""

    def __init__(self, conn, lock):
        self.conn, self.lock = conn, lock

    def __enter__(self):
        self.lock.acquire()
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type, exc, tb):
        try:
            self.conn.execute("ROLLBACK" if exc_type else "COMMIT")
        finally:
            self.lock.release()
        return False
