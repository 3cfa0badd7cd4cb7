"""The real Bolt app in HTTP mode, driven by signed requests, against fake Slack + fake Gemini."""

import json
from pathlib import Path
import time

import pytest

from testkit.bot_harness import wait_until, SECRET, BotHarness, all_text
from testkit.fakes import slack_payloads as sp

QUESTION = "How is data stored in milvus?"


@pytest.fixture
def harness(tmp_path, slack, fake_gemini):
    h = BotHarness(tmp_path, slack, fake_gemini).start()
    yield h
    h.stop()


@pytest.fixture
def keyless(tmp_path, slack):
    h = BotHarness(tmp_path, slack, FAQBOT_SUPPORT_CHANNELS="CSUP", FAQBOT_ESCALATION="S0HELP").start()
    yield h
    h.stop()


def test_mention_gets_exactly_one_threaded_answer_despite_retries_and_twin(harness, slack):
    event = sp.app_mention(f"<@UBOT> {QUESTION}", channel="C1")
    status, envelope = harness.post_event(event)
    assert status == 200
    slack.wait_for("chat.postMessage", 1)
    # Slack's redeliveries and the twin `message` event
    for n in (1, 2, 3):
        status, _ = harness.post_event(event, event_id=envelope["event_id"], retry_num=n)
        assert status == 200
    twin = sp.message(event["text"], channel="C1", ts=event["ts"])
    assert harness.post_event(twin)[0] == 200
    assert harness.idle()
    time.sleep(0.3)
    posts = harness.replies("C1")
    assert len(posts) == 1
    post = posts[0]
    assert post.params["thread_ts"] == event["ts"]
    final = harness.shown(post)
    assert "https://milvus.io/docs/v2.4.x/" in final and "[1]" in final
    assert "Sources (Milvus v2.4.x docs)" in final
    assert all("link_names" not in c.params for c in slack.calls)
    # progress: 👀 added then removed
    assert slack.calls_to("reactions.add")[0].params["timestamp"] == event["ts"]
    assert slack.calls_to("reactions.remove")


def test_mention_inside_a_thread_uses_thread_history(harness, slack):
    parent_ts = sp.next_ts()
    slack.seed_thread("C1", parent_ts, [
        {"user": "U2", "text": "We run Milvus on Kubernetes.", "ts": parent_ts},
    ])
    event = sp.app_mention(f"<@UBOT> {QUESTION}", channel="C1", thread_ts=parent_ts)
    harness.post_event(event)
    slack.wait_for("chat.postMessage", 1)
    assert harness.idle()
    assert slack.calls_to("conversations.replies")
    prompt = [r for r in harness.gemini.requests if r["action"] in ("generateContent", "streamGenerateContent")]
    text = json.dumps(prompt[-1]["json"])
    assert "We run Milvus on Kubernetes." in text
    assert harness.replies("C1")[0].params["thread_ts"] == parent_ts


def test_slash_command_acks_fast_and_answers_in_a_thread(harness, slack):
    status, body, elapsed, payload = harness.post_command(QUESTION, channel_id="C1")
    assert status == 200 and elapsed < 1.0
    slack.wait_for("chat.postMessage", 2)
    assert harness.idle()
    question, answer = harness.replies("C1")[:2]
    assert QUESTION in question.params["text"] and "thread_ts" not in question.params
    assert answer.params["thread_ts"] == question.response["ts"]
    assert "milvus.io/docs" in harness.shown(answer)


def test_slash_command_help_is_ephemeral_usage(harness, slack):
    for text in ("", "help"):
        status, body, _, _ = harness.post_command(text)
        assert status == 200
        data = json.loads(body)
        assert data["response_type"] == "ephemeral" and "/milvus" in json.dumps(data)
    assert not harness.replies()


def test_slash_command_outside_member_channels_uses_response_url(harness, slack):
    slack.add_channel("CNOPE", members_include_bot=False)
    url = slack.new_response_url()
    harness.post_command(QUESTION, channel_id="CNOPE", response_url=url)
    slack.wait_for("response_url", 1)
    assert harness.idle()
    sent = slack.calls_to("response_url")[-1].params
    assert sent["response_type"] == "in_channel" and "milvus.io/docs" in json.dumps(sent)


