"""Prove the Slack fakes against the real slack_sdk clients."""

from __future__ import annotations

import json
import threading
import time

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.socket_mode.builtin import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.webhook import WebhookClient

from testkit.fakes import slack_payloads as sp
from testkit.fakes.slack_api import FakeSlack
from testkit.manifest_check import check_agent_setup, check_agent_view


@pytest.fixture()
def fake():
    with FakeSlack() as f:
        yield f


@pytest.fixture()
def client(fake):
    return WebClient(token=fake.bot_token, base_url=fake.api_url)


def test_auth_test_and_invalid_token(fake, client):
    r = client.auth_test()
    assert r["user_id"] == "UBOT" and r["bot_id"] == "BBOT" and r["team_id"] == "T1"
    assert fake.calls_to("auth.test")[0].headers["authorization"] == f"Bearer {fake.bot_token}"

    with pytest.raises(SlackApiError) as ei:
        WebClient(token="xoxb-wrong", base_url=fake.api_url).auth_test()
    assert ei.value.response["error"] == "invalid_auth"
    with pytest.raises(SlackApiError) as ei:
        WebClient(base_url=fake.api_url).auth_test()
    assert ei.value.response["error"] == "not_authed"
    # the bot token can't open socket connections
    with pytest.raises(SlackApiError) as ei:
        client.apps_connections_open(app_token=fake.bot_token)
    assert ei.value.response["error"] == "not_allowed_token_type"
    with pytest.raises(SlackApiError) as ei:
        client.api_call("chat.nope")
    assert ei.value.response["error"] == "unknown_method"


def test_post_update_replies(fake, client):
    parent = sp.app_mention("<@UBOT> how do I create an index?")
    fake.add_message("C1", {k: parent[k] for k in ("user", "text", "ts")})
    r = client.chat_postMessage(channel="C1", thread_ts=parent["ts"], text="thinking…",
                                blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "*hi*"}}])
    assert r["ok"] and r["channel"] == "C1" and r["message"]["thread_ts"] == parent["ts"]
    ts = r["ts"]
    r2 = client.chat_postMessage(channel="C1", thread_ts=parent["ts"], text="second")
    assert float(r2["ts"]) > float(ts)

    client.chat_update(channel="C1", ts=ts, text="final answer", blocks=[])
    replies = client.conversations_replies(channel="C1", ts=parent["ts"])
    texts = [m["text"] for m in replies["messages"]]
    assert texts == [parent["text"], "final answer", "second"]
    assert replies["messages"][0]["reply_count"] == 2 and replies["has_more"] is False
    assert "edited" in replies["messages"][1]

    call = fake.calls_to("chat.postMessage")[0]
    assert call.params["blocks"][0]["type"] == "section"  # decoded JSON
    assert call.headers["content-type"].startswith("application/json")

    with pytest.raises(SlackApiError) as ei:
        client.chat_update(channel="C1", ts="1600000000.000001", text="x")
    assert ei.value.response["error"] == "message_not_found"
    with pytest.raises(SlackApiError) as ei:
        client.chat_update(channel="C1", ts=parent["ts"], text="edit a user's message")
    assert ei.value.response["error"] == "cant_update_message"
    with pytest.raises(SlackApiError) as ei:
        client.conversations_replies(channel="C1", ts="1600000000.000002")
    assert ei.value.response["error"] == "thread_not_found"
    with pytest.raises(SlackApiError) as ei, pytest.warns(UserWarning):
        client.chat_postMessage(channel="C1")
    assert ei.value.response["error"] == "no_text"

    fake.seed_thread("C9", "1700000000.000001", [{"user": "U1", "text": "q"}, {"user": "U2", "text": "a"}])
    seeded = client.conversations_replies(channel="C9", ts="1700000000.000001", limit=1)
    assert [m["text"] for m in seeded["messages"]] == ["q"] and seeded["has_more"] is True
    rest = client.conversations_replies(channel="C9", ts="1700000000.000001",
                                        cursor=seeded["response_metadata"]["next_cursor"])
    assert [m["text"] for m in rest["messages"]] == ["a"]
    with pytest.raises(SlackApiError) as ei:
        client.chat_postMessage(channel="C1", text="x" * 40001)
    assert ei.value.response["error"] == "msg_too_long"


def test_form_encoded_blocks_are_decoded(fake, client):
    # api_call(data=...) sends application/x-www-form-urlencoded with blocks as a JSON string
    blocks = [{"type": "section", "text": {"type": "plain_text", "text": "form"}}]
    client.api_call("chat.postMessage", params={"channel": "C1", "text": "form", "blocks": json.dumps(blocks)})
    call = fake.calls_to("chat.postMessage")[0]
    assert call.headers["content-type"] == "application/x-www-form-urlencoded"
    assert call.params["blocks"] == blocks and call.ok


