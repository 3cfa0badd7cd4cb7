"""Promises that count-only tests let slip. Each test here failed against a copy of the bot with one
defect planted (the /milvus echo unescaped, a rate-limit window that never expires, recovery that
re-posts instead of editing, user/assistant swapped in the thread history, `verbatim` dropped), and
checks what Slack and Gemini actually received, through the real bot, the fake Slack and the fake Gemini."""

import json
import shutil
import time
import uuid

import pytest

from bot.local_worker import local_prefix
from testkit.bot_harness import BotHarness, wait_until
from testkit.fakes import slack_payloads as sp
from testkit.fakes.gemini_server import FakeGemini
from testkit.fakes.slack_api import FakeSlack

QUESTION = "How is data stored in milvus?"
DOC_PHRASE = "Milvus deals with two types of data, inserted data and metadata."  # product_faq.md, the answer's passage


@pytest.fixture(scope="module")
def world(tmp_path_factory, faq_folder):
    tmp = tmp_path_factory.mktemp("promises")
    docs = tmp / "milvus_docs_2.4.x"  # a folder holds one docs version, named here
    shutil.copytree(faq_folder, docs)
    with FakeSlack() as slack, FakeGemini() as gemini:
        h = BotHarness(tmp, slack, gemini, FAQBOT_DOCS_SOURCE=str(docs), FAQBOT_RATE_LIMIT="0").start()
        try:
            yield h, slack, gemini
        finally:
            h.stop()


def _final(slack, call) -> str:
    """What a posted message shows now (after the streaming edits): text and blocks as JSON."""
    msg = slack.message(call.params["channel"], call.response["ts"]) or {}
    return json.dumps({"text": msg.get("text"), "blocks": msg.get("blocks")}, ensure_ascii=False)


def _answered(h, slack, channel: str, n: int = 1) -> list:
    slack.wait_for("chat.postMessage", n, pred=lambda c: c.ok and c.params.get("channel") == channel, timeout=20)
    assert h.idle()
    return h.replies(channel)


def _prompt(request: dict) -> str:
    """The prompt text the fake Gemini received in one generate request."""
    return "\n".join(p.get("text", "") for c in request["json"]["contents"] for p in c.get("parts", []))


# ---- /milvus: the question is echoed into the channel, escaped ---------------------------------------

def test_milvus_command_echoes_the_question_into_the_channel_escaped(world):
    h, slack, _ = world
    q = "<!channel> <@U999> @here how is data stored in milvus?"
    h.post_command(q, channel_id="CECHO", user_id="U0ASKER1")
    question, answer = _answered(h, slack, "CECHO", 2)
    text = question.params["text"]
    assert text.startswith("<@U0ASKER1> asked: ")  # the one mention the bot adds itself: the asker
    assert "&lt;!channel&gt; &lt;@U999&gt; @\u200bhere how is data stored in milvus?" in text
    assert "<!channel>" not in text and "<@U999>" not in text and "@here" not in text
    assert "thread_ts" not in question.params and answer.params["thread_ts"] == question.response["ts"]
    assert DOC_PHRASE in _final(slack, answer)

    # not a member of the channel: the question and the answer go back through response_url
    slack.add_channel("CECHO2", members_include_bot=False)
    url = slack.new_response_url()
    h.post_command(q, channel_id="CECHO2", user_id="U0ASKER1", response_url=url)
    sent = slack.wait_for("response_url", 1, pred=lambda c: c.params.get("_url_id") == url.rsplit("/", 1)[1])
    assert h.idle()
    head = sent[0].params["blocks"][0]["text"]["text"]
    assert head.startswith("<@U0ASKER1> asked: ") and "&lt;!channel&gt; &lt;@U999&gt; @\u200bhere" in head
    assert "<!channel>" not in json.dumps(sent[0].params) and DOC_PHRASE in json.dumps(sent[0].params)


# ---- rate limit: a window, not a ban ------------------------------------------------------------------

