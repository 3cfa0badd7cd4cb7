"""Issue 11 §6: the bot as replicas on real servers — `faqbot serve` ×2 and `faqbot worker` ×2 as
subprocesses, one PostgreSQL job store (a fresh schema per test), one Milvus server (ingested once for
the module), the fake Slack in this process. What each test asserts is the answer in each thread (doc
text and a docs link), once, not only how many calls were made."""

from __future__ import annotations

import json
import random
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from psycopg.rows import dict_row

from testkit.bot_harness import wait_until
from testkit.fakes import slack_payloads as sp
from testkit.milvus_server import MilvusServer
from testkit.pg_server import PASSWORD
from testkit.replicas import SECRET, Replicas, bot_env, ingest, rag_env

# questions whose answer (extractive, or the fake Gemini's first sentences of passage 1) holds this text
QA = [
    ("How is data stored in milvus?", "Milvus deals with two types of data, inserted data and metadata."),
    ("What is the maximum vector dimension?", "Milvus can manage vectors with up to 32,768 dimensions"),
    ("How much does Milvus cost?", "Milvus is a 100% free open-source project."),
    ("Does Milvus run on an Apple M1 CPU?", "Current Milvus release does not support Apple M1 CPU directly."),
]
DOCS_LINK = "milvus.io/docs"
LEASE_S = 3  # FAQBOT_LEASE_SECONDS in the kill tests (its minimum): takeovers within seconds
POSTS = ("chat.postMessage", "chat.startStream")  # what creates a reply (a native stream, or post + edits)
EDITS = ("chat.update", "chat.appendStream", "chat.stopStream")  # what changes it


# ---- fixtures: one Milvus server per module, a fresh job store schema and fresh processes per test --------

@pytest.fixture(scope="module")
def rag(tmp_path_factory, docs_zip):
    root = tmp_path_factory.mktemp("replicas")
    server = MilvusServer(root / "milvus-data").start()
    try:
        env = rag_env(milvus_uri=server.uri, docs_zip=docs_zip, cache=root / "cache")
        ingest(env, root)
        yield env
    finally:
        server.stop()


@pytest.fixture
def cluster(tmp_path, slack, pg_url, rag):
    """Replicas on a fresh schema of the session's PostgreSQL (`.state_url`; `.env` is what they start
    with); every process is stopped at the end and its log printed (shown when the test fails)."""
    state_url = pg_url.fresh("replicas")
    replicas = Replicas(tmp_path, bot_env(slack, rag, state_url=state_url))
    replicas.state_url = state_url
    try:
        yield replicas
    finally:
        replicas.stop_all()
        for r in replicas.all:
            print(f"---- {r.name} (pid {r.pid}, exit {r.proc.returncode})\n{r.log()[-3000:]}")
    secrets = (PASSWORD, SECRET, slack.bot_token, slack.app_token, "test-gemini-key")
    leaked = [(r.name, s[:6]) for r in replicas.all for s in secrets if s in r.log()]
    assert not leaked, f"secrets in the replicas' logs: {leaked}"


def jobs(state_url: str) -> list[dict]:
    with psycopg.connect(state_url, row_factory=dict_row, connect_timeout=5) as conn:
        return conn.execute("SELECT * FROM faqbot_jobs ORDER BY id").fetchall()


def mention(slack, n: int, channel: str | None = None) -> tuple[dict, str]:
    """An app_mention envelope for question n (also stored in the fake Slack as the thread's parent
    message), and the text its answer must hold."""
    question, phrase = QA[n % len(QA)]
    channel = channel or f"C{n % 10}"
    event = sp.app_mention(f"<@UBOT> {question}", channel=channel, user=f"U{n:05d}")
    slack.add_message(channel, {"user": event["user"], "text": event["text"], "ts": event["ts"]})
    return sp.event_callback(event), phrase


def bot_replies(slack, envelope: dict) -> list[dict]:
    event = envelope["event"]
    return [m for m in slack.thread(event["channel"], event["ts"]) if m.get("user") == slack.bot_user_id]


