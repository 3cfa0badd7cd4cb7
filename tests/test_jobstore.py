"""One conformance suite for the job store backends (bot/jobstore): memory, SQLite (a temp file) and
PostgreSQL (a real server from testkit/pg_server.py, a fresh schema per test; a fresh database where the
test is about an empty database). "Another store on the
same database" is a second store instance: another process or machine for SQLite/PostgreSQL, a second
MemoryJobStore sharing the first one's data for memory."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from bot.jobstore import INSIGHT_FIELDS, Job, JobKind, JobStatus, JobStore, Outcome, StateUnavailable, open_store
from bot.jobstore.memory import MemoryJobStore
from bot.jobstore.sqlite import SQLiteJobStore

BACKENDS = ["memory", "sqlite", "postgres"]
Q = dict(kind="mention", channel="C1", user="U1", question="How do I create an index?")


class Backend:
    """Opens stores on one database of the backend under test; closes them all at the end."""

    def __init__(self, name: str, tmp_path, pg_url=None):
        self.name = name
        self.stores: list = []
        if name == "sqlite":
            self.path = tmp_path / "state.db"
        elif name == "postgres":
            self.pg = pg_url
            self.url = pg_url.fresh()

    def open(self, **kwargs):
        if self.name == "memory":
            store = MemoryJobStore(self.stores[0].data if self.stores else None)
        elif self.name == "sqlite":
            store = SQLiteJobStore(self.path)
        else:
            from bot.jobstore.postgres import PostgresJobStore

            store = PostgresJobStore(self.url, **kwargs)
        self.stores.append(store)
        return store

    def close(self):
        for store in self.stores:
            store.close()


@pytest.fixture(params=BACKENDS)
def backend(request, tmp_path):
    pg = request.getfixturevalue("pg_url") if request.param == "postgres" else None
    b = Backend(request.param, tmp_path, pg)
    yield b
    b.close()


@pytest.fixture
def store(backend):
    return backend.open()


def accept(store, n: int | str, **job):
    return store.accept([f"ev:{n}"], **(Q | {"question": f"q{n}"} | job))


# ---- accept & dedupe ---------------------------------------------------------------------------

def test_the_store_has_the_interface(store):
    assert isinstance(store, JobStore)


def test_accept_stores_job_and_keys_atomically(store):
    job = store.accept(["ev:1", "msg:C1:1.0"], **Q, ts="1.0", thread_ts="1.0", team="T1")
    assert isinstance(job, Job) and job.id > 0
    assert (job.kind, job.status, job.owner, job.lease_until, job.attempts) == (JobKind.MENTION, JobStatus.QUEUED,
                                                                               None, None, 0)
    assert job.created > time.time() - 60
    stored = store.job(job.id)
    assert (stored.question, stored.ts, stored.thread_ts, stored.team, stored.user) == (Q["question"], "1.0", "1.0",
                                                                                       "T1", "U1")
    assert store.accept(["ev:1"], **Q) is None  # redelivery
    assert store.accept(["ev:2", "msg:C1:1.0"], **Q) is None  # the message twin of the same question
    assert store.accept(["ev:2"], **Q) is not None  # nothing of the refused call was stored
    assert store.stats()["queue_depth"] == 2
    assert store.remember("esc:a1:U1") is True and store.remember("esc:a1:U1") is False
    assert store.remember("ev:1") is False  # one key space
    with pytest.raises(ValueError):
        store.accept(["ev:9"], **(Q | {"kind": "carrier-pigeon"}))
    assert store.job(10**9) is None


def test_32_threads_accepting_the_same_event_make_one_job(backend):
    stores = [backend.open(), backend.open()]  # two processes
    barrier = threading.Barrier(32)

    def deliver(n):
        barrier.wait()
        keys = ["ev:X", "msg:C1:9.9"] if n % 2 else ["msg:C1:9.9", "ev:X"]
        return stores[n % 2].accept(keys, **Q)

    with ThreadPoolExecutor(32) as pool:
        results = list(pool.map(deliver, range(32)))
    assert sum(r is not None for r in results) == 1
    assert stores[0].stats()["by_status"] == {"queued": 1}


# ---- claims & leases -----------------------------------------------------------------------------

def test_claim_takes_the_oldest_first_and_sets_the_lease(store):
    ids = [accept(store, i).id for i in range(3)]
    t0 = time.time()
    got = store.claim("hostA/worker/1", lease_s=30, limit=2)
    assert [j.id for j in got] == ids[:2]
    for j in got:
        assert (j.status, j.owner, j.attempts) == (JobStatus.RUNNING, "hostA/worker/1", 1)
        assert t0 + 25 < j.lease_until < time.time() + 35
    assert store.job(ids[0]).status == JobStatus.RUNNING
    assert [j.id for j in store.claim("hostB/worker/1", 30, limit=5)] == ids[2:]
    assert store.claim("hostB/worker/1", 30) == []


def test_concurrent_claimers_never_share_a_job(backend):
    stores = [backend.open(), backend.open()]
    ids = {accept(stores[0], i).id for i in range(60)}
    barrier = threading.Barrier(6)

    def worker(n):
        s, mine = stores[n % 2], []
        barrier.wait()
        while True:
            got = s.claim(f"host/w{n}", lease_s=60, limit=3)
            if not got:
                return mine
            mine += [j.id for j in got]

    with ThreadPoolExecutor(6) as pool:
        claimed = [i for part in pool.map(worker, range(6)) for i in part]
    assert len(claimed) == len(set(claimed)) == 60 and set(claimed) == ids


def test_an_expired_lease_is_claimed_again_and_the_old_holder_loses_it(store):
    job = accept(store, 1)
    assert [j.id for j in store.claim("host/a", lease_s=0.3)] == [job.id]
    assert store.claim("host/b", lease_s=30) == []  # held
    time.sleep(0.45)
    again = store.claim("host/b", lease_s=30)
    assert [(j.id, j.owner, j.attempts) for j in again] == [(job.id, "host/b", 2)]
    assert store.heartbeat(job.id, "host/a", 30) is False
    assert store.finish(job.id, "host/a", JobStatus.DONE) is False
    assert store.finish(job.id, "host/b", JobStatus.DONE) is True


def test_heartbeats_keep_the_lease(store):
    job = accept(store, 1)
    store.claim("host/a", lease_s=0.4)
    for _ in range(5):
        time.sleep(0.15)
        assert store.heartbeat(job.id, "host/a", 0.4) is True
        assert store.claim("host/b", lease_s=30) == []
    assert store.job(job.id).lease_until > time.time()
    time.sleep(0.5)
    assert [j.owner for j in store.claim("host/b", lease_s=30)] == ["host/b"]


def test_only_the_holder_finishes(store):
    job = accept(store, 1)
    assert store.finish(job.id, "host/a", JobStatus.DONE) is False  # queued: nobody holds it
    store.claim("host/a", lease_s=30)
    assert store.finish(job.id, "host/b", JobStatus.DONE) is False
    assert store.job(job.id).status == JobStatus.RUNNING
    with pytest.raises(ValueError):
        store.finish(job.id, "host/a", JobStatus.QUEUED)
    assert store.finish(job.id, "host/a", JobStatus.FAILED, error="slack:ratelimited") is True
    done = store.job(job.id)
    assert (done.status, done.error, done.lease_until) == (JobStatus.FAILED, "slack:ratelimited", None)
    assert store.finish(job.id, "host/a", JobStatus.DONE) is False  # finished once
    assert store.claim("host/b", lease_s=30) == []  # finished jobs are never claimed


def test_release_and_release_owner_requeue_at_once(store):
    ids = [accept(store, i).id for i in range(4)]
    store.claim("hostA/worker/1", 300, limit=2)
    store.claim("hostA/worker/2", 300)
    store.claim("hostB/worker/1", 300)
    assert store.release(ids[0], "hostB/worker/1") is False
    assert store.release(ids[0], "hostA/worker/1") is True
    released = store.job(ids[0])
    assert (released.status, released.owner, released.lease_until) == (JobStatus.QUEUED, None, None)
    # a restarted bot on hostA: its previous run's jobs come back now, not when their leases run out
    assert store.release_owner("hostA/") == 2
    assert store.job(ids[3]).owner == "hostB/worker/1"
    assert [j.id for j in store.claim("hostA/worker/9", 300, limit=10)] == ids[:3]
    with pytest.raises(ValueError):
        store.release_owner("")


def test_update_sets_job_fields(store):
    job = accept(store, 1)
    store.update(job.id, reply_ts="99.1", response_url_only=True, thread_ts="98.0")
    got = store.job(job.id)
    assert (got.reply_ts, got.response_url_only, got.thread_ts) == ("99.1", True, "98.0")
    with pytest.raises(ValueError):
        store.update(job.id, **{"status = 'done' --": 1})


# ---- rate limits ---------------------------------------------------------------------------------

def test_rate_limit_is_shared_and_its_window_expires(backend):
    a, b = backend.open(), backend.open()
    assert a.allow("U1", 2, window_s=0.6) and b.allow("U1", 2, window_s=0.6)
    assert not a.allow("U1", 2, window_s=0.6) and not b.allow("U1", 2, window_s=0.6)
    assert a.allow("U2", 2, window_s=0.6)  # per user
    assert all(a.allow("U1", 0) for _ in range(5))  # 0 = off
    time.sleep(0.7)
    assert b.allow("U1", 2, window_s=0.6)


def test_accept_checks_the_rate_limit_in_the_same_transaction(backend):
    a, b = backend.open(), backend.open()
    rate = (2, 0.6)
    first = [a.accept([f"rl:{i}"], rate=rate, **(Q | {"user": "U1", "question": f"q{i}"})) for i in range(2)]
    assert all(j.status == JobStatus.QUEUED for j in first)
    over = b.accept(["rl:2"], rate=rate, **(Q | {"user": "U1", "question": "q2"}))  # the other replica sees the hits
    assert over.status == JobStatus.SKIPPED and over.error == "rate_limited"
    stored = a.job(over.id)
    assert stored.status == JobStatus.SKIPPED and stored.error == "rate_limited"
    assert b.accept(["rl:2"], rate=rate, **(Q | {"user": "U1", "question": "q2"})) is None  # a redelivery: duplicate
    assert [j.id for j in a.claim("w", 30, limit=10)] == [j.id for j in first]  # the skipped one is never claimed
    assert a.accept(["rl:u2"], rate=rate, **(Q | {"user": "U2"})).status == JobStatus.QUEUED  # per user
    assert not a.allow("U1", 2, window_s=0.6)  # accept's hits are allow's hits
    assert a.accept(["rl:off"], rate=None, **(Q | {"user": "U1"})).status == JobStatus.QUEUED  # no limit given
    time.sleep(0.7)
    assert b.accept(["rl:3"], rate=rate, **(Q | {"user": "U1", "question": "q3"})).status == JobStatus.QUEUED


def test_concurrent_accepts_of_one_user_let_exactly_the_limit_through(store):
    with ThreadPoolExecutor(20) as pool:
        jobs = list(pool.map(lambda i: store.accept([f"burst:{i}"], rate=(5, 60.0), **(Q | {"user": "UB"})),
                             range(20)))
    assert sum(j.status == JobStatus.QUEUED for j in jobs) == 5
    assert sum(j.status == JobStatus.SKIPPED and j.error == "rate_limited" for j in jobs) == 15


# ---- answers & feedback --------------------------------------------------------------------------

def test_save_answer_records_what_the_insights_report_needs(store):
    job = accept(store, 1, thread_ts="1.0")
    sources = [{"title": "Index", "heading": "Create", "url": "https://milvus.io/docs/index.md"}]
    store.save_answer("a1", job, answer="Use create_index.", mode="gemini", outcome=Outcome.GEMINI,
                      sources=sources, version="v2.4.x", latency_s=1.25)
    row = store.answer("a1")
    assert (row["job_id"], row["outcome"], row["version"], row["latency_s"], row["mode"]) == (job.id, "gemini",
                                                                                              "v2.4.x", 1.25, "gemini")
    assert row["sources"] == sources and row["question"] == job.question and row["user"] == "U1"
    assert abs(row["created"] - time.time()) < 30
    store.save_answer("a1", job, answer="not covered", mode="extractive", outcome="not_covered", sources=[],
                      version=None, latency_s=2.0)  # a retry replaces it
    assert store.answer("a1")["outcome"] == "not_covered"
    with pytest.raises(ValueError):
        store.save_answer("a2", job, answer="x", mode="x", outcome="great", sources=[], version=None, latency_s=None)


def test_feedback_is_one_vote_per_user_and_answer(backend):
    a, b = backend.open(), backend.open()
    a.add_feedback("a1", "U1", "up")
    b.add_feedback("a1", "U1", "down")  # a second click changes the vote
    a.add_feedback("a1", "U2", "up")
    a.add_feedback("a2", "U1", "down")
    votes = [(v["answer_id"], v["user"], v["value"]) for v in b.feedback()]
    assert votes == [("a1", "U1", "down"), ("a1", "U2", "up"), ("a2", "U1", "down")]
    assert [v["user"] for v in a.feedback("a1")] == ["U1", "U2"]
    first = a.feedback("a1")[0]
    assert first["updated"] >= first["created"]
    with pytest.raises(ValueError):
        a.add_feedback("a1", "U3", "meh")


# ---- insights & meta -------------------------------------------------------------------------------

def _answered(store, n, outcome=Outcome.GEMINI, latency=1.0, finish=True, **job):
    job = accept(store, n, thread_ts=f"{n}.5", **job)
    assert [j.id for j in store.claim("host/w", 30)] == [job.id]
    if finish:
        store.finish(job.id, "host/w", JobStatus.DONE)
    store.save_answer(f"a{job.id}", job, answer="x", mode="gemini", outcome=outcome, sources=[], version="v2.6.x",
                      latency_s=latency)
    return job


def _failed(store, n):
    job = accept(store, n)
    assert [j.id for j in store.claim("host/w", 30)] == [job.id]
    assert store.finish(job.id, "host/w", JobStatus.FAILED, error="milvus")
    return job


def test_insights_rows_give_answers_with_their_votes_and_failed_jobs(backend):
    store, other = backend.open(), backend.open()
    t0 = time.time() - 1
    first = _answered(store, 1, latency=1.5, channel="C9", user="U7")
    store.add_feedback(f"a{first.id}", "U1", "up")
    other.add_feedback(f"a{first.id}", "U2", "up")
    other.add_feedback(f"a{first.id}", "U2", "down")  # a changed vote counts once, as it is now
    gap = _answered(store, 2, outcome=Outcome.NOT_COVERED, latency=None)
    store.add_feedback(f"a{gap.id}", "U1", "down")
    failed = _failed(store, 3)
    apologised = _answered(store, 4, finish=False)  # answered, then delivering it failed: an apology
    store.finish(apologised.id, "host/w", JobStatus.FAILED)
    accept(store, 5)  # queued: not a question of the report yet
    rows = other.insights_rows(t0)
    assert all(tuple(r) == INSIGHT_FIELDS for r in rows)
    assert [(r["job_id"], r["outcome"], r["up"], r["down"]) for r in rows] == [
        (first.id, "gemini", 1, 1), (gap.id, "not_covered", 0, 1), (failed.id, "failed", 0, 0),
        (apologised.id, "failed", 0, 0)]
    assert [r["created"] for r in rows] == sorted(r["created"] for r in rows)
    assert (rows[0]["question"], rows[0]["channel"], rows[0]["thread_ts"], rows[0]["user"], rows[0]["latency_s"],
            rows[0]["mode"]) == ("q1", "C9", "1.5", "U7", 1.5, "gemini")
    assert rows[1]["latency_s"] is None and rows[2]["latency_s"] is None
    assert (rows[2]["question"], rows[2]["user"]) == ("q3", "U1") and abs(rows[2]["created"] - time.time()) < 30
    assert other.insights_rows(time.time() + 60) == []


def test_meta_values_are_shared_and_replaced(backend):
    a, b = backend.open(), backend.open()
    assert a.meta("docs_versions") is None
    big = '[{"version": "v2.6.x", "note": "' + "é" * 100_000 + '"}]'
    a.set_meta("docs_versions", big)
    assert b.meta("docs_versions") == big
    b.set_meta("docs_versions", "[]")
    b.set_meta("workspace_url", "https://acme.slack.com/")
    assert (a.meta("docs_versions"), a.meta("workspace_url")) == ("[]", "https://acme.slack.com/")
    with pytest.raises(ValueError):
        a.set_meta("", "x")
    with pytest.raises(TypeError):
        a.set_meta("k", ["not", "text"])


def test_prune_keeps_failed_jobs_for_the_monthly_report(store):
    failed = _failed(store, 1)
    done = accept(store, 2)
    store.claim("host/w", 30)
    store.finish(done.id, "host/w", JobStatus.DONE)
    accept(store, 3)  # the newest job stays anyway: keep it out of the question
    time.sleep(0.02)
    store.prune(older_than_s=0)
    assert store.job(done.id) is None and store.job(failed.id).status == JobStatus.FAILED
    assert [r["job_id"] for r in store.insights_rows(0)] == [failed.id]


def test_insights_queries_are_index_searches_not_table_scans(tmp_path, pg_url):
    """A Home open on a large state DB reads the rows of its window, not the tables."""
    from bot.jobstore import postgres, sqlite

    store = SQLiteJobStore(tmp_path / "state.db")
    try:
        with store._connection() as conn:
            for sql in (sqlite.INSIGHT_ANSWERS, sqlite.INSIGHT_FAILED):
                plan = [r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + sql, (time.time(),))]
                assert plan and all(step.startswith(("SEARCH", "CORRELATED")) for step in plan), plan
    finally:
        store.close()
    store = postgres.PostgresJobStore(pg_url.fresh())
    try:
        def plan(conn, sql):
            conn.execute("SET LOCAL enable_seqscan = off")  # tiny tables: ask whether an index *can* serve it
            return "\n".join(r["QUERY PLAN"] for r in conn.execute("EXPLAIN " + sql, (time.time(),)))

        for sql in (postgres.INSIGHT_ANSWERS, postgres.INSIGHT_FAILED):
            text = store._run(lambda conn: plan(conn, sql))
            assert "Seq Scan" not in text and "Index" in text, text
    finally:
        store.close()


# ---- upkeep ------------------------------------------------------------------------------------

def test_stats_report_queue_depth_and_oldest_wait(store):
    assert store.stats() == {"by_status": {}, "queue_depth": 0, "oldest_waiting_s": 0.0}
    first = accept(store, 1)
    accept(store, 2)
    accept(store, 3)
    time.sleep(0.25)
    store.claim("host/a", 30)
    store.claim("host/a", 30)
    store.finish(first.id, "host/a", JobStatus.DONE)
    stats = store.stats()
    assert stats["by_status"] == {"done": 1, "running": 1, "queued": 1}
    assert stats["queue_depth"] == 1 and 0.2 <= stats["oldest_waiting_s"] < 30


def test_prune_drops_old_keys_and_finished_jobs_and_ids_never_restart(store):
    ids = [accept(store, i).id for i in range(3)]
    for job in store.claim("host/a", 30, limit=3):
        store.finish(job.id, "host/a", JobStatus.DONE)
    waiting = accept(store, "waiting")
    store.allow("U1", 5)
    time.sleep(0.02)
    store.prune(older_than_s=0)
    assert store.job(ids[0]) is None and store.job(waiting.id) is not None  # open jobs stay
    again = accept(store, 0)  # its key was pruned: a new job, with a new id
    assert again is not None and again.id > waiting.id > ids[-1]
    assert store.stats()["by_status"] == {"queued": 2}


# ---- waking workers ---------------------------------------------------------------------------------

def _waits(store, timeout_s: float) -> threading.Thread:
    t = threading.Thread(target=store.wait_for_work, args=(timeout_s,), daemon=True)
    t.start()
    return t


def test_wait_for_work_wakes_early_when_another_store_accepts(backend):
    worker, listener = backend.open(), backend.open()
    worker.claim("host/w", 30)  # nothing yet
    t0 = time.monotonic()
    worker.wait_for_work(0.3)  # nothing: the whole timeout
    assert 0.28 <= time.monotonic() - t0 < 2
    waiter = _waits(worker, 10)
    time.sleep(0.3)
    t0 = time.monotonic()
    accept(listener, 1)
    waiter.join(5)
    assert not waiter.is_alive() and time.monotonic() - t0 < 2
    # accepted between a claim and the next wait: that wait returns at once
    assert len(worker.claim("host/w", 30)) == 1
    accept(listener, 2)
    time.sleep(0.3)  # SQLite polls
    t0 = time.monotonic()
    worker.wait_for_work(10)
    assert time.monotonic() - t0 < 1


# ---- PostgreSQL only -------------------------------------------------------------------------------

def test_open_store_picks_the_backend(tmp_path, pg_url):
    from rag_core.config import ConfigError

    sqlite_store = open_store(tmp_path / "s.db")
    assert isinstance(sqlite_store, SQLiteJobStore)
    sqlite_store.close()
    pg = open_store(tmp_path / "unused.db", pg_url.fresh().replace("postgresql://", "postgres://"))
    assert type(pg).__name__ == "PostgresJobStore" and pg.accept(["ev:1"], **Q) is not None
    pg.close()
    for bad in ("mysql://u:p@h/db", "faqbot.db", "http://x"):
        with pytest.raises(ConfigError, match="FAQBOT_STATE_URL"):
            open_store(tmp_path / "s.db", bad)


def test_an_unreachable_postgres_is_state_unavailable_and_the_password_stays_secret(caplog, pg_url):
    from testkit.pg_server import PASSWORD, free_port

    caplog.set_level(logging.DEBUG)
    url = f"postgresql://faqbot:{PASSWORD}@127.0.0.1:{free_port()}/faqbot"  # nothing listens there
    t0 = time.monotonic()
    with pytest.raises(StateUnavailable) as err:
        open_store("unused.db", url)
    assert time.monotonic() - t0 < 6
    assert "FAQBOT_STATE_URL" in str(err.value) and PASSWORD not in str(err.value)
    assert PASSWORD not in caplog.text
    with pytest.raises(StateUnavailable) as err:  # a wrong password: also no password in the message
        open_store("unused.db", pg_url.server.url(password="wrong-" + PASSWORD))
    assert PASSWORD not in str(err.value)


def test_postgres_down_then_back_loses_nothing_and_never_fakes_success(pg_url, caplog):
    from bot.jobstore.postgres import PostgresJobStore
    from testkit.pg_server import PASSWORD

    caplog.set_level(logging.DEBUG)
    url = pg_url.fresh()
    serve, worker = PostgresJobStore(url, timeout_s=1.5), PostgresJobStore(url, timeout_s=1.5)
    try:
        first = [accept(serve, i).id for i in range(3)]
        held = worker.claim("hostA/w/1", 300)
        worker.wait_for_work(0.01)  # the LISTEN connection is up
        pg_url.server.stop()
        with pytest.raises(StateUnavailable):  # a serve replica answers 5xx: the question was not stored
            accept(serve, "while-down")
        with pytest.raises(StateUnavailable):
            worker.claim("hostA/w/1", 300)
        pg_url.server.start()
        assert accept(serve, "while-down") is not None  # Slack's retry after the 5xx is stored now
        assert accept(serve, 0) is None  # keys from before the restart still dedupe
        stats = serve.stats()
        assert stats["by_status"] == {"queued": 3, "running": 1}
        assert [serve.job(i).question for i in first] == ["q0", "q1", "q2"]
        assert worker.release_owner("hostA/") == 1 and held[0].id == first[0]
        # the worker's LISTEN connection came back too
        waiter = _waits(worker, 15)
        time.sleep(1.5)
        accept(serve, "after")
        waiter.join(5)
        assert not waiter.is_alive()
        assert "LISTEN connection lost" in caplog.text and PASSWORD not in caplog.text
        # a quick restart: every pooled connection is broken, yet the first call after it succeeds
        pg_url.restart()
        assert serve.stats()["by_status"] == {"queued": 5}
        assert [j.question for j in worker.claim("hostA/w/2", 300, limit=2)] == ["q0", "q1"]
    finally:
        if not (pg_url.server.data / "postmaster.pid").exists():
            pg_url.server.start()
        serve.close()
        worker.close()


def test_replicas_migrating_an_empty_database_at_once_all_succeed(pg_url):
    from bot.jobstore.postgres import MIGRATIONS, PostgresJobStore

    url = pg_url.fresh_database("migrate")
    barrier = threading.Barrier(4)

    def start(_):
        barrier.wait()
        return PostgresJobStore(url)

    with ThreadPoolExecutor(4) as pool:
        stores = list(pool.map(start, range(4)))
    try:
        import psycopg

        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT version FROM faqbot_migrations ORDER BY version").fetchall() == [
                (v,) for v, _, _ in MIGRATIONS]
        assert stores[3].accept(["ev:1"], **Q) is not None and stores[0].accept(["ev:1"], **Q) is None
    finally:
        for s in stores:
            s.close()


def test_postgres_pools_stay_small(pg_url):
    from bot.jobstore.postgres import PostgresJobStore

    store = PostgresJobStore(pg_url.fresh(), pool_size=50)
    try:
        assert store._pool.max_size <= 8 and store._pool.min_size == 1
    finally:
        store.close()


# ---- SQLite only -------------------------------------------------------------------------------------

def test_a_sqlite_state_db_from_before_gets_the_new_columns_and_one_vote_per_user(tmp_path):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE dedupe (key TEXT PRIMARY KEY, job_id INTEGER, created REAL NOT NULL) WITHOUT ROWID;
        CREATE TABLE jobs (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, channel TEXT NOT NULL,
            user TEXT NOT NULL, question TEXT NOT NULL, ts TEXT, thread_ts TEXT, response_url TEXT, team TEXT,
            status TEXT NOT NULL DEFAULT 'queued', reply_ts TEXT, attempts INTEGER NOT NULL DEFAULT 0,
            created REAL NOT NULL, updated REAL NOT NULL, error TEXT, response_url_only INTEGER NOT NULL DEFAULT 0,
            keys TEXT);
        CREATE TABLE answers (id TEXT PRIMARY KEY, job_id INTEGER, channel TEXT, thread_ts TEXT, user TEXT,
            question TEXT, answer TEXT, mode TEXT, sources TEXT, created REAL NOT NULL);
        CREATE TABLE feedback (id INTEGER PRIMARY KEY AUTOINCREMENT, answer_id TEXT, user TEXT, value TEXT,
            created REAL NOT NULL);
        INSERT INTO jobs (kind, channel, user, question, status, created, updated)
            VALUES ('mention','C1','U1','old','running',1,1);
        INSERT INTO feedback (answer_id, user, value, created) VALUES ('a1','U1','up',1), ('a1','U1','down',2);
    """)
    conn.commit()
    conn.close()
    store = SQLiteJobStore(path)
    try:
        assert [(v["user"], v["value"]) for v in store.feedback()] == [("U1", "down")]  # the last click
        store.add_feedback("a1", "U1", "up")
        assert [v["value"] for v in store.feedback()] == ["up"]
        old = store.claim("host/a", 30)  # a running job without a lease (an old bot's) belongs to no one
        assert [j.question for j in old] == ["old"]
        store.save_answer("a2", old[0], answer="x", mode="extractive", outcome=Outcome.EXTRACTIVE, sources=[],
                          version="v2.4.x", latency_s=0.5)
        assert store.answer("a2")["version"] == "v2.4.x"
        assert [r["outcome"] for r in store.insights_rows(0)] == ["extractive"]  # new index and meta table too
        store.set_meta("workspace_url", "https://acme.slack.com/")
        assert store.meta("workspace_url") == "https://acme.slack.com/"
    finally:
        store.close()