def test_not_in_channel_and_reactions(fake, client):
    fake.add_channel("C2", members_include_bot=False)
    with pytest.raises(SlackApiError) as ei:
        client.chat_postMessage(channel="C2", text="hi")
    assert ei.value.response["error"] == "not_in_channel"

    ev = sp.app_mention("<@UBOT> hi")
    client.reactions_add(channel="C1", timestamp=ev["ts"], name="eyes")
    with pytest.raises(SlackApiError) as ei:
        client.reactions_add(channel="C1", timestamp=ev["ts"], name="eyes")
    assert ei.value.response["error"] == "already_reacted"
    with pytest.raises(SlackApiError) as ei:
        client.reactions_add(channel="C1", timestamp=ev["ts"], name=":eyes:")
    assert ei.value.response["error"] == "invalid_name"
    assert fake.reactions("C1", ev["ts"]) == ["eyes"]
    client.reactions_remove(channel="C1", timestamp=ev["ts"], name="eyes")
    with pytest.raises(SlackApiError) as ei:
        client.reactions_remove(channel="C1", timestamp=ev["ts"], name="eyes")
    assert ei.value.response["error"] == "no_reaction"


def test_ratelimited_then_retry_succeeds(fake, client):
    fake.fail("chat.postMessage", "ratelimited", times=1, retry_after=1)
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=2))
    t0 = time.monotonic()
    r = client.chat_postMessage(channel="C1", text="hello")
    assert r["ok"]
    assert time.monotonic() - t0 >= 1.0
    calls = fake.calls_to("chat.postMessage")
    assert [c.status for c in calls] == [429, 200]
    assert calls[0].response == {"ok": False, "error": "ratelimited"}


def test_ratelimited_without_retry_handler_and_500(fake, client):
    fake.fail("chat.postMessage", "ratelimited", retry_after=7)
    with pytest.raises(SlackApiError) as ei:
        client.chat_postMessage(channel="C1", text="hello")
    assert ei.value.response.status_code == 429
    assert ei.value.response.headers["Retry-After"] == "7"
    assert ei.value.response["error"] == "ratelimited"

    fake.fail("chat.update", "internal_error", times=None)
    with pytest.raises(SlackApiError) as ei:
        client.chat_update(channel="C1", ts="1700000000.000100", text="x")
    assert ei.value.response.status_code == 500 and ei.value.response["error"] == "internal_error"
    fake.clear_failures("chat.update")