@pytest.mark.parametrize("tamper", ["bad_signature", "stale", "unsigned"])
def test_bad_signatures_get_401_and_no_reply(harness, slack, tamper):
    envelope = sp.event_callback(sp.app_mention(f"<@UBOT> {QUESTION}"))
    body = json.dumps(envelope).encode()
    if tamper == "unsigned":
        import urllib.error
        import urllib.request

        req = urllib.request.Request(harness.url, data=body, headers={"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=5)
        status = err.value.code
    else:
        kw = {"bad_signature": True} if tamper == "bad_signature" else {"timestamp": int(time.time()) - 360}
        status, _, _ = sp.post_signed(harness.url, body, "application/json", SECRET, **kw)
    assert status == 401
    time.sleep(0.5)
    assert not harness.replies()


def test_mass_mentions_in_the_question_are_never_live(harness, slack, fake_gemini):
    fake_gemini.echo_question = True  # a model that repeats the question: it reaches the reply
    q = "<!channel> <!here> <!everyone> <!subteam^S1|x> <@U999> how is data stored in milvus? @channel"
    harness.post_event(sp.app_mention(f"<@UBOT> {q}"))
    slack.wait_for("chat.postMessage", 1)
    assert harness.idle()
    for call in slack.calls:
        if call.method.startswith("chat."):
            shown = all_text(call)
            for live in ("<!channel", "<!here", "<!everyone", "<!subteam", "<@U999"):
                assert live not in shown, (live, call.method, shown[:300])
    final = harness.shown(harness.replies()[-1])
    assert ("You asked: &lt;!channel&gt; &lt;!here&gt; &lt;!everyone&gt; &lt;!subteam^S1|x&gt; &lt;@U999&gt; "
            "how is data stored in milvus? @\u200bchannel") in final  # echoed, and escaped
    assert "Milvus deals with two types of data" in final


def test_gemini_down_still_answers_extractively(tmp_path, slack, fake_gemini):
    h = BotHarness(tmp_path, slack, fake_gemini).start()
    try:
        fake_gemini.set_fault("503", times=None)  # embeddings and answers both fail
        t0 = time.monotonic()
        h.post_event(sp.app_mention(f"<@UBOT> {QUESTION}"))
        slack.wait_for("chat.postMessage", 1, timeout=15)
        assert h.idle(15)
        assert time.monotonic() - t0 < 15
        text = h.shown(h.replies()[-1])
        assert "MinIO" in text and "milvus.io/docs" in text and "AI answer unavailable" in text
    finally:
        h.stop()


def test_milvus_down_gets_an_apology_and_the_bot_keeps_serving(keyless, slack):
    real = keyless.pipeline.store.search_bm25

    def broken(*a, **k):
        from rag_core.store import StoreUnavailable

        raise StoreUnavailable("Milvus at MILVUS_URI=x is not answering")

    keyless.pipeline.store.search_bm25 = broken
    keyless.post_event(sp.app_mention(f"<@UBOT> {QUESTION}"))
    slack.wait_for("chat.postMessage", 1)
    assert keyless.idle()
    assert "couldn't search the Milvus docs" in keyless.replies()[-1].params["text"]
    keyless.pipeline.store.search_bm25 = real
    keyless.post_event(sp.app_mention(f"<@UBOT> {QUESTION}"))
    slack.wait_for("chat.postMessage", 2)
    assert keyless.idle()
    assert "MinIO" in all_text(keyless.replies()[-1])


def test_support_channel_answers_confident_questions_only(keyless, slack):
    keyless.post_event(sp.message("Where does Milvus store data?", channel="CSUP"))
    keyless.post_event(sp.message("lunch at noon today, anyone?", channel="CSUP"))
    keyless.post_event(sp.message("How do I bake sourdough bread at home?", channel="CSUP"))
    keyless.post_event(sp.message("Where does Milvus store data?", channel="COTHER"))  # not a support channel
    assert keyless.idle()
    time.sleep(0.3)
    posts = keyless.replies()
    assert len(posts) == 1 and posts[0].params["channel"] == "CSUP"
    assert "MinIO" in all_text(posts[0])


def test_ignores_bots_edits_joins_and_itself(keyless, slack):
    keyless.post_event(sp.message("Where does Milvus store data?", channel="CSUP", bot_id="B2"))
    keyless.post_event(sp.message("Where does Milvus store data?", channel="CSUP", subtype="message_changed"))
    keyless.post_event(sp.message("joined", channel="CSUP", subtype="channel_join"))
    keyless.post_event(sp.message("Where does Milvus store data?", channel="D1", user="UBOT", channel_type="im"))
    assert keyless.idle()
    time.sleep(0.3)
    assert not keyless.replies()


def test_dm_is_answered(keyless, slack):
    keyless.post_event(sp.message("Can I install Milvus on Windows?", channel="D1", channel_type="im"))
    slack.wait_for("chat.postMessage", 1)
    assert keyless.idle()
    assert "Windows" in all_text(keyless.replies("D1")[0])


def test_empty_mention_gets_usage(keyless, slack):
    keyless.post_event(sp.app_mention("<@UBOT>   "))
    slack.wait_for("chat.postMessage", 1)
    assert "/milvus" in all_text(keyless.replies()[0])


def test_feedback_and_escalation(keyless, slack):
    ev = sp.app_mention(f"<@UBOT> {QUESTION}")
    keyless.post_event(ev)
    slack.wait_for("chat.postMessage", 1)
    assert keyless.idle()
    answer = keyless.replies()[0]
    shown = slack.message(answer.params["channel"], answer.response["ts"])
    native = [e for b in shown["blocks"] if b["type"] == "context_actions" for e in b["elements"]]
    assert [e["type"] for e in native] == ["feedback_buttons"]  # Slack's own 👍/👎
    escalate = [e for b in shown["blocks"] if b["type"] == "actions" for e in b["elements"]]
    answer_id = escalate[0]["value"]
    assert keyless.post_interaction(sp.feedback_click(shown, positive=False, channel="C1", user="U1")) == 200
    assert keyless.post_interaction(sp.feedback_click(shown, positive=True, channel="C1", user="U1")) == 200
    assert keyless.post_interaction(sp.feedback_click(shown, positive=False, channel="C1", user="U2")) == 200
    status, _ = keyless.post_action("escalate", answer_id, channel="C1", message_ts=answer.response["ts"],
                                    thread_ts=ev["ts"])
    assert status == 200
    slack.wait_for("chat.postMessage", 2)
    votes = {(f["answer_id"], f["user"]): f["value"] for f in keyless.store.feedback()}
    assert votes == {(answer_id, "U1"): "up", (answer_id, "U2"): "down"}  # a second click changes the vote
    esc = keyless.replies()[-1]
    assert "<!subteam^S0HELP>" in esc.params["text"] and esc.params["thread_ts"] == ev["ts"]


def test_healthz_reports_queue(keyless):
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{keyless.port}/healthz", timeout=5) as resp:
        data = json.loads(resp.read())
    assert resp.status == 200 and data["status"] == "ok"
    assert {"queue_depth", "in_flight"} <= set(data)


def test_messages_tab_greets_once_offers_prompts_and_answers_dms(keyless, slack):
    """Slack's agent messaging: app_home_opened (tab messages) → suggested prompts each time, a greeting once."""
    for _ in range(2):
        assert keyless.post_event(sp.app_home_opened(user="U1", channel="D9", tab="messages"))[0] == 200
    prompts = slack.wait_for("assistant.threads.setSuggestedPrompts", 2)
    assert all(p.ok and p.params["channel_id"] == "D9" and "thread_ts" not in p.params for p in prompts)
    assert len(prompts[0].params["prompts"]) >= 2
    keyless.idle()
    greetings = [c for c in keyless.replies("D9")]
    assert len(greetings) == 1 and "Milvus" in greetings[0].params["text"]  # once per person

    question = sp.message("Can I install Milvus on Windows?", channel="D9", channel_type="im")
    keyless.post_event(question)
    slack.wait_for("chat.postMessage", 2)
    assert keyless.idle()
    answer = keyless.replies("D9")[-1]
    assert answer.params["thread_ts"] == question["ts"] and "Windows" in keyless.shown(answer)


def test_home_tab_shows_how_to_ask_and_the_indexed_versions(keyless, slack):
    wait_until(lambda: keyless.store.meta("docs_versions"), 10)  # the worker publishes them once warmed up
    assert keyless.post_event(sp.app_home_opened(user="U1", channel="D9", tab="home"))[0] == 200
    published = slack.wait_for("views.publish", 1)[0]
    assert published.ok and published.params["user_id"] == "U1"
    view = json.dumps(slack.home_view("U1"), ensure_ascii=False)
    assert "/milvus" in view and "v2.4.x" in view  # how to ask; the docs version the worker published


def test_the_manifest_is_an_agent_view_app_with_home_and_messages_tabs():
    import yaml

    from testkit.manifest_check import check_agent_setup, check_agent_view

    manifest = yaml.safe_load((Path(__file__).resolve().parents[1] / "manifest.yml").read_text())
    assert check_agent_view(manifest) == [] and check_agent_setup(manifest) == []
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    assert "app_home_opened" in manifest["settings"]["event_subscriptions"]["bot_events"]


def test_hung_gemini_still_gets_an_answer_within_15_s_with_default_timeouts(tmp_path, slack, fake_gemini):
    h = BotHarness(tmp_path, slack, fake_gemini, GEMINI_TIMEOUT="10").start()  # the shipped default
    try:
        fake_gemini.set_fault("hang", times=None, delay=60)  # query embedding and answer both hang
        t0 = time.monotonic()
        h.post_event(sp.app_mention(f"<@UBOT> {QUESTION}"))
        slack.wait_for("chat.postMessage", 1, timeout=15)
        assert h.idle(15)
        final = h.replies()[-1]
        assert time.monotonic() - t0 < 15
        assert "MinIO" in h.shown(final) and "timed out" in h.shown(final)
    finally:
        fake_gemini.clear_faults()
        h.stop()
