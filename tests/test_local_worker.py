"""`faqbot serve` on one machine answers in a child worker process (bot/local_worker.py): acks stay in the
parent, jobs go through the SQLite job store."""

import json
import os
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
import time
import urllib.request

import pytest

from bot.intake import Intake
from bot.jobstore.memory import MemoryJobStore
from bot.jobstore.sqlite import SQLiteJobStore as State
from bot.local_worker import LocalWorker
from rag_core.errors import ServeError
from testkit.bot_harness import SECRET, BotHarness, wait_until
from testkit.fakes import slack_payloads as sp

QUESTION = "How is data stored in milvus?"


def _health(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as resp:
        return resp.status, json.loads(resp.read())


def _posts(slack):
    return [c for c in slack.calls_to("chat.postMessage") if c.response.get("ok")]


def test_answers_come_from_the_child_exactly_once(tmp_path, slack):
    h = BotHarness(tmp_path, slack, FAQBOT_ANSWER_PROCESS="true").start()
    try:
        assert isinstance(h.answering, LocalWorker)
        child = h.answering._proc
        assert child.is_alive() and child.pid != os.getpid()
        event = sp.app_mention(f"<@UBOT> {QUESTION}", channel="C1")
        status, envelope = h.post_event(event)
        assert status == 200
        sp.post_signed(h.url, json.dumps(envelope).encode(), "application/json", SECRET, retry_num=1)
        twin = dict(event, type="message", channel_type="channel")
        h.post_event(twin)
        assert h.idle(30)
        time.sleep(0.3)
        posts = _posts(slack)
        assert len(posts) == 1 and posts[0].params["thread_ts"] == event["ts"]
        assert "milvus.io" in json.dumps(posts[0].params)
        assert h.bot.intake.stats["accepted"] == 1 and h.bot.intake.stats["duplicates"] == 1
        wait_until(lambda: h.answering.stats.get("answered") == 1, 5)  # the child reports every 2 s
        status, body = _health(h.port)
        assert status == 200 and body["milvus"] == "ok" and body["queue_depth"] == 0
    finally:
        h.stop()
    assert not child.is_alive()


def test_a_crashed_child_is_replaced_and_the_question_still_answered_once(tmp_path, slack, fake_gemini):
    h = BotHarness(tmp_path, slack, fake_gemini, FAQBOT_ANSWER_PROCESS="true", GEMINI_TIMEOUT="60").start()
    try:
        fake_gemini.latency = 30  # the child is writing the answer when it dies
        first = h.answering._proc
        event = sp.app_mention(f"<@UBOT> {QUESTION}", channel="C1")
        assert h.post_event(event)[0] == 200
        slack.wait_for("reactions.add", 1)
        wait_until(lambda: fake_gemini.generate_requests or any(
            r["action"] and "Content" in r["action"] for r in fake_gemini.requests), 10)
        os.kill(first.pid, signal.SIGKILL)
        fake_gemini.latency = 0
        wait_until(lambda: h.answering.restarts == 1, 30)
        assert h.answering._proc.pid != first.pid and h.answering._proc.is_alive()
        slack.wait_for("chat.postMessage", 1, timeout=30)
        assert h.idle(30)
        time.sleep(0.5)
        posts = _posts(slack)
        assert len(posts) == 1 and posts[0].params["thread_ts"] == event["ts"]
        shown = h.shown(posts[0])  # the answer (doc text, sources), not "please ask it again"
        assert "Milvus deals with two types of data" in shown and "milvus.io/docs" in shown, shown[:500]
        assert "ask it again" not in shown
        # and the new child keeps answering
        assert h.post_event(sp.app_mention("<@UBOT> Can I install Milvus on Windows?", channel="C1"))[0] == 200
        slack.wait_for("chat.postMessage", 2, timeout=30)
    finally:
        fake_gemini.latency = 0
        h.stop()


def test_a_locked_lite_file_stops_the_start_with_the_fixes(tmp_path, slack):
    h = BotHarness(tmp_path, slack, FAQBOT_ANSWER_PROCESS="true")
    h.pipeline.store.ping()  # this process holds the Lite file now
    try:
        with pytest.raises(ServeError, match="open in another process") as err:
            h.start()
        assert "MILVUS_URI" in str(err.value)
    finally:
        h.bot.stop()
        h.store.close()
        h.pipeline.store.close()


# ---- the parts -------------------------------------------------------------------------------

def test_concurrent_accepts_commit_together_and_dedupe_within_a_batch(tmp_path):
    """Group commit: many ack threads at once; twins (same msg key) in one batch give one job."""
    from concurrent.futures import ThreadPoolExecutor

    state = State(tmp_path / "state.db")
    barrier = threading.Barrier(16)

    def deliver(n):
        if n < 16:
            barrier.wait()  # the first wave arrives at once
        # 100 questions, each delivered as app_mention and as its message twin
        return state.accept([f"ev:{n}", f"msg:C1:{n // 2}"], kind="mention", channel="C1", user="U1",
                            question=f"q{n // 2}", ts=f"{n // 2}.0", thread_ts=f"{n // 2}.0")

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(deliver, range(200)))
    accepted = [r for r in results if r is not None]
    assert len(accepted) == 100
    assert len({r.id for r in accepted}) == 100
    assert sorted(r.question for r in accepted) == sorted(f"q{i}" for i in range(100))
    assert state.stats()["by_status"] == {"queued": 100}
    for r in accepted:
        assert state.job(r.id).question == r.question


