"""GET /metrics: Prometheus text from the running bot (what an autoscaler and dashboards read)."""

from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from testkit.bot_harness import BotHarness
from testkit.fakes import slack_payloads as sp


def scrape(h) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{h.port}/metrics", timeout=10) as resp:
        assert resp.headers["Content-Type"].startswith("text/plain")
        text = resp.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def test_metrics_count_events_answers_and_latency(tmp_path, slack):
    h = BotHarness(tmp_path, slack, FAQBOT_RATE_LIMIT="0").start()
    try:
        event = sp.app_mention("<@UBOT> How is data stored in milvus?", channel="C1")
        envelope_id = "Ev-metrics-1"
        h.post_event(event, event_id=envelope_id)
        h.post_event(event, event_id=envelope_id, retry_num=1)  # Slack's redelivery
        assert h.idle()
        m = scrape(h)
        assert m[("faqbot_events_total", (("result", "accepted"),))] == 1
        assert m[("faqbot_events_total", (("result", "duplicate"),))] == 1
        assert m[("faqbot_jobs_finished_total", (("result", "answered"),))] == 1
        assert m[("faqbot_answers_total", (("outcome", "extractive"),))] == 1  # keyless, confident
        assert m[("faqbot_answer_seconds_count", ())] == 1 and m[("faqbot_answer_seconds_bucket", (("le", "+Inf"),))] == 1
        assert m[("faqbot_queue_depth", ())] == 0 and m[("faqbot_oldest_waiting_seconds", ())] == 0
        assert m[("faqbot_jobs", (("status", "done"),))] == 1
        assert m[("faqbot_milvus_up", ())] == 1
    finally:
        h.stop()