def shown(message: dict) -> str:
    return json.dumps({"text": message.get("text"), "blocks": message.get("blocks")}, ensure_ascii=False)


def final_answer(message: dict, phrase: str) -> bool:
    """The message is the final answer: its text holds the doc text (an apology edited over the answer
    does not) and its blocks the docs link (the sources come with the final message, never with a
    partial streamed one). Posted-and-edited replies carry the answer in blocks too; a native stream's
    is in its text."""
    blocks = json.dumps(message.get("blocks") or [], ensure_ascii=False)
    return phrase in (message.get("text") or "") and DOCS_LINK in blocks


def answered(slack, envelope: dict, phrase: str) -> bool:
    return any(final_answer(m, phrase) for m in bot_replies(slack, envelope))


def wait_answered(slack, mentions: list[tuple[dict, str]], timeout: float, state_url: str) -> None:
    """Until every thread shows its final answer; else fail saying what the others show and their jobs."""
    try:
        wait_until(lambda: all(answered(slack, e, p) for e, p in mentions), timeout, every=0.25)
    except AssertionError:
        missing = [e for e, p in mentions if not answered(slack, e, p)]
        rows = {r["ts"]: r for r in jobs(state_url)}
        raise AssertionError(f"{len(missing)} of {len(mentions)} not answered in {timeout}s: " + "; ".join(
            f"{e['event']['ts']}: job {rows.get(e['event']['ts'])}, replies {[shown(m)[:200] for m in bot_replies(slack, e)]}"
            for e in missing[:3])) from None


def assert_answered_once(slack, mentions: list[tuple[dict, str]]) -> None:
    problems = []
    for envelope, phrase in mentions:
        replies = bot_replies(slack, envelope)
        if len(replies) != 1:
            problems.append(f"{envelope['event']['ts']}: {len(replies)} bot replies")
        elif not final_answer(replies[0], phrase):
            problems.append(f"{envelope['event']['ts']}: shows {shown(replies[0])[:300]}")
    assert not problems, f"{len(problems)} of {len(mentions)} threads wrong: {problems[:5]}"


def owner_pid(owner: str | None) -> int | None:
    """'<host>/worker/<pid>-<random>' -> pid."""
    return int(owner.split("/")[-1].split("-")[0]) if owner else None


# ---- a. 200 mentions over 2 serve replicas, 10% redelivered to the other one -------------------------------

def test_200_mentions_over_two_serve_replicas_with_redeliveries_are_answered_once_each(cluster, slack):
    serves = [cluster.serve(), cluster.serve()]
    workers = [cluster.worker(FAQBOT_WORKERS="8"), cluster.worker(FAQBOT_WORKERS="8")]
    cluster.wait_healthy()
    mentions = [mention(slack, n) for n in range(200)]
    # each mention to one replica; 10 % of them also to the other replica (X-Slack-Retry-Num, the same
    # event id), all in one shuffled stream: a retry may even arrive before its original
    sends = [(n, n % 2, None) for n in range(200)] + [(n, 1 - n % 2, 1) for n in range(0, 200, 10)]
    random.Random(11).shuffle(sends)
    t0 = time.monotonic()
    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(lambda s: serves[s[1]].post(mentions[s[0]][0], retry_num=s[2]), sends))
    acked_s = time.monotonic() - t0
    assert statuses == [200] * len(sends)

    wait_until(lambda: all(answered(slack, e, p) for e, p in mentions), 60, every=0.25)
    answered_s = time.monotonic() - t0
    time.sleep(0.5)  # a duplicate would be posted about now
    print(f"220 deliveries acknowledged in {acked_s:.1f}s, 200 answers in {answered_s:.1f}s")
    assert_answered_once(slack, mentions)
    posts = [c for c in slack.calls if c.method in POSTS and c.ok]
    assert sorted(c.params["thread_ts"] for c in posts) == sorted(e["event"]["ts"] for e, _ in mentions)

    # a worker stores 'done' just after its last Slack call: wait for the writes, not a fixed time
    wait_until(lambda: {r["status"] for r in jobs(cluster.state_url)} == {"done"}, 10, every=0.1)
    rows = jobs(cluster.state_url)
    assert len(rows) == 200 and {r["status"] for r in rows} == {"done"} and {r["attempts"] for r in rows} == {1}
    by_worker = {w.pid: sum(owner_pid(r["owner"]) == w.pid for r in rows) for w in workers}
    assert all(by_worker.values()) and sum(by_worker.values()) == 200, by_worker
    intake = [s.health()[1]["stats"] for s in serves]
    assert sum(i["accepted"] for i in intake) == 200 and sum(i["duplicates"] for i in intake) == 20, intake
    assert [w.health()[1]["stats"]["answered"] for w in workers] == [by_worker[w.pid] for w in workers]