def test_a_state_db_from_before_opens_and_dedupes(tmp_path):
    import sqlite3

    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE dedupe (key TEXT PRIMARY KEY, job_id INTEGER, created REAL NOT NULL);
        CREATE TABLE jobs (id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, channel TEXT NOT NULL,
            user TEXT NOT NULL, question TEXT NOT NULL, ts TEXT, thread_ts TEXT, response_url TEXT, team TEXT,
            status TEXT NOT NULL DEFAULT 'queued', reply_ts TEXT, attempts INTEGER NOT NULL DEFAULT 0,
            created REAL NOT NULL, updated REAL NOT NULL, error TEXT, response_url_only INTEGER NOT NULL DEFAULT 0);
        CREATE INDEX jobs_status ON jobs(status);
        INSERT INTO jobs (kind, channel, user, question, created, updated) VALUES ('mention','C1','U1','old',1,1);
        INSERT INTO dedupe (key, job_id, created) VALUES ('ev:old', 1, 1);
    """)
    conn.commit()
    conn.close()
    state = State(path)
    assert state.accept(["ev:old"], kind="mention", channel="C1", user="U1", question="again") is None
    job = state.accept(["ev:new"], kind="mention", channel="C1", user="U1", question="new")
    assert job is not None and job.id == 2
    assert [j.question for j in state.claim("w", 15, limit=10)] == ["old", "new"]


def test_prune_keeps_the_newest_job_so_ids_never_restart(tmp_path):
    state = State(tmp_path / "state.db")
    ids = [state.accept([f"ev:{i}"], kind="mention", channel="C1", user="U1", question="q").id for i in range(3)]
    for job in state.claim("w", 15, limit=10):
        state.finish(job.id, "w", "done")
    state.prune(older_than_s=-1)
    assert state.job(ids[-1]) is not None and state.job(ids[0]) is None
    assert state.accept(["ev:next"], kind="mention", channel="C1", user="U1", question="q").id == ids[-1] + 1


def test_ack_path_writes_go_before_queued_worker_writes():
    from bot.jobstore.sqlite import _WriteLock

    lock, order = _WriteLock(), []
    holder = threading.Event()
    release = threading.Event()

    def hold():
        with lock.hold():
            holder.set()
            release.wait(5)

    def write(name, urgent):
        with lock.hold(urgent):
            order.append(name)

    t = threading.Thread(target=hold)
    t.start()
    holder.wait(5)
    workers = [threading.Thread(target=write, args=(f"worker{i}", False)) for i in range(3)]
    for w in workers:
        w.start()
    time.sleep(0.1)
    ack = threading.Thread(target=write, args=("ack", True))
    ack.start()
    time.sleep(0.1)
    release.set()
    for x in [t, ack, *workers]:
        x.join(5)
    assert order[0] == "ack" and sorted(order[1:]) == ["worker0", "worker1", "worker2"]


def test_questions_beyond_the_backlog_bound_get_the_busy_notice():
    """FAQBOT_QUEUE_SIZE bounds the questions waiting for a worker: beyond it a question is stored
    as skipped ('busy') at once, no worker ever claims it, and the asker is told."""
    store = MemoryJobStore()
    notices = []
    intake = Intake(store, lambda job, kind: notices.append((job.question, kind)), rate_limit=0, queue_size=3)
    for i in range(5):  # no worker runs: nothing is claimed
        assert intake.submit([f"ev:{i}"], kind="mention", channel="C1", user=f"U{i}", question=f"q{i}") is not None
    intake.stop()
    assert sorted(notices) == [("q3", "busy"), ("q4", "busy")]
    assert intake.stats["busy"] == 2 and intake.stats["accepted"] == 5
    assert store.stats()["by_status"] == {"queued": 3, "skipped": 2}
    assert [j.question for j in store.claim("w", 15, limit=10)] == ["q0", "q1", "q2"]
    intake.refresh()  # the serve process re-reads the depth every second
    assert intake.submit(["ev:5"], kind="mention", channel="C1", user="U5", question="q5") is not None
    assert store.job(6).status == "queued"


def test_the_local_worker_reindexes_changed_docs_while_serving(tmp_path, slack, faq_folder):
    """FAQBOT_REINDEX_INTERVAL: the child (which holds the Lite file) re-ingests in the background."""
    import shutil

    docs = tmp_path / "milvus_docs_2.4.x"  # a folder holds one docs version, named here
    shutil.copytree(faq_folder, docs)
    h = BotHarness(tmp_path, slack, FAQBOT_DOCS_SOURCE=str(docs), FAQBOT_ANSWER_PROCESS="true",
                   FAQBOT_REINDEX_INTERVAL="1s", FAQBOT_RATE_LIMIT="0").start()
    try:
        page = docs / "en" / "faq" / "operational_faq.md"
        page.write_text(page.read_text() + "\n\n### What is the release codeword for the test team?\n\n"
                        "The release codeword for the test team is zebra-lantern-42.\n")
        question = "What is the release codeword for the test team?"

        def answered_with_new_text():
            before = len(h.replies())
            h.post_event(sp.app_mention(f"<@UBOT> {question}", channel="C1"))
            slack.wait_for("chat.postMessage", before + 1, timeout=20)
            assert h.idle(20)
            return "zebra-lantern-42" in h.shown(h.replies()[-1])

        wait_until(answered_with_new_text, 30, every=1.0)
    finally:
        h.stop()


def test_sigterm_drain_releases_what_is_still_being_answered_to_the_other_workers():
    from bot.jobstore import JobStatus
    from bot.worker import Worker

    store = MemoryJobStore()
    started, release = threading.Event(), threading.Event()

    def slow(job):
        started.set()
        release.wait(5)
        return JobStatus.DONE, None

    store.accept(["ev:1"], kind="mention", channel="C1", user="U1", question="q1")
    worker = Worker(store, slow, lambda job, kind: None, "hostA/worker/1", concurrency=2, lease_s=30).start()
    assert started.wait(5)
    assert worker.stop(drain_s=0.2) == 1  # still writing after the drain: given back at once
    job = store.job(1)
    assert (job.status, job.owner) == ("queued", None)
    assert [j.id for j in store.claim("hostB/worker/1", 30)] == [1]  # another worker takes it, no lease wait
    release.set()


def test_the_local_worker_pauses_while_serve_acknowledges():
    """bot/ackgate.py: measured in `make bench` (ack): without the pause the ack p99 at 50 concurrent
    senders was 3.5x a bare Bolt app, with it 0.8-1.55x."""
    from bot.ackgate import AckGate, AckPause

    gate = AckGate()
    pause = AckPause(gate.shared)
    t0 = time.monotonic()
    pause()
    assert time.monotonic() - t0 < 0.05  # nothing being acknowledged: no wait
    inside = threading.Event()
    release = threading.Event()

    def dispatch():
        inside.set()
        release.wait(5)
        return "acked"

    gated = gate.wrap(dispatch)
    with ThreadPoolExecutor(1) as pool:
        acked = pool.submit(gated)
        assert inside.wait(5) and gate.shared.value == 1
        t0 = time.monotonic()
        pause(max_wait=0.2)
        assert 0.19 <= time.monotonic() - t0 < 1.0  # waited, never longer than max_wait
        release.set()
        assert acked.result(5) == "acked"
    assert gate.shared.value == 0
