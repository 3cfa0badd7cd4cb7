"""The App Home tab: what everyone sees, what admins see, Block Kit limits and escaping whatever the data,
the app_home_opened listener, and FAQBOT_ADMINS."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from bot import meta
from bot.home import LIMITS, home_for, home_view, limit_problems
from bot.insights import DAY_S, Gap, Report, Window, build_report
from bot.jobstore.memory import MemoryJobStore
from bot.settings import ConfigError, load_bot_settings

ADMIN, BOT = "U0ADMIN01", "U0BOT0001"
NOW = 1_780_000_000.0
# what we emit as markup: links built by blocks.link and the bot's own mention
OUR_MARKUP = re.compile(r"<https?://[^\s<>|]+\|[^<>|]*>|<@" + BOT + ">")
BROADCAST = re.compile(r"@(channel|here|everyone)", re.I)


def texts(view: dict, kind: str = "mrkdwn") -> list[str]:
    out = []
    for b in view["blocks"]:
        objects = ([b["text"]] if b.get("text") else []) + (b.get("fields") or []) + (b.get("elements") or [])
        out += [o["text"] for o in objects if o["type"] == kind]
    return out


def assert_safe(view: dict) -> None:
    assert limit_problems(view) == []
    for text in texts(view):
        bare = OUR_MARKUP.sub("", text)
        assert "<" not in bare and ">" not in bare, text  # no live mention, link or special command
        assert not BROADCAST.search(bare), text  # @channel & co. carry a zero-width space
        assert not re.search(r"&(?!amp;|lt;|gt;)", bare), text


def store_with(rows_per_question: list[tuple[str, str, int]]) -> MemoryJobStore:
    """A memory store with answered questions: (question, outcome, 👎 count)."""
    store = MemoryJobStore()
    for n, (question, outcome, downs) in enumerate(rows_per_question):
        job = store.accept([f"ev:{n}"], kind="mention", channel="C0HELP", user=f"U0ASKER{n}", question=question,
                           ts=f"17000000{n:02d}.000100", thread_ts=f"17000000{n:02d}.000100")
        store.save_answer(f"a{n}", job, answer="x", mode="gemini", outcome=outcome, sources=[], version="v2.6.x",
                          latency_s=2.0)
        for d in range(downs):
            store.add_feedback(f"a{n}", f"U0VOTER{d}", "down")
    return store


def test_everyone_sees_how_to_ask_and_the_indexed_versions_but_only_admins_see_numbers():
    store = store_with([("How do I upgrade from 2.5 to 2.6?", "not_covered", 0)])
    store.set_meta(meta.DOCS_VERSIONS, json.dumps([{"version": "v2.6.x", "chunks": 2051, "current": True,
                                                    "default": True, "refreshed": "2026-05-03T04:00:12Z"}]))
    member = home_for(store, "U0SOMEONE", {ADMIN}, bot_user_id=BOT)
    admin = home_for(store, ADMIN, {ADMIN}, bot_user_id=BOT)
    for view in (member, admin):
        assert view["type"] == "home"
        text = "\n".join(texts(view))
        assert f"<@{BOT}>" in text and "/milvus" in text and "Messages" in text
        assert "*v2.6.x* (current on milvus.io, default) · 2,051 chunks · refreshed 2026-05-03T04:00:12Z" in text
        assert_safe(view)
    assert not any(b["type"] in ("divider", "header") and "Last" in json.dumps(b) for b in member["blocks"])
    assert not any(b.get("fields") for b in member["blocks"]) and "upgrade" not in json.dumps(member)
    headers = texts(admin, "plain_text")
    assert headers == ["Milvus docs Q&A", "Last 7 days", "Last 30 days"]
    assert "How do I upgrade from 2.5 to 2.6?" in json.dumps(admin)


def test_without_versions_or_with_a_garbled_value_the_home_says_none_are_indexed():
    store = MemoryJobStore()
    assert "No docs versions are indexed yet" in json.dumps(home_for(store, "U0SOMEONE", set()))
    store.set_meta(meta.DOCS_VERSIONS, "{not json")
    assert meta.docs_versions(store) == []
    store.set_meta(meta.DOCS_VERSIONS, json.dumps({"v2.6.x": 1}))
    assert meta.docs_versions(store) == []


def test_a_hostile_question_is_shown_escaped():
    hostile = "<!channel> @here ping <@U0BOSS> & <https://evil.example|click me> *now*"
    store = store_with([(hostile, "not_covered", 2)])
    view = home_for(store, ADMIN, {ADMIN}, bot_user_id=BOT)
    assert_safe(view)
    dumped = json.dumps(view, ensure_ascii=False)
    assert "&lt;!channel&gt; @\u200bhere ping &lt;@U0BOSS&gt; &amp; &lt;https://evil.example|click me&gt;" in dumped


def test_many_gaps_long_questions_and_many_versions_stay_within_limits():
    store = store_with([(f"question {n} about topic{n} " + "é&<" * 3000, "not_covered", n % 3) for n in range(60)])
    store.set_meta(meta.DOCS_VERSIONS, json.dumps([{"version": f"v2.{n}.x" * 20, "chunks": n, "refreshed": "x" * 999}
                                                   for n in range(40)]))
    view = home_for(store, ADMIN, {ADMIN})
    assert_safe(view)
    assert "…and 28 more" in json.dumps(view, ensure_ascii=False)


# ---- whatever the data ----------------------------------------------------------------------------------

_text = st.text(max_size=4000) | st.sampled_from(["<!channel>", "<@U0BOSS>", "&amp;", "@everyone", "a|b>c", ""])
_url = st.sampled_from(["https://acme.slack.com/archives/C1/p1", "javascript:alert(1)", "https://x.io/<a>|b",
                        "https://" + "a" * 3000 + ".com/"]) | st.text(max_size=200)
_gap = st.builds(Gap, question=_text, questions=st.integers(0, 10**9), people=st.integers(0, 10**9),
                 not_covered=st.integers(0, 10**9), down=st.integers(0, 10**9),
                 threads=st.lists(_url, max_size=20).map(tuple), examples=st.lists(_text, max_size=8).map(tuple),
                 last_asked=st.floats(0, 4e9))
_window = st.builds(Window, days=st.integers(1, 10**30), since=st.floats(0, 4e9), questions=st.integers(0, 10**12),
                    gemini=st.integers(0, 10**12), extractive=st.integers(0, 10**12),
                    not_covered=st.integers(0, 10**12), failed=st.integers(0, 10**12), up=st.integers(0, 10**12),
                    down=st.integers(0, 10**12), median_s=st.none() | st.floats(0, 1e9),
                    gaps=st.lists(_gap, max_size=60).map(tuple))
_version = st.fixed_dictionaries({"version": _text}, optional={
    "chunks": st.integers(-1, 10**15) | _text, "refreshed": _text | st.integers(), "current": st.booleans(),
    "default": st.booleans(), "source": _text})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(versions=st.lists(_version, max_size=30), windows=st.lists(_window, max_size=6),
       admin=st.booleans(), bot=st.sampled_from([None, BOT, "<!channel>", ""]))
def test_any_data_makes_a_view_within_block_kit_limits(versions, windows, admin, bot):
    report = Report(now=NOW, windows=tuple(windows)) if admin else None
    view = home_view(versions=versions, report=report, bot_user_id=bot)  # slack_sdk validates it as well
    assert_safe(view)
    assert len(view["blocks"]) <= LIMITS["blocks"]


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(_text, st.sampled_from(["gemini", "extractive", "not_covered", "failed"]),
                          st.integers(0, 3), st.floats(0, 40)), max_size=40))
def test_any_stored_questions_make_a_safe_admin_view(questions):
    rows = [{"job_id": n, "question": q, "outcome": o, "mode": "gemini", "latency_s": 1.0, "channel": "C0HELP",
             "thread_ts": "1700000000.000100", "user": f"U{n % 5}", "created": NOW - days * DAY_S, "up": 0, "down": d}
            for n, (q, o, d, days) in enumerate(questions)]
    assert_safe(home_view(report=build_report(rows, NOW, workspace_url="https://acme.slack.com/")))


# ---- the listener -----------------------------------------------------------------------------------------

class _Client:
    def __init__(self):
        self.published = []

    def views_publish(self, **kwargs):
        self.published.append(kwargs)


def _opened(tab: str, user: str = ADMIN) -> dict:
    return {"type": "event_callback", "team_id": "T0TEAM", "api_app_id": "A0APP", "event_id": f"Ev{tab}{user}",
            "event_time": 1, "event": {"type": "app_home_opened", "user": user, "channel": "D0HOME", "tab": tab,
                                       "event_ts": "1700000000.000100"}}


def test_app_home_opened_publishes_the_view_off_the_ack_path(slack):
    from slack_bolt import App, BoltRequest
    from slack_sdk import WebClient

    from bot.listeners import home

    deferred = []
    store = store_with([("How do I upgrade from 2.5 to 2.6?", "not_covered", 0)])
    bot = SimpleNamespace(store=store, settings=load_bot_settings(FAQBOT_ADMINS=ADMIN), client=_Client(),
                          bot_user_id=BOT, later=lambda fn, *args: deferred.append((fn, args)))
    app = App(client=WebClient(token="xoxb-test-token", base_url=slack.api_url), signing_secret="x" * 32,
              request_verification_enabled=False, token_verification_enabled=False, process_before_response=True)
    home.register(app, bot)
    headers = {"content-type": ["application/json"]}
    for event in (_opened("home"), _opened("home", "U0SOMEONE"), _opened("messages")):
        app.dispatch(BoltRequest(body=json.dumps(event), headers=headers))
    assert bot.client.published == [] and len(deferred) == 2  # nothing on the ack path
    for fn, args in deferred:
        fn(*args)
    admin, member = bot.client.published
    assert (admin["user_id"], member["user_id"]) == (ADMIN, "U0SOMEONE")
    assert "Last 30 days" in json.dumps(admin["view"]) and "Last 30 days" not in json.dumps(member["view"])
    assert len(open(home.__file__).read().splitlines()) <= 40


# ---- FAQBOT_ADMINS ------------------------------------------------------------------------------------------

def test_faqbot_admins_are_user_ids_checked_at_start():
    assert load_bot_settings(FAQBOT_ADMINS=" U0ADMIN01, W0ENTERPRISE ,").admin_ids == {"U0ADMIN01", "W0ENTERPRISE"}
    assert load_bot_settings().admin_ids == frozenset()
    for bad in ("alice", "U0ADMIN01,@bob", "u0admin01", "C0CHANNEL", "S0GROUP", "U0ADMIN01;U0OTHER"):
        with pytest.raises(ConfigError, match="FAQBOT_ADMINS.*Slack user IDs"):
            load_bot_settings(FAQBOT_ADMINS=bad)