def test_invalid_blocks(fake, client):
    with pytest.raises(SlackApiError) as ei:
        client.chat_postMessage(channel="C1", text="fallback",
                                blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}])
    resp = ei.value.response
    assert resp["error"] == "invalid_blocks"
    assert resp["response_metadata"]["messages"] == [
        "[ERROR] must be less than 3001 characters [json-pointer:/blocks/0/text/text]"]
    for bad in (
        [{"type": "divider"}] * 51,
        [{"type": "markdown", "text": "a" * 7000}, {"type": "markdown", "text": "b" * 7000}],
        [{"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * 11}],
        [{"type": "actions", "elements": [{"type": "button", "action_id": "a",
                                           "text": {"type": "plain_text", "text": "t" * 76}}]}],
        [{"type": "bogus"}],
    ):
        with pytest.raises(SlackApiError) as ei:
            client.chat_postMessage(channel="C1", text="t", blocks=bad)
        assert ei.value.response["error"] == "invalid_blocks", bad
    client.chat_postMessage(channel="C1", text="t", blocks=[{"type": "markdown", "text": "a" * 12000}])


def test_streaming(fake, client):
    thread = sp.app_mention("<@UBOT> stream please")
    start = client.chat_startStream(channel="C1", thread_ts=thread["ts"], recipient_team_id="T1",
                                    recipient_user_id="U1", markdown_text="Hel")
    ts = start["ts"]
    client.chat_appendStream(channel="C1", ts=ts, markdown_text="lo ")
    client.chat_appendStream(channel="C1", ts=ts, chunks=[{"type": "markdown_text", "text": "world"}])
    stop = client.chat_stopStream(channel="C1", ts=ts, blocks=[{"type": "context", "elements": [
        {"type": "mrkdwn", "text": "sources"}]}])
    assert stop["message"]["text"] == "Hello world"
    assert fake.message("C1", ts)["blocks"][0]["type"] == "context"
    params = fake.calls_to("chat.startStream")[0].params
    assert params["recipient_user_id"] == "U1" and params["thread_ts"] == thread["ts"]
    with pytest.raises(SlackApiError) as ei:
        client.chat_appendStream(channel="C1", ts=ts, markdown_text="late")
    assert ei.value.response["error"] == "message_not_in_streaming_state"
    with pytest.raises(SlackApiError) as ei:
        client.chat_appendStream(channel="C1", ts="1600000000.000009", markdown_text="x")
    assert ei.value.response["error"] == "message_not_in_streaming_state"

    # the sdk helper (buffers; sends chunks)
    streamer = client.chat_stream(channel="C1", thread_ts=thread["ts"], recipient_team_id="T1",
                                  recipient_user_id="U1", buffer_size=5)
    streamer.append(markdown_text="abc")
    streamer.append(markdown_text="defgh")
    streamer.stop(markdown_text="!")
    assert fake.message("C1", streamer.ts)["text"] == "abcdefgh!"
    assert fake.streams[("C1", streamer.ts)]["state"] == "stopped"


def test_assistant_and_misc_methods(fake, client):
    ev = sp.assistant_thread_started()
    tts = ev["assistant_thread"]["thread_ts"]
    client.assistant_threads_setStatus(channel_id="D1", thread_ts=tts, status="is thinking…")
    client.assistant_threads_setSuggestedPrompts(channel_id="D1", thread_ts=tts,
                                                 prompts=[{"title": "Index?", "message": "What index?"}])
    client.assistant_threads_setTitle(channel_id="D1", thread_ts=tts, title="Indexes")
    assert fake.assistant_threads[("D1", tts)]["title"] == "Indexes"
    with pytest.raises(SlackApiError):
        client.assistant_threads_setSuggestedPrompts(channel_id="D1", thread_ts=tts, prompts=[])
    assert client.users_info(user="U1")["user"]["id"] == "U1"
    assert client.conversations_info(channel="C1")["channel"]["id"] == "C1"
    assert client.chat_postEphemeral(channel="C1", user="U1", text="psst")["message_ts"]


def test_response_url_and_latency(fake):
    url = fake.new_response_url()
    fake.set_latency("response_url", 0.2)
    t0 = time.monotonic()
    r = WebhookClient(url).send(text="ok!", response_type="ephemeral")
    assert r.status_code == 200 and time.monotonic() - t0 >= 0.2
    call = fake.wait_for("response_url")[0]
    assert call.params["text"] == "ok!" and call.params["response_type"] == "ephemeral"
    with pytest.raises(AssertionError, match="expected >= 2"):
        fake.wait_for("response_url", count=2, timeout=0.2)


def _close_quickly(sm: SocketModeClient, fake: FakeSlack) -> None:
    # SocketModeClient.close() joins its reader thread, which sits in recv() with a
    # 3 s socket timeout; closing the server side first lets it return at once.
    sm.auto_reconnect_enabled = sm.default_auto_reconnect_enabled = False
    fake.socket.drop_connections()
    sm.close()


def test_socket_mode_with_real_client(fake):
    # apps.connections.open is called with the app token (passed explicitly by the
    # socket client); the WebClient only needs base_url.
    web = WebClient(base_url=fake.api_url)
    sm = SocketModeClient(app_token=fake.app_token, web_client=web, ping_interval=1)
    received: list[SocketModeRequest] = []

    def listener(client: SocketModeClient, req: SocketModeRequest) -> None:
        received.append(req)
        payload = {"text": "pong"} if req.type == "slash_commands" else None
        client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id, payload=payload))

    sm.socket_mode_request_listeners.append(listener)
    try:
        sm.connect()
        fake.socket.wait_connected()
        assert fake.calls_to("apps.connections.open")[0].headers["authorization"] == f"Bearer {fake.app_token}"

        env = sp.event_callback(sp.app_mention("<@UBOT> hi"))
        eid = fake.socket.send("events_api", env)
        assert fake.socket.wait_ack(eid) == {"envelope_id": eid}
        assert received[0].type == "events_api" and received[0].payload["event"]["type"] == "app_mention"
        assert received[0].retry_attempt == 0

        eid = fake.socket.send("slash_commands", sp.slash_command("what is milvus"))
        assert fake.socket.wait_ack(eid)["payload"] == {"text": "pong"}

        fake.socket.drop_connections()
        fake.socket.wait_connection_count(2, timeout=10)
        eid = fake.socket.send("events_api", sp.event_callback(sp.app_mention("<@UBOT> again")),
                               retry_attempt=1, retry_reason="timeout")
        assert fake.socket.wait_ack(eid, timeout=5)["envelope_id"] == eid
        assert received[-1].retry_attempt == 1 and received[-1].retry_reason == "timeout"

        fake.socket.send_disconnect("refresh_requested")
        fake.socket.wait_connection_count(3, timeout=10)
        eid = fake.socket.send("interactive", sp.block_actions("feedback_up", "1"))
        assert fake.socket.wait_ack(eid)["envelope_id"] == eid
        assert len(fake.calls_to("apps.connections.open")) == 3
    finally:
        _close_quickly(sm, fake)


def test_socket_mode_spreads_envelopes_over_connections_and_redelivers_unacknowledged_ones(fake):
    """Like Slack with several replicas connected: each envelope goes to ONE connection, at random;
    one not acknowledged within `redeliver_after` goes again to another, with retry_attempt + 1."""
    fake.socket.redeliver_after = 0.3
    received = {1: [], 2: []}
    mute = threading.Event()  # the second client stops acknowledging (a hung replica)
    clients = []
    for n in (1, 2):
        sm = SocketModeClient(app_token=fake.app_token, web_client=WebClient(base_url=fake.api_url), ping_interval=1)

        def listener(client, req, n=n):
            received[n].append(req)
            if not (n == 2 and mute.is_set()):
                client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))

        sm.socket_mode_request_listeners.append(listener)
        sm.connect()
        fake.socket.wait_connection_count(n)
        clients.append(sm)
    try:
        eids = [fake.socket.send("events_api", sp.event_callback(sp.app_mention(f"<@UBOT> q{i}"))) for i in range(20)]
        for eid in eids:
            fake.socket.wait_ack(eid)
        assert sorted(set(fake.socket.delivered_to[e] for e in eids)) == [1, 2]
        assert len(received[1]) + len(received[2]) == 20 and not fake.socket.redelivered
        assert {fake.socket.acked_on[e] for e in eids} == {1, 2}

        mute.set()
        eids = [fake.socket.send("events_api", sp.event_callback(sp.app_mention(f"<@UBOT> r{i}"))) for i in range(10)]
        to_mute = [e for e in eids if fake.socket.delivered_to[e] == 2]
        assert to_mute
        deadline = time.monotonic() + 5
        while len(fake.socket.redelivered) < len(to_mute) and time.monotonic() < deadline:
            time.sleep(0.05)
        retries = fake.socket.redelivered
        assert len(retries) == len(to_mute)
        for retry in retries:
            assert retry["retry_attempt"] == 1 and retry["retry_reason"] == "timeout"
            assert fake.socket.delivered_to[retry["envelope_id"]] == 1
            assert fake.socket.wait_ack(retry["envelope_id"])
        event_ids = {r.payload["event_id"] for r in received[1] if r.retry_attempt == 1}
        assert event_ids == {r["payload"]["event_id"] for r in retries}
    finally:
        for sm in clients:
            sm.auto_reconnect_enabled = sm.default_auto_reconnect_enabled = False
        fake.socket.drop_connections()
        for sm in clients:
            sm.close()