def test_a_rate_limited_user_is_answered_again_once_the_window_has_passed(world):
    h, slack, _ = world
    window = 1.0
    intake = h.bot.intake
    saved = intake.rate_limit, intake.rate_window_s
    intake.rate_limit, intake.rate_window_s = 1, window  # 1 question/second (in the store: all replicas)
    try:
        first = sp.app_mention(f"<@UBOT> {QUESTION}", channel="CRATE", user="URATE")
        h.post_event(first)
        t_first = time.monotonic()
        second = sp.app_mention(f"<@UBOT> {QUESTION}", channel="CRATE", user="URATE")
        h.post_event(second)
        assert time.monotonic() - t_first < window  # still inside the window: the limit applies
        notice = slack.wait_for("chat.postEphemeral", 1, pred=lambda c: c.params.get("channel") == "CRATE")[0]
        assert notice.params["user"] == "URATE" and "a little fast" in notice.params["text"]
        _answered(h, slack, "CRATE", 1)
        time.sleep(max(0.0, t_first + window + 0.1 - time.monotonic()))
        third = sp.app_mention(f"<@UBOT> {QUESTION}", channel="CRATE", user="URATE")
        h.post_event(third)
        posts = _answered(h, slack, "CRATE", 2)
    finally:
        intake.rate_limit, intake.rate_window_s = saved
    assert [p.params["thread_ts"] for p in posts] == [first["ts"], third["ts"]]  # the second: notice only
    assert all(DOC_PHRASE in _final(slack, p) for p in posts)
    assert len([c for c in slack.calls_to("chat.postEphemeral") if c.params.get("channel") == "CRATE"]) == 1


# ---- recovery: an answer already in the thread is edited, not posted again ------------------------------

def _started_mention(h, slack, channel: str):
    """A mention the bot accepted and a previous run of its local worker (now dead) claimed:
    (store, job, question ts). The live worker claims nothing until `_restart(h)`."""
    assert h.idle()
    store = h.store
    ts = sp.next_ts()
    slack.add_message(channel, {"user": "U1", "text": f"<@UBOT> {QUESTION}", "ts": ts})
    h.answering.worker.pause()
    job = store.accept([f"ev:{uuid.uuid4().hex}"], kind="mention", channel=channel, user="U1", question=QUESTION,
                       ts=ts, thread_ts=ts)
    assert [j.id for j in store.claim(local_prefix() + "dead-run", lease_s=300)] == [job.id]
    return store, job, ts


def _restart(h) -> None:
    """What a restarted bot does first on this machine: take back what its previous run held (no lease wait)."""
    assert h.store.release_owner(local_prefix()) == 1
    h.answering.worker.resume()


def test_a_recovered_question_whose_answer_was_already_posted_is_finished_by_editing_it(world):
    h, slack, _ = world
    # the bot had started on it and posted the first words of the answer, then died
    store, job, ts = _started_mention(h, slack, "CREC")
    partial = h.bot.client.chat_postMessage(channel="CREC", thread_ts=ts, text="According to the Milvus docs …")
    store.update(job.id, reply_ts=partial["ts"])
    h.bot.client.reactions_add(channel="CREC", timestamp=ts, name="eyes")  # the dead run's 👀
    before = len(slack.calls)

    _restart(h)
    wait_until(lambda: store.job(job.id).status not in ("queued", "running"), 20)
    assert h.idle()
    assert store.job(job.id).status == "done"
    calls = [c for c in slack.calls[before:] if c.method.startswith("chat.")]
    assert not [c for c in calls if c.method == "chat.postMessage"], [c.params for c in calls]
    assert calls and all(c.method == "chat.update" and c.params["ts"] == partial["ts"] and c.ok for c in calls)
    replies = [m for m in slack.thread("CREC", ts) if m["ts"] != ts]
    assert [m["ts"] for m in replies] == [partial["ts"]]  # exactly one bot reply in the thread ...
    shown = json.dumps({"text": replies[0]["text"], "blocks": replies[0].get("blocks")}, ensure_ascii=False)
    assert replies[0].get("blocks") and not replies[0]["text"].endswith("…")  # ... the final answer,
    assert DOC_PHRASE in shown and "milvus.io/docs" in shown  # not the streamed first words
    question = slack.message("CREC", ts)
    assert not [r for r in question.get("reactions", []) if r["name"] == "eyes"]  # the retry took the 👀 away


