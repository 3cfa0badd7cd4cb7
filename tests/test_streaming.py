"""Slack's native streaming (chat.startStream → appendStream → stopStream), over the fake Slack that
enforces Slack's streaming rules, and the fall-back to post + update when Slack refuses or drops a stream."""

import json

import pytest

from testkit.bot_harness import BotHarness, wait_until
from testkit.fakes import slack_payloads as sp

QUESTION = "How is data stored in milvus?"
DOC_PHRASE = "Milvus deals with two types of data"


@pytest.fixture
def streaming(tmp_path, slack, fake_gemini, faq_folder):
    h = BotHarness(tmp_path, slack, fake_gemini, FAQBOT_DOCS_SOURCE=str(faq_folder), FAQBOT_STREAMING="native",
                   FAQBOT_RATE_LIMIT="0", FAQBOT_DOCS_VERSIONS="v2.4.x").start()
    try:
        yield h
    finally:
        h.stop()


def _bot_messages(slack, channel, thread_ts):
    return [m for m in slack.thread(channel, thread_ts) if m["ts"] != thread_ts]


def _shown(msg) -> str:
    return json.dumps({"text": msg.get("text"), "blocks": msg.get("blocks")}, ensure_ascii=False)


def test_a_mention_is_streamed_and_ends_as_one_message_with_sources_and_feedback(streaming, slack, fake_gemini):
    ev = sp.app_mention(f"<@UBOT> {QUESTION}", channel="C1", user="U1")
    assert streaming.post_event(ev)[0] == 200
    assert streaming.idle(30)
    [start] = slack.calls_to("chat.startStream")
    assert start.ok and start.params["thread_ts"] == ev["ts"]
    assert (start.params["recipient_user_id"], start.params["recipient_team_id"]) == ("U1", "T1")  # a channel
    tasks = [c["title"] for c in start.params["chunks"] if c["type"] == "task_update"]
    assert tasks == ["Searching the Milvus v2.4.x docs", "Writing the answer"]
    assert [c.ok for c in slack.calls_to("chat.stopStream")] == [True]
    assert not slack.calls_to("chat.postMessage") and not slack.calls_to("chat.update")
    [reply] = _bot_messages(slack, "C1", ev["ts"])
    assert reply["ts"] == start.response["ts"] == streaming.store.job(1).reply_ts
    shown = _shown(reply)
    assert DOC_PHRASE in reply["text"]  # Gemini's streamed words are the message text
    assert "https://milvus.io/docs/v2.4.x/" in shown and "feedback_buttons" in shown
    assert reply["metadata"]["event_payload"]["job_id"] == "1"  # stopStream carries the job id
    stream = slack.stream("C1", reply["ts"])
    assert stream["state"] == "stopped"
    assert reply["text"].strip()  # the streamed answer text is the message text


def test_streaming_refused_ends_the_same_way_through_post_and_update(streaming, slack):
    slack.fail("chat.startStream", "channel_type_not_supported")
    ev = sp.app_mention(f"<@UBOT> {QUESTION}", channel="C2", user="U1")
    assert streaming.post_event(ev)[0] == 200
    assert streaming.idle(30)
    assert [c.ok for c in slack.calls_to("chat.startStream")] == [False]
    [reply] = _bot_messages(slack, "C2", ev["ts"])
    assert len([c for c in slack.calls_to("chat.postMessage") if c.ok]) == 1
    shown = _shown(reply)
    assert reply.get("blocks") and "https://milvus.io/docs/v2.4.x/" in shown and "feedback_buttons" in shown


def test_a_stream_slack_drops_mid_answer_is_finished_by_editing_the_same_message(streaming, slack):
    slack.expire_streams(after_appends=1)  # like Slack closing a long stream: message_not_in_streaming_state
    ev = sp.app_mention(f"<@UBOT> {QUESTION}", channel="C3", user="U1")
    assert streaming.post_event(ev)[0] == 200
    assert streaming.idle(30)
    [reply] = _bot_messages(slack, "C3", ev["ts"])
    assert not [c for c in slack.calls_to("chat.postMessage") if c.ok]  # never a second message
    assert [c.params["ts"] for c in slack.calls_to("chat.update") if c.ok][-1] == reply["ts"]
    assert "https://milvus.io/docs/v2.4.x/" in _shown(reply) and reply.get("blocks")


def test_a_gemini_failure_mid_stream_ends_with_the_extractive_answer_and_the_note(streaming, slack, fake_gemini):
    fake_gemini.set_fault("malformed", on="generate")  # the first words arrive, then the stream breaks
    ev = sp.app_mention(f"<@UBOT> {QUESTION}", channel="C4", user="U1")
    assert streaming.post_event(ev)[0] == 200
    assert streaming.idle(30)
    [reply] = _bot_messages(slack, "C4", ev["ts"])
    shown = _shown(reply)
    assert DOC_PHRASE in shown and "AI answer unavailable" in shown  # the passage and the note
    assert slack.stream("C4", reply["ts"])["state"] == "stopped"
    assert not [c for c in slack.calls_to("chat.postMessage") if c.ok]


def test_a_dm_streams_without_recipients(streaming, slack):
    ev = sp.message_im(QUESTION, channel="D1", user="U1") if hasattr(sp, "message_im") else dict(
        sp.app_mention(QUESTION, channel="D1", user="U1"), type="message", channel_type="im")
    assert streaming.post_event(ev)[0] == 200
    assert streaming.idle(30)
    wait_until(lambda: slack.calls_to("chat.stopStream"), 5)
    [start] = slack.calls_to("chat.startStream")
    assert start.ok and start.params["channel"] == "D1"
