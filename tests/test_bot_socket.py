"""The same flows over Socket Mode: envelopes from a local WebSocket server, acks back."""

import contextlib
import json
import time

import pytest

from bot.serve import socket_handler
from testkit.bot_harness import BotHarness
from testkit.fakes import slack_payloads as sp
from testkit.fakes.slack_api import FakeSlack

QUESTION = "How is data stored in milvus?"


@contextlib.contextmanager
def _socket_bot(tmp_path, fake_gemini, answer_process: bool):
    with FakeSlack() as slack:
        h = BotHarness(tmp_path, slack, fake_gemini, SLACK_APP_TOKEN=slack.app_token,
                       FAQBOT_ANSWER_PROCESS=str(answer_process).lower()).start()
        handler = socket_handler(h.bot, ping_interval=1)
        handler.connect()
        slack.socket.wait_connected(10)
        try:
            yield h, slack
        finally:
            handler.client.auto_reconnect_enabled = False
            slack.socket.drop_connections()
            handler.close()
            h.stop()


@pytest.fixture(params=[False, True], ids=["answer threads", "answer process"])
def socket_bot(request, tmp_path, fake_gemini):
    with _socket_bot(tmp_path, fake_gemini, request.param) as bot:
        yield bot


@pytest.fixture
def socket_bot_threads(tmp_path, fake_gemini):
    """In-process answers: for tests that make this process's Milvus client fail."""
    with _socket_bot(tmp_path, fake_gemini, False) as bot:
        yield bot


def test_mention_over_socket_mode_exactly_once(socket_bot):
    h, slack = socket_bot
    event = sp.app_mention(f"<@UBOT> {QUESTION}", channel="C1")
    envelope = sp.event_callback(event)
    first = slack.socket.send("events_api", envelope)
    assert slack.socket.wait_ack(first, 5)["envelope_id"] == first
    slack.wait_for("chat.postMessage", 1)
    for n in (1, 2, 3):  # redeliveries carry retry_attempt
        eid = slack.socket.send("events_api", envelope, retry_attempt=n, retry_reason="timeout")
        slack.socket.wait_ack(eid, 5)
    twin = sp.event_callback(sp.message(event["text"], channel="C1", ts=event["ts"]))
    slack.socket.wait_ack(slack.socket.send("events_api", twin), 5)
    assert h.idle()
    time.sleep(0.3)
    posts = h.replies("C1")
    assert len(posts) == 1 and posts[0].params["thread_ts"] == event["ts"]
    assert "milvus.io/docs" in h.shown(posts[0])


def test_slash_command_over_socket_mode(socket_bot):
    h, slack = socket_bot
    t0 = time.monotonic()
    eid = slack.socket.send("slash_commands", sp.slash_command(QUESTION, channel_id="C1"))
    ack = slack.socket.wait_ack(eid, 5)
    assert time.monotonic() - t0 < 3
    assert ack["payload"]["response_type"] == "ephemeral"
    slack.wait_for("chat.postMessage", 2)
    assert h.idle()
    question, answer = h.replies("C1")[:2]
    assert answer.params["thread_ts"] == question.response["ts"]


def test_dropped_connection_reconnects_without_lost_or_doubled_answers(socket_bot):
    h, slack = socket_bot
    ev1 = sp.event_callback(sp.app_mention(f"<@UBOT> {QUESTION}", channel="C1"))
    slack.socket.wait_ack(slack.socket.send("events_api", ev1), 5)
    slack.socket.drop_connections()
    slack.socket.wait_connection_count(2, 15)
    slack.socket.wait_connected(10)
    # Slack redelivers the unacked-looking envelope after a reconnect, and a new question arrives
    slack.socket.wait_ack(slack.socket.send("events_api", ev1, retry_attempt=1), 5)
    ev2 = sp.event_callback(sp.app_mention("<@UBOT> Can I install Milvus on Windows?", channel="C2"))
    slack.socket.wait_ack(slack.socket.send("events_api", ev2), 5)
    slack.wait_for("chat.postMessage", 2)
    assert h.idle()
    time.sleep(0.3)
    assert len(h.replies("C1")) == 1 and len(h.replies("C2")) == 1
    assert "Windows" in json.dumps(h.shown(h.replies("C2")[0]))


def test_mass_mentions_never_live_over_socket_mode(socket_bot):
    h, slack = socket_bot
    h.gemini.echo_question = True  # a model that repeats the question: it reaches the reply
    q = "<!channel> <!here> <!everyone> <!subteam^S1|x> <@U999> where does milvus store data? @channel"
    slack.socket.wait_ack(slack.socket.send("events_api", sp.event_callback(sp.app_mention(f"<@UBOT> {q}"))), 5)
    slack.wait_for("chat.postMessage", 1)
    assert h.idle()
    for call in slack.calls:
        if call.method.startswith("chat."):
            shown = json.dumps(call.params)
            assert not any(live in shown for live in ("<!channel", "<!here", "<!everyone", "<!subteam", "<@U999"))
    assert ("You asked: &lt;!channel&gt; &lt;!here&gt; &lt;!everyone&gt; &lt;!subteam^S1|x&gt; &lt;@U999&gt; "
            "where does milvus store data? @\u200bchannel") in h.shown(h.replies()[-1])  # echoed, escaped


def test_gemini_down_and_milvus_down_over_socket_mode(socket_bot_threads):
    h, slack = socket_bot_threads
    h.gemini.set_fault("503", times=None)
    t0 = time.monotonic()
    slack.socket.send("events_api", sp.event_callback(sp.app_mention(f"<@UBOT> {QUESTION}", channel="C1")))
    slack.wait_for("chat.postMessage", 1, timeout=15)
    assert h.idle(15) and time.monotonic() - t0 < 15
    assert "MinIO" in h.shown(h.replies("C1")[0]) and "AI answer unavailable" in h.shown(h.replies("C1")[0])
    h.gemini.clear_faults()

    from rag_core.store import StoreUnavailable

    def down(*a, **k):
        raise StoreUnavailable("Milvus at MILVUS_URI=x is not answering")

    real, h.pipeline.store.search_bm25 = h.pipeline.store.search_bm25, down
    slack.socket.send("events_api", sp.event_callback(sp.app_mention(f"<@UBOT> {QUESTION}", channel="C2")))
    slack.wait_for("chat.postMessage", 1, pred=lambda c: c.params.get("channel") == "C2")
    assert h.idle()
    assert "couldn't search the Milvus docs" in h.replies("C2")[0].params["text"]
    h.pipeline.store.search_bm25 = real
    slack.socket.send("events_api", sp.event_callback(sp.app_mention(f"<@UBOT> {QUESTION}", channel="C3")))
    slack.wait_for("chat.postMessage", 1, pred=lambda c: c.params.get("channel") == "C3")
    assert h.idle()
    assert "milvus.io/docs" in h.shown(h.replies("C3")[0])