# ---- b. kill -9 of a worker while it answers -------------------------------------------------------------

def _kill_the_busiest_worker(cluster, slack, mentions) -> tuple:
    """kill -9 the worker holding most of these (running, reply already in Slack) jobs; returns the
    victim, its jobs, the reply ts in each thread, and the kill's wall-clock time."""
    running = [r for r in jobs(cluster.state_url) if r["status"] == "running"]
    assert len(running) == len(mentions), running
    workers = [w for w in cluster.all if w.role == "worker" and w.alive()]
    victim = max(workers, key=lambda w: sum(owner_pid(r["owner"]) == w.pid for r in running))
    theirs = [r for r in running if owner_pid(r["owner"]) == victim.pid]
    posted = {}
    for envelope, _ in mentions:
        replies = bot_replies(slack, envelope)
        assert len(replies) == 1  # the first words of every answer are in Slack already
        posted[envelope["event"]["ts"]] = replies[0]["ts"]
    killed_at = time.time()
    victim.kill()
    return victim, theirs, posted, killed_at


def _assert_taken_over(cluster, slack, mentions, victim, theirs, posted, killed_at) -> float:
    """Within the lease + 10 s every question shows its answer, once, in the reply that was in the
    thread before the kill (edited, not posted again); the victim's jobs were claimed again."""
    wait_answered(slack, mentions, LEASE_S + 10, cluster.state_url)
    took = time.time() - killed_at
    wait_until(lambda: all(r["status"] == "done" for r in jobs(cluster.state_url)), 5, every=0.05)
    time.sleep(0.5)
    assert_answered_once(slack, mentions)
    for envelope, _ in mentions:
        assert bot_replies(slack, envelope)[0]["ts"] == posted[envelope["event"]["ts"]]
    rows = {r["id"]: r for r in jobs(cluster.state_url)}
    assert theirs
    for job in theirs:
        now = rows[job["id"]]
        assert now["attempts"] == 2 and owner_pid(now["owner"]) not in (None, victim.pid), now
        assert now["reply_ts"] == posted[job["ts"]]
        assert [c for c in slack.calls if c.method in EDITS and c.ok and c.params.get("ts") == now["reply_ts"]
                and c.time > killed_at], f"job {job['id']}: its reply was not edited after the kill"
    return took


