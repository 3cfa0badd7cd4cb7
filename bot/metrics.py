"""Prometheus `/metrics` for `faqbot serve` and `faqbot worker` (prometheus-client, a custom collector).

Read at scrape time from what the process already knows — its intake counters (serve), its
worker's counters (worker; for a one-machine serve, reported by its child every 2 s), the job
store (queue depth, oldest waiting job, jobs by status, answers by outcome and their time to answer:
shared by all replicas, so every replica reports the same) and the health check. Per-process
counters restart at 0 with the process, as Prometheus counters may. Numbers from the store cover
what it keeps (a week).
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 20.0, 30.0, 60.0)


class BotCollector:
    def __init__(self, health):
        self.health = health

    def describe(self):
        return []  # collected fresh at every scrape

    def collect(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        status, body = self.health.report()
        stats = body["stats"]
        yield GaugeMetricFamily("faqbot_up", "1 when this process is healthy (the /healthz status)",
                                value=1.0 if status == 200 else 0.0)
        if self.health.intake is not None:
            events = CounterMetricFamily("faqbot_events", "Questions from Slack by what the bot did on arrival",
                                         labels=["result"])
            for key, label in (("accepted", "accepted"), ("duplicates", "duplicate"),
                               ("rate_limited", "rate_limited"), ("busy", "busy")):
                events.add_metric([label], stats.get(key, 0))
            yield events
        if self.health.answering is not None:
            yield CounterMetricFamily("faqbot_claims", "Jobs this process's worker claimed",
                                      value=stats.get("claimed", 0))
            finished = CounterMetricFamily("faqbot_jobs_finished", "Jobs this process's worker finished (retried: given "
                                           "back to the queue because the job store was unreachable)",
                                           labels=["result"])
            for key in ("answered", "failed", "skipped", "expired", "lost_lease", "retried"):
                finished.add_metric([key], stats.get(key, 0))
            yield finished
            errors = CounterMetricFamily("faqbot_errors", "Failures while answering, by the service at fault",
                                         labels=["service"])
            for key in ("milvus", "gemini", "slack", "internal"):
                errors.add_metric([key], stats.get(f"error_{key}", 0))
            yield errors
            yield GaugeMetricFamily("faqbot_in_flight", "Questions being answered now", value=body["in_flight"])
            yield GaugeMetricFamily("faqbot_worker_slots", "Answers this process may write at once",
                                    value=body["workers"])
            yield GaugeMetricFamily("faqbot_milvus_up", "1 when Milvus answers the health check",
                                    value=1.0 if body["milvus"] == "ok" else 0.0)
        yield GaugeMetricFamily("faqbot_state_up", "1 when the job store answers", value=float(body["state"] == "ok"))
        try:
            yield from self._from_store()
        except Exception as exc:  # a scrape must not fail because the store is busy
            log.warning("metrics: job store not read (%s)", exc)

    def _from_store(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

        store = self.health.store
        _, stats = self.health.state()
        if not stats:
            return
        yield GaugeMetricFamily("faqbot_queue_depth", "Questions waiting for a worker (all replicas)",
                                value=stats["queue_depth"])
        yield GaugeMetricFamily("faqbot_oldest_waiting_seconds", "Age of the oldest question not yet claimed",
                                value=stats["oldest_waiting_s"])
        jobs = GaugeMetricFamily("faqbot_jobs", "Jobs in the store by status", labels=["status"])
        for status, n in sorted(stats["by_status"].items()):
            jobs.add_metric([str(status)], n)
        yield jobs
        answered = store.answer_stats(LATENCY_BUCKETS)
        answers = CounterMetricFamily("faqbot_answers", "Answers posted, by how they were written",
                                      labels=["outcome"])
        for outcome, n in sorted(answered["by_outcome"].items(), key=lambda kv: str(kv[0])):
            answers.add_metric([str(outcome or "unknown")], n)
        yield answers
        buckets = [(str(b), n) for b, n in zip(LATENCY_BUCKETS, answered["latency_le"])]
        buckets.append(("+Inf", answered["latency_count"]))
        yield HistogramMetricFamily("faqbot_answer_seconds", "Time from the question's arrival to its answer",
                                    buckets=buckets, sum_value=answered["latency_sum"])


def render(health) -> tuple[bytes, str]:
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(BotCollector(health))
    return generate_latest(registry), CONTENT_TYPE_LATEST