def test_a_held_call_takes_effect_before_it_answers(fake, client):
    """hold(): Slack stores the message, the client hears nothing until release()."""
    fake.hold("chat.postMessage")
    done = []
    poster = threading.Thread(target=lambda: done.append(client.chat_postMessage(channel="C1", text="hi")),
                              daemon=True)
    poster.start()
    fake.wait_for("chat.postMessage", 1, timeout=5)
    assert [m["text"] for m in fake.messages["C1"].values()] == ["hi"]
    time.sleep(0.2)
    assert not done
    fake.release("chat.postMessage")
    poster.join(5)
    assert done and done[0]["ts"] in fake.messages["C1"]
    assert client.chat_postMessage(channel="C1", text="again")["ok"]  # no longer held


def test_signatures_verify_with_sdk_verifier():
    secret = "shhh"
    body = sp.form_body(sp.slash_command("hello world"))
    headers = sp.sign(secret, body)
    v = SignatureVerifier(secret)
    assert v.is_valid_request(body, headers)
    assert not SignatureVerifier("other").is_valid_request(body, headers)
    assert not v.is_valid_request(body, sp.sign(secret, body, timestamp=int(time.time()) - 3600))

    # post_signed over the wire, checked by a tiny server using the verifier
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    seen = {}

    class H(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_POST(self):
            raw = self.rfile.read(int(self.headers["Content-Length"]))
            ok = v.is_valid_request(raw, dict(self.headers))
            seen["retry"] = self.headers.get("X-Slack-Retry-Num")
            self.send_response(200 if ok else 401)
            self.end_headers()

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{srv.server_address[1]}/slack/events"
        ev = json.dumps(sp.event_callback(sp.message("hi", channel_type="im", channel="D1"))).encode()
        status, _, _ = sp.post_signed(url, ev, "application/json", secret, retry_num=1)
        assert status == 200 and seen["retry"] == "1"
        status, _, _ = sp.post_signed(url, ev, "application/json", secret, bad_signature=True)
        assert status == 401
    finally:
        srv.shutdown()
        srv.server_close()


def test_payload_shapes():
    ev = sp.app_mention("<@UBOT> see <https://milvus.io|docs>", thread_ts="1700000000.000001")
    els = ev["blocks"][0]["elements"][0]["elements"]
    assert els[0] == {"type": "user", "user_id": "UBOT"}
    assert els[-1] == {"type": "link", "url": "https://milvus.io", "text": "docs"}
    a, b = sp.message("x"), sp.message("y")
    assert float(b["ts"]) > float(a["ts"])
    env = sp.event_callback(a)
    assert env["authorizations"][0]["user_id"] == "UBOT" and env["event_id"] != sp.event_callback(a)["event_id"]
    p = sp.block_actions("act", "v", thread_ts="1700000000.000001")
    assert p["container"]["thread_ts"] == "1700000000.000001"
    assert sp.interaction_body(p).startswith(b"payload=")


def _feedback_block(**changes) -> dict:
    el = {"type": "feedback_buttons", "action_id": "feedback",
          "positive_button": {"text": {"type": "plain_text", "text": "👍"}, "value": "good",
                              "accessibility_label": "This answer helped"},
          "negative_button": {"text": {"type": "plain_text", "text": "👎"}, "value": "bad"}}
    el.update(changes)
    return {"type": "context_actions", "block_id": "fb", "elements": [el]}


def test_context_actions_feedback_and_icon_buttons(client):
    trash = {"type": "icon_button", "icon": "trash", "action_id": "delete", "value": "x",
             "text": {"type": "plain_text", "text": "Delete"}, "visible_to_user_ids": ["U1"]}
    ok = [_feedback_block(), {"type": "context_actions", "elements": [trash]}]
    assert client.chat_postMessage(channel="C1", text="answer", blocks=ok)["ok"]

    too_long = {"text": {"type": "plain_text", "text": "y" * 76}, "value": "good"}
    cases = {
        "/blocks/0/elements/0/negative_button": _feedback_block(negative_button=None),
        "/blocks/0/elements/0/positive_button/value": _feedback_block(
            positive_button={"text": {"type": "plain_text", "text": "👍"}}),
        "/blocks/0/elements/0/positive_button/text/text": _feedback_block(positive_button=too_long),
        "/blocks/0/elements/0/positive_button/accessibility_label": _feedback_block(
            positive_button={"text": {"type": "plain_text", "text": "ok"}, "value": "v",
                             "accessibility_label": "a" * 76}),
        "/blocks/0/elements/0/icon": {"type": "context_actions", "elements": [{**trash, "icon": "star"}]},
        "/blocks/0/elements": {"type": "context_actions", "elements": [trash] * 6},
        "/blocks/0/elements/0/type": {"type": "context_actions", "elements": [
            {"type": "button", "text": {"type": "plain_text", "text": "b"}}]},
    }
    for pointer, block in cases.items():
        with pytest.raises(SlackApiError) as ei:
            client.chat_postMessage(channel="C1", text="t", blocks=[block])
        assert ei.value.response["error"] == "invalid_blocks"
        assert any(m.endswith(f"[json-pointer:{pointer}]") for m in ei.value.response["response_metadata"]["messages"]), (
            pointer, ei.value.response["response_metadata"])
    # feedback buttons only live inside a context_actions block
    with pytest.raises(SlackApiError) as ei:
        client.chat_postMessage(channel="C1", text="t", blocks=[
            {"type": "actions", "elements": _feedback_block()["elements"]}])
    assert ei.value.response["response_metadata"]["messages"] == [
        "[ERROR] unsupported type: feedback_buttons [json-pointer:/blocks/0/elements/0/type]"]


def _slack_error(call, *args, **kwargs) -> dict:
    with pytest.raises(SlackApiError) as ei:
        call(*args, **kwargs)
    return ei.value.response


def test_stream_start_rules(fake, client):
    parent = sp.app_mention("<@UBOT> hi")["ts"]
    start = lambda **body: client.api_call("chat.startStream", json={"channel": "C1", **body})  # noqa: E731
    assert _slack_error(start, recipient_user_id="U1", recipient_team_id="T1")["response_metadata"] == {
        "messages": ["[ERROR] missing required field: thread_ts"]}
    assert _slack_error(start, thread_ts=parent, recipient_team_id="T1")["error"] == "missing_recipient_user_id"
    assert _slack_error(start, thread_ts=parent, recipient_user_id="U1")["error"] == "missing_recipient_team_id"
    assert _slack_error(start, thread_ts=parent, recipient_user_id="U1",
                        recipient_team_id={"id": "T1", "domain": "x"})["error"] == "team_not_found"
    assert _slack_error(start, thread_ts=parent, recipient_user_id="nobody",
                        recipient_team_id="T1")["error"] == "user_not_found"
    assert _slack_error(client.chat_startStream, channel="C1", thread_ts=parent, recipient_user_id="U1",
                        recipient_team_id="T1", task_display_mode="cards")["error"] == "invalid_arguments"
    assert _slack_error(client.chat_startStream, channel="C1", thread_ts=parent, recipient_user_id="U1",
                        recipient_team_id="T1", markdown_text="x" * 12001)["error"] == "msg_too_long"
    assert fake.calls_to("chat.startStream")[-1].status == 200 and not fake.streams

    # in the app's DM the recipients may be left out; startStream takes no metadata (ignored, as Slack
    # ignores arguments a method does not have)
    r = client.chat_startStream(channel="D1", thread_ts=parent, task_display_mode="plan",
                                metadata={"event_type": "answer", "event_payload": {"id": "1"}})
    st = fake.stream("D1", r["ts"])
    assert st["ignored_args"] == ["metadata"] and st["task_display_mode"] == "plan"
    assert "metadata" not in fake.message("D1", r["ts"])
    fake.messages_tab_enabled = False
    assert _slack_error(client.chat_startStream, channel="D1", thread_ts=parent)["error"] == "messages_tab_disabled"


def test_stream_chunks_are_checked_and_recorded(fake, client):
    parent = sp.app_mention("<@UBOT> plan it")["ts"]
    ts = client.chat_startStream(channel="C1", thread_ts=parent, recipient_user_id="U1", recipient_team_id="T1",
                                 chunks=[{"type": "plan_update", "title": "Looking it up"}])["ts"]
    task = {"type": "task_update", "id": "search", "title": "Search the docs", "status": "in_progress"}
    client.chat_appendStream(channel="C1", ts=ts, chunks=[task])
    client.chat_appendStream(channel="C1", ts=ts, chunks=[
        {**task, "status": "complete", "output": "3 pages",
         "sources": [{"type": "url", "url": "https://milvus.io/docs", "text": "Milvus docs"}]},
        {"type": "markdown_text", "text": "Answer."}])
    for bad, error in (
        ({**task, "status": "done"}, "invalid_chunks"),
        ({"type": "task_update", "title": "no id", "status": "pending"}, "invalid_chunks"),
        ({**task, "sources": [{"url": "https://x"}]}, "invalid_chunks"),
        ({"type": "plan_update"}, "invalid_chunks"),
        ({"type": "thinking", "text": "hmm"}, "invalid_chunks"),
        ({"type": "blocks", "blocks": [{"type": "bogus"}]}, "invalid_blocks"),
        ({"type": "markdown_text", "text": "y" * 12001}, "msg_too_long"),
    ):
        resp = _slack_error(client.chat_appendStream, channel="C1", ts=ts, chunks=[bad])
        assert resp["error"] == error, (bad, resp)
    status_err = _slack_error(client.chat_appendStream, channel="C1", ts=ts, chunks=[{**task, "status": "done"}])
    assert status_err["response_metadata"]["messages"] == [
        "[ERROR] must be one of ['pending', 'in_progress', 'complete', 'error'] [json-pointer:/chunks/0/status]"]
    divider = {"type": "blocks", "blocks": [{"type": "divider"}] * 30}
    client.chat_appendStream(channel="C1", ts=ts, chunks=[divider])
    assert _slack_error(client.chat_appendStream, channel="C1", ts=ts, chunks=[divider])["error"] == "msg_blocks_too_many"
    assert _slack_error(client.chat_appendStream, channel="C1", ts=ts, chunks=[])["error"] == "no_text"

    st = fake.stream("C1", ts)
    assert st["plan_title"] == "Looking it up" and st["appends"] == 3
    assert st["tasks"]["search"]["status"] == "complete" and st["tasks"]["search"]["output"] == "3 pages"
    assert [c["method"] for c in st["calls"]] == ["start", "append", "append", "append"]
    assert fake.message("C1", ts)["text"] == "Answer."


def test_stream_helper_start_appends_stop_with_feedback(fake, client):
    parent = sp.app_mention("<@UBOT> how do I index?")["ts"]
    streamer = client.chat_stream(channel="C1", thread_ts=parent, recipient_team_id="T1", recipient_user_id="U1",
                                  buffer_size=10)
    assert streamer.append(markdown_text="Use ") is None  # buffered in the SDK, nothing sent yet
    streamer.append(markdown_text="create_index() ")  # buffer >= 10: startStream with the buffer as a chunk
    streamer.append(markdown_text="on a field. ")  # appendStream
    meta = {"event_type": "faqbot_answer", "event_payload": {"answer_id": "a1"}}
    streamer.stop(markdown_text="Sources below.", blocks=[_feedback_block()], metadata=meta)

    st = fake.stream("C1", streamer.ts)
    assert [c["method"] for c in st["calls"]] == ["start", "append", "stop"]
    assert [c["text"] for c in st["calls"]] == ["Use create_index() ", "on a field. ", "Sources below."]
    assert st["state"] == "stopped" and st["stop_blocks"][0]["type"] == "context_actions"
    final = fake.message("C1", streamer.ts)
    assert final["text"] == "Use create_index() on a field. Sources below."
    assert final["blocks"][-1]["elements"][0]["type"] == "feedback_buttons" and final["metadata"] == meta
    assert final["thread_ts"] == parent
    start_params = fake.calls_to("chat.startStream")[0].params
    assert start_params["chunks"] == [{"type": "markdown_text", "text": "Use create_index() "}]

    # stopStream checks what it is given before it ends the stream
    streamer2 = client.chat_stream(channel="C1", thread_ts=parent, recipient_team_id="T1", recipient_user_id="U1")
    streamer2.append(markdown_text="x", chunks=[{"type": "plan_update", "title": "t"}])
    ts2 = streamer2.ts
    assert _slack_error(client.chat_stopStream, channel="C1", ts=ts2, session_status="done")["error"] == "invalid_arguments"
    assert _slack_error(client.chat_stopStream, channel="C1", ts=ts2,
                        metadata={"event_type": "x"})["error"] == "invalid_metadata_schema"
    assert _slack_error(client.chat_stopStream, channel="C1", ts=ts2,
                        blocks=[{"type": "divider"}] * 51)["error"] == "invalid_blocks"
    client.chat_stopStream(channel="C1", ts=ts2, session_status="closed")
    assert fake.stream("C1", ts2)["session_status"] == "closed"


def test_stream_ownership_errors(fake, client):
    user_msg = fake.add_message("C1", {"user": "U1", "text": "question"})
    posted = client.chat_postMessage(channel="C1", text="a plain bot message")["ts"]
    for ts, error in ((user_msg["ts"], "message_not_owned_by_app"), (posted, "message_not_in_streaming_state")):
        assert _slack_error(client.chat_appendStream, channel="C1", ts=ts, markdown_text="x")["error"] == error
        assert _slack_error(client.chat_stopStream, channel="C1", ts=ts)["error"] == error
    resp = _slack_error(client.api_call, "chat.appendStream", json={"channel": "C1", "markdown_text": "x"})
    assert resp["error"] == "invalid_arguments"


def _open_stream(client, channel: str = "C1") -> str:
    parent = sp.app_mention("<@UBOT> q")["ts"]
    return client.chat_startStream(channel=channel, thread_ts=parent, recipient_user_id="U1",
                                   recipient_team_id="T1", markdown_text="Hi")["ts"]


def test_stream_faults_refuse_expire_and_user_stop(fake, client):
    # a surface where Slack will not stream
    fake.fail("chat.startStream", "channel_type_not_supported")
    streamer = client.chat_stream(channel="C1", thread_ts=sp.next_ts(), recipient_team_id="T1",
                                  recipient_user_id="U1", buffer_size=1)
    assert _slack_error(streamer.append, markdown_text="hello")["error"] == "channel_type_not_supported"
    assert streamer.ts is None

    # Slack closes the stream after N appends: later appends and the stop fail; chat.update still works
    fake.expire_streams(after_appends=2)
    ts = _open_stream(client)
    client.chat_appendStream(channel="C1", ts=ts, markdown_text=" 1")
    client.chat_appendStream(channel="C1", ts=ts, markdown_text=" 2")
    assert _slack_error(client.chat_appendStream, channel="C1", ts=ts, markdown_text=" 3")["error"] == \
        "message_not_in_streaming_state"
    assert _slack_error(client.chat_stopStream, channel="C1", ts=ts)["error"] == "message_not_in_streaming_state"
    assert fake.stream("C1", ts)["state"] == "expired" and fake.message("C1", ts)["text"] == "Hi 1 2"
    client.chat_update(channel="C1", ts=ts, text="Hi 1 2 3")

    # ... or after T seconds
    fake.expire_streams(after_seconds=0.2)
    ts = _open_stream(client)
    client.chat_appendStream(channel="C1", ts=ts, markdown_text="!")
    time.sleep(0.25)
    assert _slack_error(client.chat_appendStream, channel="C1", ts=ts, markdown_text="?")["error"] == \
        "message_not_in_streaming_state"
    fake.expire_streams()

    # the user pressed Stop
    ts = _open_stream(client, channel="D1")
    fake.end_stream("D1", ts, reason="stopped_by_user")
    assert _slack_error(client.chat_appendStream, channel="D1", ts=ts, markdown_text="x")["error"] == "stopped_by_user"
    assert _slack_error(client.chat_stopStream, channel="D1", ts=ts)["error"] == "message_not_in_streaming_state"


def test_stream_append_rate_limited(fake, client):
    ts = _open_stream(client)
    fake.fail("chat.appendStream", "ratelimited", times=1, retry_after=1)
    with pytest.raises(SlackApiError) as ei:
        client.chat_appendStream(channel="C1", ts=ts, markdown_text=" lost?")
    assert ei.value.response.status_code == 429 and ei.value.response.headers["Retry-After"] == "1"

    # the SDK helper keeps its buffer when a flush fails: the next append sends it again
    parent = sp.app_mention("<@UBOT> q")["ts"]
    streamer = client.chat_stream(channel="C1", thread_ts=parent, recipient_team_id="T1", recipient_user_id="U1",
                                  buffer_size=1)
    streamer.append(markdown_text="a")
    fake.fail("chat.appendStream", "ratelimited", times=1, retry_after=1)
    assert _slack_error(streamer.append, markdown_text="b")["error"] == "ratelimited"
    streamer.append(markdown_text="c")
    streamer.stop()
    assert fake.message("C1", streamer.ts)["text"] == "abc"

    # with slack_sdk's RateLimitErrorRetryHandler the client waits Retry-After and retries by itself
    retrying = WebClient(token=fake.bot_token, base_url=fake.api_url,
                         retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)])
    fake.fail("chat.appendStream", "ratelimited", times=1, retry_after=1)
    assert retrying.chat_appendStream(channel="C1", ts=ts, markdown_text=" again")["ok"]
    assert [c.status for c in fake.calls_to("chat.appendStream")][-2:] == [429, 200]