def test_a_worker_killed_mid_answer_is_taken_over_and_its_reply_edited(cluster, slack, fake_gemini):
    """Two kills: (1) while answers stream, their first words posted and the reply ts recorded;
    (2) right after Slack stored a reply, before the worker learned its ts (found again by the
    job id in the message metadata). Each time every question is answered once, in the reply
    already in the thread, within the lease + 10 s."""
    cluster.env = bot_env(slack, cluster.env, state_url=cluster.state_url, gemini=fake_gemini,
                          FAQBOT_LEASE_SECONDS=LEASE_S, FAQBOT_WORKERS=8, GEMINI_TIMEOUT=60)
    serve = cluster.serve()
    cluster.worker(), cluster.worker()
    cluster.wait_healthy()

    # (1) streaming: the first chunk of each answer is posted, then Gemini stalls
    fake_gemini.pause_streams()
    first = [mention(slack, n) for n in range(6)]
    for envelope, _ in first:
        assert serve.post(envelope) == 200
    wait_until(lambda: fake_gemini.streams_paused == len(first) and all(r["reply_ts"] for r in jobs(cluster.state_url)),
               20, every=0.1)
    killed = _kill_the_busiest_worker(cluster, slack, first)
    fake_gemini.resume_streams()
    took = _assert_taken_over(cluster, slack, first, *killed)
    print(f"kill 1: {len(killed[1])} answers taken over, all answered {took:.1f}s after the kill")

    # (2) posted but not recorded: Slack stores each reply, the workers never hear back
    cluster.worker()
    cluster.wait_healthy()
    for method in POSTS:
        slack.hold(method)
    second = [mention(slack, n, channel="C9") for n in range(6, 10)]
    for envelope, _ in second:
        assert serve.post(envelope) == 200
    try:
        wait_until(lambda: all(len(bot_replies(slack, e)) == 1 for e, _ in second), 20, every=0.1)
        stored = {r["id"]: r["reply_ts"] for r in jobs(cluster.state_url) if r["ts"] in
                  {e["event"]["ts"] for e, _ in second}}
        assert set(stored.values()) == {None}
        killed = _kill_the_busiest_worker(cluster, slack, second)
    finally:
        slack.release()
    took = _assert_taken_over(cluster, slack, second, *killed)
    print(f"kill 2: {len(killed[1])} answers taken over, all answered {took:.1f}s after the kill")


# ---- c. PostgreSQL restarted mid-run ---------------------------------------------------------------------

def test_postgres_restarted_mid_run_loses_nothing_acknowledged(cluster, slack, pg_url):
    """Mentions arrive steadily while PostgreSQL stops for a few seconds and starts again: every one
    is acknowledged (stored) or refused with a 5xx, never a 200 for a question that was not stored;
    every acknowledged one is answered once, and so is every refused one after Slack's retry. Some
    answers are in flight across the outage (Slack holds their posts until the database is down):
    they cannot record their reply, and must still end as the answer, not an apology."""
    serves = [cluster.serve(), cluster.serve()]
    cluster.worker(FAQBOT_WORKERS="8", FAQBOT_LEASE_SECONDS=LEASE_S)
    cluster.wait_healthy()
    mentions, sent, lock = [], [], threading.Lock()
    stop = threading.Event()

    def send_steadily():  # ~20 mentions a second, before, during and after the outage
        n = 0
        while not stop.is_set():
            envelope, phrase = mention(slack, 1000 + n)
            status = serves[n % 2].post(envelope, timeout=15)
            with lock:
                mentions.append((envelope, phrase))
                sent.append((n, status, time.monotonic()))
            n += 1
            stop.wait(0.05)

    sender = threading.Thread(target=send_steadily, daemon=True)
    sender.start()
    try:
        time.sleep(1.5)
        posts = sum(c.method in POSTS for c in slack.calls)
        for method in POSTS:
            slack.hold(method)
        wait_until(lambda: sum(c.method in POSTS for c in slack.calls) > posts, 5, every=0.02)
        pg_url.server.stop()
        down_at = time.monotonic()
        slack.release()  # the workers learn their replies' ts now, with no database
        while_down = [mention(slack, 2000 + k) for k in range(2)]
        t0 = time.monotonic()
        with ThreadPoolExecutor(2) as pool:
            down_statuses = list(pool.map(lambda k: serves[k].post(while_down[k][0], timeout=15), range(2)))
        refuse_s = time.monotonic() - t0
        time.sleep(max(0.0, 3.0 - (time.monotonic() - down_at)))
    finally:
        slack.release()
        pg_url.server.start()
    up_at = time.monotonic()
    time.sleep(2.0)
    stop.set()
    sender.join(20)
    print(f"PostgreSQL down {up_at - down_at:.1f}s; a serve replica refused a question in {refuse_s:.2f}s")
    assert all(500 <= s < 600 for s in down_statuses), down_statuses  # never a 200 for an unstored question
    assert refuse_s < 3.0  # within Slack's deadline
    statuses = [s for _, s, _ in sent]
    assert all(s == 200 or 500 <= s < 600 for s in statuses), statuses
    assert statuses.count(200) >= 20 and any(s != 200 for s in statuses), statuses

    acked = [m for m, (_, s, _) in zip(mentions, sent) if s == 200]
    refused = [m for m, (_, s, _) in zip(mentions, sent) if s != 200] + while_down
    # nothing acknowledged is lost: answered once, without any help
    wait_answered(slack, acked, 30, cluster.state_url)
    # Slack retries what was refused; now it is stored, and answered once too
    for k, (envelope, _) in enumerate(refused):
        assert serves[k % 2].post(envelope, retry_num=1) == 200
    wait_answered(slack, refused, 30, cluster.state_url)
    # a job whose 'done' could not be stored during the outage is stored by its worker once the
    # database is back, or (outage longer than the lease) taken over after the lease and its reply edited
    wait_until(lambda: {r["status"] for r in jobs(cluster.state_url)} == {"done"}, LEASE_S + 15, every=0.25)
    time.sleep(0.5)
    assert_answered_once(slack, acked + refused)
    rows = jobs(cluster.state_url)
    assert len(rows) == len(acked) + len(refused) and {r["status"] for r in rows} == {"done"}


