"""Prometheus `/metrics` for `faqbot serve` (prometheus-client, a custom collector).

Read at scrape time from what the serve process already knows — its intake counters (it hears
back from the answer process), the state DB (jobs by status, oldest waiting job, answers by
outcome and their time to answer) and the health check — so both processes' work shows in one
place without a shared-memory metrics directory. Numbers from the state DB cover what it keeps
(a week); Prometheus treats a drop as a counter reset.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 20.0, 30.0, 60.0)


class BotCollector:
    def __init__(self, bot, health):
        self.bot = bot
        self.health = health

    def describe(self):
        return []  # collected fresh at every scrape

    def collect(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

        stats = dict(self.bot.intake.stats)
        events = CounterMetricFamily("faqbot_events", "Questions from Slack by what the bot did on arrival",
                                     labels=["result"])
        for key, label in (("accepted", "accepted"), ("duplicates", "duplicate"), ("rate_limited", "rate_limited"),
                           ("busy", "busy")):
            events.add_metric([label], stats.get(key, 0))
        yield events
        finished = CounterMetricFamily("faqbot_jobs_finished", "Jobs the answer workers finished", labels=["result"])
        finished.add_metric(["answered"], stats.get("answered", 0))
        finished.add_metric(["failed"], stats.get("failed", 0))
        yield finished
        yield GaugeMetricFamily("faqbot_queue_depth", "Questions waiting for an answer worker",
                                value=self.bot.intake.depth)
        yield GaugeMetricFamily("faqbot_in_flight", "Questions being answered now", value=self.bot.intake.in_flight)
        yield GaugeMetricFamily("faqbot_milvus_up", "1 when Milvus answers the health check",
                                value=1.0 if self.health.milvus() == "ok" else 0.0)
        try:
            yield from self._from_state()
        except Exception as exc:  # a scrape must not fail because the state DB is busy
            log.warning("metrics: state DB not read (%s)", exc)

    def _from_state(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

        state = self.bot.state
        stats = state.stats()
        yield GaugeMetricFamily("faqbot_oldest_waiting_seconds", "Age of the oldest question not yet claimed",
                                value=stats["oldest_waiting_s"])
        jobs = GaugeMetricFamily("faqbot_jobs", "Jobs in the state DB by status", labels=["status"])
        for status, n in sorted(stats["by_status"].items()):
            jobs.add_metric([str(status)], n)
        yield jobs
        answered = state.answer_stats(LATENCY_BUCKETS)
        answers = CounterMetricFamily("faqbot_answers", "Answers posted, by how they were written",
                                      labels=["outcome"])
        for outcome, n in sorted(answered["by_outcome"].items(), key=lambda kv: str(kv[0])):
            answers.add_metric([str(outcome or "unknown")], n)
        yield answers
        total = answered["latency_sum"]
        buckets = [(str(b), n) for b, n in zip(LATENCY_BUCKETS, answered["latency_le"])]
        buckets.append(("+Inf", answered["latency_count"]))
        yield HistogramMetricFamily("faqbot_answer_seconds", "Time from the question's arrival to its answer",
                                    buckets=buckets, sum_value=total)


def render(bot, health) -> tuple[bytes, str]:
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(BotCollector(bot, health))
    return generate_latest(registry), CONTENT_TYPE_LATEST