def test_an_unwritable_sqlite_path_is_state_unavailable(tmp_path):
    (tmp_path / "dir.db").mkdir()
    with pytest.raises(StateUnavailable, match="FAQBOT_STATE_DB"):
        open_store(tmp_path / "dir.db")


def test_answer_stats_count_outcomes_and_latency_buckets(store):
    for n, (outcome, latency) in enumerate([(Outcome.GEMINI, 0.4), (Outcome.GEMINI, 2.5),
                                            (Outcome.NOT_COVERED, 1.0), (Outcome.EXTRACTIVE, None)]):
        job = accept(store, n, thread_ts="1.0")
        store.save_answer(f"a{n}", job, answer="x", mode="gemini", outcome=outcome, sources=[], version="v3.0.x",
                          latency_s=latency)
    stats = store.answer_stats((0.5, 1.0, 3.0))
    assert {str(k): v for k, v in stats["by_outcome"].items()} == {"gemini": 2, "not_covered": 1, "extractive": 1}
    assert stats["latency_count"] == 3 and stats["latency_sum"] == pytest.approx(3.9)
    assert stats["latency_le"] == [1, 2, 3]


def test_cancel_ends_a_queued_job_but_never_a_claimed_one(store):
    a, b = accept(store, 1), accept(store, 2)
    assert store.cancel(a.id, JobStatus.SKIPPED, error="rate_limited")
    got = store.job(a.id)
    assert (got.status, got.error) == (JobStatus.SKIPPED, "rate_limited")
    assert [j.id for j in store.claim("w1", 15)] == [b.id]  # a cancelled job is not claimed
    assert not store.cancel(b.id, JobStatus.SKIPPED, error="rate_limited")  # claimed: answered as usual
    assert store.job(b.id).status == JobStatus.RUNNING
    with pytest.raises(ValueError):
        store.cancel(b.id, JobStatus.QUEUED)