# ---- d. Socket Mode: 2 serve replicas, each with its own connection -----------------------------------------

def test_socket_mode_replicas_share_the_events_and_answer_each_once(cluster, slack):
    """The fake Slack sends each envelope to one of the open connections at random and redelivers
    what is not acknowledged within 2 s to another one, as Slack does."""
    slack.socket.redeliver_after = 2.0
    socket_env = {"SLACK_APP_TOKEN": slack.app_token}
    serves = [cluster.serve(http=False, **socket_env), cluster.serve(http=False, **socket_env)]
    cluster.worker(FAQBOT_WORKERS="8")
    cluster.wait_healthy()
    wait_until(lambda: slack.socket.active_connections == 2, 20)

    mentions = [mention(slack, 3000 + n) for n in range(30)]
    envelopes = [slack.socket.send("events_api", e) for e, _ in mentions]
    for n in range(0, 30, 5):  # Slack's own retries of some, on whichever connection
        envelopes.append(slack.socket.send("events_api", mentions[n][0], retry_attempt=1, retry_reason="timeout"))
    for eid in envelopes:
        slack.socket.wait_ack(eid, 10)
    assert len(set(slack.socket.acked_on.values())) == 2  # both replicas acknowledged events

    # a replica that hangs (SIGSTOP): what Slack sent it is redelivered to the other; when it wakes
    # up it handles its stale copies too — still one answer each
    serves[1].proc.send_signal(signal.SIGSTOP)
    try:
        late = [mention(slack, 3100 + n) for n in range(10)]
        sent = [slack.socket.send("events_api", e) for e, _ in late]
        wait_answered(slack, late, 20, cluster.state_url)
        stale = [eid for eid in sent if eid not in slack.socket.acked_on]
        assert stale and len(slack.socket.redelivered) >= len(stale), "no envelope went to the hung replica"
    finally:
        serves[1].proc.send_signal(signal.SIGCONT)
    for eid in stale:  # the woken replica handles its stale copies: duplicates, acknowledged, no second job
        slack.socket.wait_ack(eid, 10)
    assert serves[1].health()[1]["stats"]["duplicates"] >= len(stale)
    time.sleep(0.5)
    assert_answered_once(slack, mentions + late)
    rows = jobs(cluster.state_url)
    assert len(rows) == 40 and {r["status"] for r in rows} == {"done"}