def test_views_publish_home_tab(fake, client):
    home = {"type": "home", "callback_id": "faqbot_home", "private_metadata": "v1",
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "*Milvus FAQ*"}}]}
    r = client.views_publish(user_id="U1", view=home)
    assert r["view"]["type"] == "home" and r["view"]["callback_id"] == "faqbot_home" and r["view"]["hash"]
    assert fake.home_view("U1")["blocks"] == home["blocks"] and fake.home_view("U2") is None

    # republishing keeps the view id; hash must be the current one when given
    r2 = client.views_publish(user_id="U1", view={**home, "private_metadata": "v2"}, hash=r["view"]["hash"])
    assert r2["view"]["id"] == r["view"]["id"] and fake.home_view("U1")["private_metadata"] == "v2"
    assert _slack_error(client.views_publish, user_id="U1", view=home, hash=r["view"]["hash"])["error"] == "hash_conflict"

    bad = {
        "/view/blocks": {**home, "blocks": [{"type": "divider"}] * 101},
        "/view/private_metadata": {**home, "private_metadata": "m" * 3001},
        "/view/callback_id": {**home, "callback_id": "c" * 256},
        "/view/blocks/0/text/text": {**home, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}]},
        "/view/type": {**home, "type": "modal"},
    }
    for pointer, view in bad.items():
        resp = _slack_error(client.views_publish, user_id="U1", view=view)
        assert resp["error"] == "invalid_arguments"
        assert any(m.endswith(f"[json-pointer:{pointer}]") for m in resp["response_metadata"]["messages"]), resp
    client.views_publish(user_id="U1", view={**home, "blocks": [{"type": "divider"}] * 100})  # 100 is fine
    resp = _slack_error(client.api_call, "views.publish", json={"user_id": "U1", "view": "not json"})
    assert resp["response_metadata"]["messages"][0] == "[ERROR] failed to match all allowed schemas [json-pointer:/view]"
    assert _slack_error(client.api_call, "views.publish", json={"view": home})["error"] == "invalid_arguments"

    client.views_publish(user_id="U1", view={**home, "external_id": "faq-home-U1"})
    assert _slack_error(client.views_publish, user_id="U2",
                        view={**home, "external_id": "faq-home-U1"})["error"] == "duplicate_external_id"
    big = {"type": "section", "text": {"type": "mrkdwn", "text": "z" * 2990}}
    assert _slack_error(client.views_publish, user_id="U3", view={**home, "blocks": [big] * 90})["error"] == \
        "view_too_large"
    fake.home_tab_enabled = False
    assert _slack_error(client.views_publish, user_id="U1", view=home)["error"] == "not_enabled"


