"""No token, signing secret or API key appears in any log record or Slack message (the scanner is
installed in conftest.py: every log record at INFO and above, and every call a FakeSlack recorded).

In the full suite this module runs last, so `test_no_secret_in_logs_or_replies` covers every test
before it. It also stands on its own (`-k`, any order): the module fixture drives the real bot
itself through the paths that carry the secrets (signed requests, token-authenticated Slack calls,
Gemini calls, logged Slack and Gemini failures), then checks that the scanner saw all of that
traffic and that it flags a token-shaped canary sent through the same paths."""

import json
import logging
import shutil

import pytest

from testkit.bot_harness import SECRET, BotHarness
from tests.conftest import LEAKS, SCANNED, SECRETS
from testkit.fakes import slack_payloads as sp
from testkit.fakes.gemini_server import FakeGemini
from testkit.fakes.slack_api import FakeSlack

QUESTION = "How is data stored in milvus?"
CANARY = "xoxb-canary-0123456789"  # token-shaped, not a real secret: the scanner must flag it anyway


class _Records(logging.Handler):
    """Every record the scanner should have seen (same logger, same level)."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)


def _answered(h, slack, channel, n=1):
    slack.wait_for("chat.postMessage", n, pred=lambda c: c.ok and c.params.get("channel") == channel, timeout=20)
    assert h.idle()


@pytest.fixture(scope="module")
def run(tmp_path_factory, faq_folder):
    tmp = tmp_path_factory.mktemp("secrets")
    docs = tmp / "milvus_docs_2.4.x"
    shutil.copytree(faq_folder, docs)
    seen = _Records()
    root = logging.getLogger()
    scanned_before, leaks_before = dict(SCANNED), len(LEAKS)
    root.addHandler(seen)
    try:
        with FakeSlack() as slack, FakeGemini() as gemini:
            h = BotHarness(tmp, slack, gemini, FAQBOT_DOCS_SOURCE=str(docs), FAQBOT_RATE_LIMIT="0").start()
            try:
                # ordinary traffic: a mention (streamed answer) and a /milvus question
                h.post_event(sp.app_mention(f"<@UBOT> {QUESTION}", channel="CS1"))
                h.post_command(QUESTION, channel_id="CS2")
                _answered(h, slack, "CS1")
                _answered(h, slack, "CS2", 2)
                # failures that get logged: the token rejected (answer and apology), Gemini down, a forged request
                slack.fail("chat.postMessage", "invalid_auth", times=None)
                h.post_event(sp.app_mention(f"<@UBOT> {QUESTION}", channel="CS3"))
                assert h.idle()
                slack.clear_failures("chat.postMessage")
                gemini.set_fault("500", times=None, on="generate")
                h.post_event(sp.app_mention(f"<@UBOT> {QUESTION}", channel="CS4"))
                _answered(h, slack, "CS4")
                gemini.clear_faults()
                body = json.dumps(sp.event_callback(sp.app_mention(f"<@UBOT> {QUESTION}"))).encode()
                assert sp.post_signed(h.url, body, "application/json", "not-the-" + SECRET)[0] == 401
                # canaries through the same paths: a Slack error the bot logs at INFO, a question it echoes
                slack.fail("reactions.add", CANARY, times=1)
                h.post_event(sp.app_mention(f"<@UBOT> {QUESTION}", channel="CS5"))
                h.post_command(f"{CANARY} {QUESTION}", channel_id="CS6")
                _answered(h, slack, "CS5")
                _answered(h, slack, "CS6", 2)
            finally:
                h.stop()
        # leaving the `with`: FakeSlack.stop() scanned every call it recorded
    finally:
        root.removeHandler(seen)
    new = LEAKS[leaks_before:]
    del LEAKS[leaks_before:]
    LEAKS.extend(x for x in new if CANARY not in x)  # the canaries are ours, not leaks
    yield {"slack": slack, "records": seen.records, "canaries": [x for x in new if CANARY in x],
           "leaks": [x for x in new if CANARY not in x],
           "scanned": {k: SCANNED[k] - scanned_before[k] for k in SCANNED}}


def _scanned_all_of(run) -> None:
    slack, records = run["slack"], run["records"]
    assert len(slack.calls) >= 15 and run["scanned"]["slack_calls"] >= len(slack.calls)
    assert sum(r.levelno < logging.WARNING for r in records) >= 5  # INFO: what `faqbot serve` logs
    assert run["scanned"]["log_records"] >= len(records)


def test_the_scanner_saw_all_of_this_modules_bot_traffic(run):
    slack, records = run["slack"], run["records"]
    _scanned_all_of(run)
    logged = "\n".join(r.getMessage() for r in records)
    assert "invalid_auth" in logged and "check SLACK_BOT_TOKEN" in logged  # the variable's name only
    assert any(SECRETS[0] == c.headers.get("authorization", "").removeprefix("Bearer ") for c in slack.calls)
    assert not run["leaks"], "\n".join(run["leaks"][:10])


def test_the_scanner_flags_a_token_in_a_log_record_and_in_a_slack_message(run):
    canaries = run["canaries"]
    assert any(x.startswith("log bot.reply:") and "reactions_add failed" in x for x in canaries), canaries
    assert any(x.startswith("slack chat.postMessage:") and "asked:" in x for x in canaries), canaries


def test_no_secret_in_logs_or_replies(run):
    _scanned_all_of(run)  # never vacuous, even run alone
    assert not LEAKS, "\n".join(LEAKS[:10])