# ---- thread history: who said what ----------------------------------------------------------------------

def test_thread_history_reaches_gemini_as_user_and_assistant_turns_in_order(world):
    h, slack, gemini = world
    parent = sp.next_ts()
    said_user = "We run Milvus on Kubernetes with three query nodes."
    said_bot = "Milvus on Kubernetes is installed with the Milvus Operator or the Helm chart."
    said_user_again = "Thanks, and our object storage is S3."
    slack.seed_thread("CHIST", parent, [  # ts in order, all before the mention's
        {"user": "U2", "text": said_user},
        {"user": "UBOT", "bot_id": "BBOT", "text": said_bot, "ts": sp.next_ts(),
         "bot_profile": {"id": "BBOT", "app_id": "A1", "name": "fakebot", "deleted": False, "team_id": "T1"}},
        {"user": "U2", "text": said_user_again, "ts": sp.next_ts()},
    ])
    q = "Where does Milvus keep inserted data?"
    h.post_event(sp.app_mention(f"<@UBOT> {q}", channel="CHIST", user="U2", thread_ts=parent))
    post = _answered(h, slack, "CHIST")[0]
    assert post.params["thread_ts"] == parent
    prompts = [_prompt(r) for r in gemini.requests
               if r["action"] in ("generateContent", "streamGenerateContent") and f"Question: {q}" in _prompt(r)]
    assert len(prompts) == 1
    lines = prompts[0].splitlines()
    turns = [f"User: {said_user}", f"Assistant: {said_bot}", f"User: {said_user_again}", f"Question: {q}"]
    for turn in turns:
        assert turn in lines, (turn, lines[-8:])
    assert [lines.index(t) for t in turns] == sorted(lines.index(t) for t in turns)
    assert f"Assistant: {said_user}" not in lines and f"User: {said_bot}" not in lines


# ---- verbatim: Slack must not parse mentions, channels or links out of our mrkdwn ------------------------

def _mrkdwn_objects(value):
    if isinstance(value, dict):
        if value.get("type") == "mrkdwn":
            yield value
        for v in value.values():
            yield from _mrkdwn_objects(v)
    elif isinstance(value, list):
        for v in value:
            yield from _mrkdwn_objects(v)


def test_every_mrkdwn_text_object_the_bot_sends_is_verbatim(world):
    h, slack, _ = world
    # its own traffic (any order, or run alone): an answer, a /milvus answer in a thread,
    # a /milvus answer through response_url, and the usage reply to an empty mention
    h.post_event(sp.app_mention(f"<@UBOT> {QUESTION}", channel="CVERB1"))
    h.post_command(QUESTION, channel_id="CVERB2")
    slack.add_channel("CVERB3", members_include_bot=False)
    url = slack.new_response_url()
    h.post_command(QUESTION, channel_id="CVERB3", response_url=url)
    h.post_event(sp.app_mention("<@UBOT>   ", channel="CVERB4"))
    _answered(h, slack, "CVERB1")
    _answered(h, slack, "CVERB2", 2)
    slack.wait_for("response_url", 1, pred=lambda c: c.params.get("_url_id") == url.rsplit("/", 1)[1])
    _answered(h, slack, "CVERB4")

    sent = [(c.method, c.params.get("channel"), o) for c in slack.calls
            if c.method.startswith("chat.") or c.method == "response_url" for o in _mrkdwn_objects(c.params)]
    texts = " ".join(o["text"] for _, _, o in sent)
    assert DOC_PHRASE in texts and "Sources (Milvus v2.4.x docs)" in texts  # answer sections and sources
    assert "asked:" in texts and "/milvus" in texts  # the response_url question block, the usage blocks
    assert {ch for _, ch, _ in sent} >= {"CVERB1", "CVERB2", "CVERB4"}
    not_verbatim = [(m, ch, o) for m, ch, o in sent if o.get("verbatim") is not True]
    assert not not_verbatim, not_verbatim[:3]


