"""Load test (issue 4): 1,000 mention events over 60 s at `faqbot serve --http`.

5% of the events are Slack redeliveries (same event id, X-Slack-Retry-Num), 5% of the
questions hit Gemini faults (503 twice: the answer falls back to extractive), Gemini answers
with 1 s latency. The bot runs as its own process (its RSS is what is measured); the fake Slack
and fake Gemini run here. Prints answered, duplicates, lost, p50/p99 time to answer, and RSS.

    python -m benchmarks.load_test [--events 1000] [--seconds 60]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchmarks import common as C

def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
            return r.status == 200
    except Exception:
        return False


def run(events: int = 1000, seconds: float = 60.0, redeliver: float = 0.05, faults: float = 0.05) -> dict:
    import psutil

    from testkit.fakes.gemini_server import FakeGemini
    from testkit.fakes.slack_api import FakeSlack

    with C.tmpdir() as tmp, FakeSlack() as slack, FakeGemini(latency=1.0) as gemini:
        gemini.latency = 0.0
        C.ingest_subprocess(tmp, C.FAQ_GLOB, gemini)
        gemini.latency = 1.0
        port = C.free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MILVUS_", "FAQBOT_", "GEMINI_", "SLACK_"))}
        env |= C.rag_env(tmp, C.FAQ_GLOB, gemini) | {
            "SLACK_BOT_TOKEN": slack.bot_token, "SLACK_SIGNING_SECRET": C.SECRET, "SLACK_API_URL": slack.api_url,
            "FAQBOT_STATE_DB": str(tmp / "state.db"), "PORT": str(port), "FAQBOT_RATE_LIMIT": "0",
            "FAQBOT_QUEUE_SIZE": "2000", "PYTHONPATH": str(C.ROOT)}
        log = open(tmp / "serve.log", "wb")
        proc = subprocess.Popen([sys.executable, "-m", "faqbot", "serve", "--http"], cwd=str(tmp), env=env,
                                stdout=log, stderr=subprocess.STDOUT)
        try:
            if not C.wait_until(lambda: _healthy(port), 30, 0.1):
                raise RuntimeError("the bot did not become healthy: " + (tmp / "serve.log").read_text()[-800:])
            bot = psutil.Process(proc.pid)
            url = f"http://127.0.0.1:{port}/slack/events"
            qs = C.questions(200, tmp)
            sent: list[dict] = []
            lock = threading.Lock()
            peak = {"rss": _tree_rss(bot)}
            rss_after_100: list[float] = []
            stop = threading.Event()

            def sample():
                while not stop.wait(0.25):
                    try:
                        peak["rss"] = max(peak["rss"], _tree_rss(bot))
                    except psutil.Error:
                        return

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            every_fault = max(1, round(1 / faults)) if faults else 0
            faults_injected = [0]
            every_redo = max(1, round(1 / redeliver)) if redeliver else 0

            def send(i: int) -> None:
                env_ = C.mention_envelope(qs[i % len(qs)], user=f"U{i:05d}", channel=f"C{i % 20}")
                body = json.dumps(env_).encode()
                if every_fault and i % every_fault == every_fault // 2:
                    gemini.set_fault("503", times=2, on="generate")  # two 503s: retried, or the extractive fallback
                    faults_injected[0] += 2
                status, wall, secs = C.post_once(url, body)
                with lock:
                    sent.append({"i": i, "ts": env_["event"]["ts"], "wall": wall, "status": status, "ack_s": secs})
                if every_redo and i % every_redo == 0:  # Slack's redelivery ~1 s later
                    time.sleep(1.0)
                    status2, _, _ = _redeliver(url, env_)
                    with lock:
                        sent[-1]["redelivery_status"] = status2

            t0 = time.monotonic()
            with ThreadPoolExecutor(32) as pool:
                futures = []
                for i in range(events):
                    delay = t0 + i * seconds / events - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                    futures.append(pool.submit(send, i))
                    if i == 99:
                        # RSS once the first 100 events are in and answered
                        pool.submit(_rss_when_answered, slack, sent, lock, 100, bot, rss_after_100)
                for f in futures:
                    f.result()
            send_s = time.monotonic() - t0

            def unanswered():
                return [s for s in sent if C.answer_times(slack, s["ts"])["final"] is None]

            C.wait_until(lambda: not unanswered(), 120, 0.5)
            time.sleep(2.0)  # late duplicates would show up here
            rss_end = _tree_rss(bot)
            stop.set()
            times, dup, lost, fallback = [], 0, 0, 0
            for s in sent:
                a = C.answer_times(slack, s["ts"])
                if a["final"] is None:
                    lost += 1
                    continue
                times.append(a["final"] - s["wall"])
                dup += a["posts"] > 1
            for method in ("chat.update", "chat.stopStream"):  # an edited or a natively streamed answer
                for call in slack.calls_to(method):
                    if "AI answer unavailable" in json.dumps(call.params.get("blocks") or ""):
                        fallback += 1
            non_200 = sum(s["status"] != 200 for s in sent) + sum(
                s.get("redelivery_status", 200) != 200 for s in sent)
            rss100 = rss_after_100[0] if rss_after_100 else float("nan")
            growth = (rss_end - rss100) / rss100 * 100 if rss_after_100 else float("nan")
            metrics = {
                "events": len(sent), "redeliveries": sum("redelivery_status" in s for s in sent),
                "send_seconds": round(send_s, 1), "answered": len(times), "duplicates": dup, "lost": lost,
                "gemini_fallbacks": fallback, "non_200": non_200,
                "answer_p50_s": round(C.pct(times, 50), 2), "answer_p99_s": round(C.pct(times, 99), 2),
                "ack_p99_ms": round(C.pct([s["ack_s"] for s in sent], 99) * 1000, 1),
                "rss_after_100_mb": round(rss100 / 2**20, 1), "rss_end_mb": round(rss_end / 2**20, 1),
                "rss_peak_mb": round(peak["rss"] / 2**20, 1), "rss_growth_pct": round(growth, 1),
                "gemini_faults_injected": faults_injected[0],
            }
        finally:
            proc.kill()
            proc.wait(10)
            log.close()
    targets = {"lost": "0", "duplicates": "0", "rss_growth_pct": "within 10%"}
    checks = {"lost": metrics["lost"] == 0, "duplicates": metrics["duplicates"] == 0,
              "rss_growth_pct": abs(metrics["rss_growth_pct"]) <= 10}
    table = [(k, C.fmt(v)) for k, v in metrics.items()]
    return C.report("load_test", metrics, targets, checks, table)


def _redeliver(url: str, envelope: dict):
    from testkit.fakes import slack_payloads as sp

    status, _, _ = sp.post_signed(url, json.dumps(envelope).encode(), "application/json", C.SECRET, retry_num=1,
                                  retry_reason="http_timeout")
    return status, 0.0, 0.0


def _tree_rss(proc) -> int:
    """RSS of `faqbot serve` and its answer process."""
    return int(C.rss_mb(proc.pid) * 2**20)


def _rss_when_answered(slack, sent, lock, n, bot, out) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with lock:
            first = sorted(sent, key=lambda s: s["i"])[:n]
        if len(first) == n and all(C.answer_times(slack, s["ts"])["final"] for s in first):
            out.append(_tree_rss(bot))
            return
        time.sleep(0.5)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=60.0)
    a = ap.parse_args()
    C.main(lambda: run(a.events, a.seconds))