def test_app_home_opened_and_messages_tab_prompts(fake, client):
    ev = sp.app_home_opened(user="U1", channel="D1", tab="messages")
    assert ev["tab"] == "messages" and "view" not in ev
    env = sp.event_callback(ev)
    assert env["event"]["type"] == "app_home_opened"
    # agent_view: prompts pinned to the top of the Messages tab, no thread_ts
    client.assistant_threads_setSuggestedPrompts(channel_id=ev["channel"], title="Try asking",
                                                 prompts=[{"title": "Install", "message": "How do I install Milvus?"}])
    assert fake.assistant_threads[("D1", None)]["prompts_title"] == "Try asking"
    assert _slack_error(client.assistant_threads_setSuggestedPrompts, channel_id="C1",
                        prompts=[{"title": "t", "message": "m"}])["error"] == "invalid_arguments"
    assert _slack_error(client.assistant_threads_setSuggestedPrompts, channel_id="D1",
                        prompts=[{"title": str(i), "message": "m"} for i in range(5)])["error"] == "invalid_arguments"

    assert "view" not in sp.app_home_opened(tab="home")  # nothing published yet
    client.views_publish(user_id="U1", view={"type": "home", "blocks": [{"type": "divider"}]})
    home = sp.app_home_opened(user="U1", tab="home", view=fake.home_view("U1"))
    assert home["view"]["type"] == "home" and home["view"]["blocks"] == [{"type": "divider"}]
    with pytest.raises(ValueError):
        sp.app_home_opened(tab="about")