def test_a_reply_posted_just_before_a_crash_is_found_by_its_metadata_and_edited(world):
    """The worst instant: the answer's first message was posted, then the bot died before it could
    store the message's ts. The retry finds the message by the job id in its metadata."""
    h, slack, _ = world
    store, job, ts = _started_mention(h, slack, "CMETA")
    from bot.posting import reply_metadata

    partial = h.bot.client.chat_postMessage(channel="CMETA", thread_ts=ts, text="According to the Milvus docs …",
                                            metadata=reply_metadata(job.id))  # ... and no reply_ts stored
    # another job's reply in the same thread is not taken for this one
    other = h.bot.client.chat_postMessage(channel="CMETA", thread_ts=ts, text="another answer",
                                          metadata=reply_metadata(job.id + 1000))
    before = len(slack.calls)

    _restart(h)
    wait_until(lambda: store.job(job.id).status not in ("queued", "running"), 20)
    assert h.idle()
    calls = [c for c in slack.calls[before:] if c.method.startswith("chat.")]
    assert not [c for c in calls if c.method == "chat.postMessage"], [c.params for c in calls]
    assert calls and all(c.method == "chat.update" and c.params["ts"] == partial["ts"] for c in calls)
    assert store.job(job.id).reply_ts == partial["ts"]
    replies = {m["ts"]: m for m in slack.thread("CMETA", ts) if m["ts"] != ts}
    assert set(replies) == {partial["ts"], other["ts"]} and replies[other["ts"]]["text"] == "another answer"
    assert DOC_PHRASE in json.dumps(replies[partial["ts"]].get("blocks"), ensure_ascii=False)


def test_every_answer_carries_its_job_id_in_message_metadata(world):
    h, slack, _ = world
    before = len(slack.calls)
    h.post_event(sp.app_mention(f"<@UBOT> {QUESTION}", channel="CMETA2"))
    assert h.idle()
    posts = [c for c in slack.calls[before:] if c.method == "chat.postMessage" and c.params.get("thread_ts")]
    assert posts and all(c.params["metadata"]["event_type"] == "faqbot_answer" for c in posts)
    job_ids = {c.params["metadata"]["event_payload"]["job_id"] for c in posts}
    assert len(job_ids) == 1 and h.store.job(int(job_ids.pop())).reply_ts == posts[0].response["ts"]


def test_a_stream_cut_off_before_its_ts_was_stored_is_found_as_the_first_bot_reply_and_edited(world):
    """chat.startStream takes no metadata: a streamed reply whose ts never reached the store is the bot's
    first message after the question without a job id — adopted and edited, never answered beside."""
    h, slack, _ = world
    store, job, ts = _started_mention(h, slack, "CSTREAM")
    started = h.bot.client.chat_startStream(channel="CSTREAM", thread_ts=ts, recipient_user_id="U1",
                                            recipient_team_id="T1", markdown_text="According to the Milvus docs")
    before = len(slack.calls)
    _restart(h)
    wait_until(lambda: store.job(job.id).status not in ("queued", "running"), 20)
    assert h.idle()
    calls = [c for c in slack.calls[before:] if c.method.startswith("chat.")]
    assert not [c for c in calls if c.method in ("chat.postMessage", "chat.startStream")], [c.method for c in calls]
    assert store.job(job.id).reply_ts == started["ts"]
    replies = [m for m in slack.thread("CSTREAM", ts) if m["ts"] != ts]
    assert [m["ts"] for m in replies] == [started["ts"]]
    assert DOC_PHRASE in json.dumps(replies[0].get("blocks"), ensure_ascii=False)
