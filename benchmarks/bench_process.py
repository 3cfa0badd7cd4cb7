"""`faqbot serve --http` as a subprocess against a FakeSlack: time until GET /healthz is 200,
RSS idle, RSS after 100 and after 1,000 answered questions (keyless, signed mentions), and the
import time of `faqbot --help` (median of 5 runs). The server is always stopped at the end."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

from benchmarks import common as c

TOTAL = 1000
FIRST = 100
CONCURRENCY = 10


def _health(port: int) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, {}
    except Exception:
        return 0, {}


def _answered(port: int) -> int:
    return int(_health(port)[1].get("stats", {}).get("answered", -1))


def _help_time() -> list[float]:
    faqbot = str(Path(c.PY).with_name("faqbot"))
    out = []
    for _ in range(5):
        t0 = time.perf_counter()
        subprocess.run([faqbot, "--help"], capture_output=True, timeout=60, cwd=c._CWD, env=os.environ.copy())
        out.append(time.perf_counter() - t0)
    return out


def _fire(load, url: str, n: int, tag: str, qs: list[str]) -> int:
    bodies = [json.dumps(c.mention_envelope(f"{qs[i % len(qs)]} ({tag}{i})", user=f"UP{tag}{i:05d}")).encode()
              for i in range(n)]
    return sum(1 for s, _, _ in load.fire(url, bodies, CONCURRENCY) if s == 200)


def run() -> dict:
    help_s = _help_time()
    qs = c.questions(200)
    m: dict = {}
    with c.tmpdir() as tmp, c.fake_slack() as slack, c.LoadClient() as load:
        c.ingest_subprocess(tmp, c.FAQ_GLOB)
        port = c.free_port()
        env = os.environ.copy() | c.rag_env(tmp, c.FAQ_GLOB) | {
            "SLACK_BOT_TOKEN": slack.bot_token, "SLACK_SIGNING_SECRET": c.SECRET, "SLACK_API_URL": slack.api_url,
            "FAQBOT_STATE_DB": str(tmp / "state.db"), "PORT": str(port), "FAQBOT_RATE_LIMIT": "0",
            "FAQBOT_QUEUE_SIZE": "5000"}
        log = open(tmp / "serve.log", "w")
        t0 = time.perf_counter()
        proc = subprocess.Popen([str(Path(c.PY).with_name("faqbot")), "serve", "--http"], cwd=str(tmp), env=env,
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            ok = c.wait_until(lambda: _health(port)[0] == 200 or proc.poll() is not None, 60, every=0.02)
            m["startup_to_healthz_s"] = round(time.perf_counter() - t0, 3) if ok and proc.poll() is None else None
            if m["startup_to_healthz_s"] is None:
                raise RuntimeError("faqbot serve did not become healthy: " + (tmp / "serve.log").read_text()[-800:])
            time.sleep(1.0)
            m["rss_idle_mb"] = round(c.rss_mb(proc.pid), 1)
            url = f"http://127.0.0.1:{port}/slack/events"
            t1 = time.perf_counter()
            sent = _fire(load, url, FIRST, "a", qs)
            c.wait_until(lambda: _answered(port) >= FIRST, 120, every=0.1)
            m["rss_after_100_mb"] = round(c.rss_mb(proc.pid), 1)
            sent += _fire(load, url, TOTAL - FIRST, "b", qs)
            c.wait_until(lambda: _answered(port) >= TOTAL, 300, every=0.1)
            m["answer_rate_per_s"] = round(_answered(port) / (time.perf_counter() - t1), 1)
            m["rss_after_1000_mb"] = round(c.rss_mb(proc.pid), 1)
            m["answered"] = _answered(port)
            m["acked_200"] = sent
            m["rss_python_only_mb"] = round(c.rss_mb(proc.pid, children=False), 1)
            m["health_stats"] = _health(port)[1].get("stats")
            m["posted_answers"] = len([x for x in slack.calls_to("chat.postMessage") if x.ok])
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
            log.close()
        m["exit_code"] = proc.returncode
    m["help_import_s"] = c.dist_ms(help_s)
    m["help_median_s"] = round(c.median(help_s), 3)
    m["rss_growth_pct_100_to_1000"] = round(100 * (m["rss_after_1000_mb"] / m["rss_after_100_mb"] - 1), 1)
    targets = {"startup_to_healthz_s": "< 3 s", "rss_after_1000_mb": "< 300 MB",
               "rss_growth_pct_100_to_1000": "< 10 %", "help_median_s": "< 1 s", "answered": f"= {TOTAL}"}
    checks = {"startup_to_healthz_s": m["startup_to_healthz_s"] < 3, "rss_after_1000_mb": m["rss_after_1000_mb"] < 300,
              "rss_growth_pct_100_to_1000": m["rss_growth_pct_100_to_1000"] < 10, "help_median_s": m["help_median_s"] < 1,
              "answered": m["answered"] == TOTAL}
    table = [(k, m[k]) for k in ("startup_to_healthz_s", "rss_idle_mb", "rss_after_100_mb", "rss_after_1000_mb",
                                 "rss_growth_pct_100_to_1000", "answered", "answer_rate_per_s", "help_median_s",
                                 "exit_code")]
    return c.report("process", m, targets, checks, table)


if __name__ == "__main__":
    c.main(run)