def test_feedback_click_payload(fake, client):
    parent = sp.app_mention("<@UBOT> q")["ts"]
    streamer = client.chat_stream(channel="C1", thread_ts=parent, recipient_team_id="T1", recipient_user_id="U1")
    streamer.append(markdown_text="Answer")
    streamer.stop(blocks=[_feedback_block()])
    message = fake.message("C1", streamer.ts)

    up = sp.feedback_click(message, positive=True, channel="C1", user="U7")
    action = up["actions"][0]
    assert up["type"] == "block_actions" and action["type"] == "feedback_buttons"
    assert (action["action_id"], action["block_id"], action["value"]) == ("feedback", "fb", "good")
    assert action["text"] == {"type": "plain_text", "text": "👍"} and action["action_ts"]
    assert up["container"] == {"type": "message", "message_ts": streamer.ts, "channel_id": "C1",
                               "is_ephemeral": False, "thread_ts": parent}
    assert up["user"]["id"] == "U7" and up["message"]["ts"] == streamer.ts
    assert sp.feedback_click(message, positive=False)["actions"][0]["value"] == "bad"
    assert sp.interaction_body(up).startswith(b"payload=")
    with pytest.raises(ValueError, match="no feedback_buttons"):
        sp.feedback_click({"ts": "1.0", "blocks": [{"type": "divider"}]})
    with pytest.raises(ValueError):
        sp.feedback_click(message, action_id="other")


