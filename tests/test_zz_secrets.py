"""Runs last: no token, signing secret or API key appeared in any log record or Slack message
during the whole suite (the scanner is installed in conftest.py)."""

from tests.conftest import LEAKS, SCANNED


def test_no_secret_in_logs_or_replies():
    assert not LEAKS, "\n".join(LEAKS[:10])


def test_the_scanner_catches_a_leak():
    import logging

    before = len(LEAKS)
    logging.getLogger("bot.test").error("oops token=xoxb-test-token")
    assert len(LEAKS) == before + 1
    del LEAKS[before:]