_AGENT_MANIFEST = {
    "features": {
        "agent_view": {
            "agent_description": "Answers Milvus questions from the official docs, with links.",
            "suggested_prompts": [{"title": "Windows install", "message": "Can I install Milvus on Windows?"}],
        },
        "app_home": {"home_tab_enabled": True, "messages_tab_enabled": True},
    },
    "oauth_config": {"scopes": {"bot": ["chat:write", "assistant:write", "im:history"]}},
    "settings": {"event_subscriptions": {"bot_events": ["app_home_opened", "app_mention", "message.im"]}},
}


def test_manifest_agent_view_check():
    import copy

    assert check_agent_view(_AGENT_MANIFEST) == [] and check_agent_setup(_AGENT_MANIFEST) == []
    assert check_agent_view({"features": {"agent_view": {}}}) == []  # every key is optional

    bad = copy.deepcopy(_AGENT_MANIFEST)
    view = bad["features"]["agent_view"]
    view["agent_description"] = "d" * 301
    view["suggested_prompts"] = [{"title": "t", "message": "m"}] * 4 + [{"title": "t"}, {"title": "t", "message": "m",
                                                                                          "icon": "x"}]
    view["actions"] = [{"name": "summarize"}]
    view["assistant_description"] = "the assistant_view key"
    problems = check_agent_view(bad)
    for expected in (
        "features.agent_view.assistant_description is not a field of agent_view",
        "features.agent_view.agent_description has 301 characters (at most 300)",
        "features.agent_view.suggested_prompts has 6 items (at most 4)",
        "features.agent_view.suggested_prompts[4].message must be a string",
        "features.agent_view.suggested_prompts[5].icon is not allowed",
        "features.agent_view.actions[0].description must be a string",
    ):
        assert any(p.startswith(expected) for p in problems), (expected, problems)
    assert check_agent_view({"features": {}}) == ["features.agent_view is missing"]

    # today's manifest shape: assistant_view, no app_home_opened
    legacy = {"features": {"assistant_view": {"assistant_description": "x"}, "app_home": {"messages_tab_enabled": True}},
              "oauth_config": {"scopes": {"bot": ["assistant:write"]}},
              "settings": {"event_subscriptions": {"bot_events": ["message.im", "assistant_thread_started"]}}}
    setup = check_agent_setup(legacy)
    assert [p.split(" ")[0:3] for p in setup] == [
        ["features.agent_view", "is", "missing:"], ["features.assistant_view", "is", "set:"],
        ["bot", "event", "app_home_opened"], ["bot", "event", "assistant_thread_started"]]
