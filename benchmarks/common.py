"""Shared set-up for the benchmarks: clean env, temp dirs, fakes, the real bot
in-process, a load generator in a child process, percentiles, RSS sampling,
and the one-JSON-line + table output every benchmark prints.

Everything talks only to 127.0.0.1 and every loop is bounded in count and time.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import math
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DOCS_ZIP = ROOT.parent / "shared" / "data" / "milvus_docs_2.4.x_en.zip"
DEV_QUESTIONS = ROOT.parent / "shared" / "eval" / "dev_questions.jsonl"
FAQ_GLOB = "en/faq/*.md"
ALL_GLOB = "en/**/*.md"
SECRET = "bench-signing-secret-0123456789"
PY = sys.executable


# ---------------------------------------------------------------------------- environment
def clean_env() -> None:
    """No developer .env or real keys: only what a benchmark sets explicitly."""
    for var in list(os.environ):
        if var.startswith(("MILVUS_", "FAQBOT_", "GEMINI_", "SLACK_")) or var == "PORT":
            os.environ.pop(var)
    os.environ["FAQBOT_ENV_FILE"] = "/nonexistent/.env"


_CWD = None


def neutral_cwd() -> None:
    """pydantic-settings reads ./.env: run from an empty folder."""
    global _CWD
    if _CWD is None:
        _CWD = tempfile.mkdtemp(prefix="faqbot-bench-cwd-")
        os.chdir(_CWD)


clean_env()
neutral_cwd()
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")


@contextlib.contextmanager
def tmpdir(prefix: str = "faqbot-bench-"):
    d = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------- statistics
def pct(values, p: float) -> float:
    """Nearest-rank percentile (p in 0..100); nan for an empty list."""
    xs = sorted(values)
    if not xs:
        return float("nan")
    k = max(0, min(len(xs) - 1, math.ceil(p / 100 * len(xs)) - 1))
    return xs[k]


def dist_ms(seconds) -> dict:
    """Seconds -> {n, p50, p90, p99, max, mean} in milliseconds."""
    ms = [s * 1000 for s in seconds]
    if not ms:
        return {"n": 0}
    return {"n": len(ms), "p50": round(pct(ms, 50), 2), "p90": round(pct(ms, 90), 2),
            "p99": round(pct(ms, 99), 2), "max": round(max(ms), 2), "mean": round(statistics.fmean(ms), 2)}


def median(values) -> float:
    return statistics.median(values) if values else float("nan")


# ---------------------------------------------------------------------------- RSS
def rss_mb(pid: int | None = None, children: bool = True) -> float:
    import psutil

    p = psutil.Process(pid)
    total = p.memory_info().rss
    if children:
        for c in p.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                total += c.memory_info().rss
    return total / 2**20


def cpu_seconds(labels: dict[int, str]) -> dict[str, float]:
    """CPU seconds (user + system) used so far by this process and its children, summed by label:
    `labels` names some pids; this process is "bench", the other children "other"."""
    import psutil

    me = psutil.Process()
    out: dict[str, float] = {}
    for p in [me, *me.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            t = p.cpu_times()
            label = "bench" if p.pid == me.pid else labels.get(p.pid, "other")
            out[label] = out.get(label, 0.0) + t.user + t.system
    return out


class PeakRSS:
    """Samples RSS (process + children) in a thread every `every` seconds; `.peak_mb`."""

    def __init__(self, pid: int | None = None, every: float = 0.05):
        self.pid, self.every = pid, every
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            with contextlib.suppress(Exception):
                self.peak_mb = max(self.peak_mb, rss_mb(self.pid))
            self._stop.wait(self.every)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join(2)
        with contextlib.suppress(Exception):
            self.peak_mb = max(self.peak_mb, rss_mb(self.pid))


def maxrss_mb() -> float:
    """Peak RSS of this process so far (Linux ru_maxrss is in KiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---------------------------------------------------------------------------- fakes & RAG
@contextlib.contextmanager
def fake_slack():
    from testkit.fakes.slack_api import FakeSlack

    with FakeSlack() as slack:
        yield slack


def _fake_main(kind: str, latency: float = 0.0) -> None:
    """Child process: a FakeSlack or FakeGemini on 127.0.0.1; prints how to reach it, serves until
    stdin closes, then prints its counters (Slack: {method: calls}; Gemini: request counts)."""
    if kind == "slack":
        from testkit.fakes.slack_api import FakeSlack

        fake = FakeSlack().start()
        info = {"api_url": fake.api_url, "bot_token": fake.bot_token}
    else:
        from testkit.fakes.gemini_server import FakeGemini

        fake = FakeGemini(latency=latency).start()
        info = {"base_url": fake.base_url, "api_key": fake.api_key}
    try:
        print(json.dumps(info), flush=True)
        sys.stdin.read()
        if kind == "slack":
            counts: dict = {}
            for call in list(fake.calls):
                key = call.method + ("" if call.ok else ":failed")
                counts[key] = counts.get(key, 0) + 1
        else:
            counts = {"embed_requests": fake.embed_requests, "generate_requests": fake.generate_requests}
        print(json.dumps(counts), flush=True)
    finally:
        fake.stop()


@contextlib.contextmanager
def _fake_process(kind: str, latency: float = 0.0):
    import subprocess

    code = f"from benchmarks.common import _fake_main; _fake_main({kind!r}, {float(latency)!r})"
    proc = subprocess.Popen([PY, "-c", code], cwd=str(ROOT), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        handle = SimpleNamespace(**json.loads(proc.stdout.readline()), counts={}, pid=proc.pid)
        yield handle
        proc.stdin.close()
        with contextlib.suppress(Exception):
            handle.counts = json.loads(proc.stdout.readline() or "{}")
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


def fake_slack_process():
    """FakeSlack in its own process, so its Python work does not compete for the bot's GIL
    (real Slack is remote). Yields api_url, bot_token and, after the block, `.counts`."""
    return _fake_process("slack")


def fake_gemini_process(latency: float = 0.0):
    """FakeGemini in its own process. Yields base_url, api_key and, after the block, `.counts`."""
    return _fake_process("gemini", latency)


@contextlib.contextmanager
def fake_gemini(latency: float = 0.0):
    from testkit.fakes.gemini_server import FakeGemini

    with FakeGemini(latency=latency) as g:
        yield g


def rag_env(tmp: Path, glob: str = FAQ_GLOB, gemini=None, db: str = "milvus.db") -> dict:
    env = {"MILVUS_URI": str(tmp / db), "FAQBOT_DOCS_SOURCE": str(DOCS_ZIP), "FAQBOT_DOCS_GLOB": glob,
           "FAQBOT_CACHE_DIR": str(tmp / "cache")}
    if gemini is not None:
        env |= {"GEMINI_API_KEY": gemini.api_key, "GEMINI_BASE_URL": gemini.base_url, "GEMINI_TIMEOUT": "30"}
    return env


def pipeline(tmp: Path, glob: str = FAQ_GLOB, gemini=None, db: str = "milvus.db"):
    from rag_core.config import load
    from rag_core.pipeline import Pipeline

    return Pipeline(load(**rag_env(tmp, glob, gemini, db)))


def ingest(tmp: Path, glob: str = FAQ_GLOB, gemini=None, db: str = "milvus.db"):
    """Ingest into tmp/db and close the client (as `faqbot ingest` does); returns the report."""
    p = pipeline(tmp, glob, gemini, db)
    try:
        return p.ingest()
    finally:
        p.store.close()


def ingest_subprocess(tmp: Path, glob: str = FAQ_GLOB, gemini=None, db: str = "milvus.db",
                      timeout: float = 300, extra_env: dict | None = None) -> dict:
    """`faqbot ingest` in its own process, as an operator would run it before starting the bot.

    (Within the ingesting process Milvus Lite keeps the new rows in an unindexed growing segment;
    a fresh process sees them sealed and indexed.) Returns the summary line's key=value pairs."""
    import subprocess

    env = {k: v for k, v in os.environ.items()} | rag_env(tmp, glob, gemini, db) | (extra_env or {})
    faqbot = str(Path(PY).with_name("faqbot"))
    t0 = time.perf_counter()
    proc = subprocess.Popen([faqbot, "ingest"], cwd=str(tmp), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    with PeakRSS(proc.pid) as peak:
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise
    if proc.returncode != 0:
        raise RuntimeError(f"faqbot ingest failed ({proc.returncode}): {stderr.strip()[-500:]}")
    line = [ln for ln in stdout.splitlines() if "chunks=" in ln][-1:] or [""]
    summary = {}
    for tok in line[0].split():
        k, _, v = tok.partition("=")
        if v:
            with contextlib.suppress(ValueError):
                summary[k] = float(v) if "." in v else int(v)
    summary["wall_s"] = time.perf_counter() - t0
    summary["peak_rss_mb"] = round(peak.peak_mb, 1)
    return summary


@contextlib.contextmanager
def running_bot(tmp: Path, slack, gemini=None, glob: str = FAQ_GLOB, ingest: bool = True, worker: bool = True,
                **env):
    """The real bot (Bolt + waitress + workers + Milvus Lite) on 127.0.0.1, via testkit.bot_harness.

    The collection is first ingested by `faqbot ingest` in a subprocess (as in production)."""
    import testkit.bot_harness as bh

    bh.SECRET = SECRET  # read by BotHarness.__init__: one signing secret everywhere
    if ingest:
        ingest_subprocess(tmp, glob, gemini)
    # as `faqbot serve` runs by default: answers in its child worker process (the harness's default is threads);
    # worker=False: a serve replica that only acknowledges
    env = {"FAQBOT_DOCS_GLOB": glob, "FAQBOT_ANSWER_PROCESS": "true", **{k: str(v) for k, v in env.items()}}
    h = bh.BotHarness(tmp, slack, gemini, ingest=False, **env)
    h.start(worker=worker)
    try:
        yield h
    finally:
        if worker:
            with contextlib.suppress(Exception):
                h.idle(60)
        h.stop()


@contextlib.contextmanager
def bare_bolt(slack):
    """The floor: a bare Bolt App that does nothing, on the same waitress settings as the bot."""
    from slack_bolt import App
    from slack_sdk import WebClient

    from bot.serve import make_server

    app = App(client=WebClient(token=slack.bot_token, base_url=slack.api_url), signing_secret=SECRET,
              token_verification_enabled=False, process_before_response=True)

    @app.event("app_mention")
    def _noop():
        pass

    from slack_bolt.adapter.wsgi import SlackRequestHandler

    server = make_server(SlackRequestHandler(app, path="/slack/events"), 0, host="127.0.0.1")
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    try:
        yield SimpleNamespace(url=f"http://127.0.0.1:{server.effective_port}/slack/events", app=app)
    finally:
        server.close()


# ---------------------------------------------------------------------------- Slack requests
def mention_envelope(text: str, user: str = "U1", channel: str = "C1") -> dict:
    from testkit.fakes import slack_payloads as sp

    ev = sp.app_mention(f"<@UBOT> {text}", channel=channel, user=user)
    return sp.event_callback(ev, event_id="Ev" + uuid.uuid4().hex[:12].upper())


def sign_headers(body: bytes) -> dict:
    from testkit.fakes import slack_payloads as sp

    h = {"Content-Type": "application/json", "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)"}
    h.update(sp.sign(SECRET, body))
    return h


def post_once(url: str, body: bytes, timeout: float = 30.0) -> tuple[int, float, float]:
    """One signed POST on a fresh connection (like Slack). Returns (status, wall start, seconds)."""
    u = urlsplit(url)
    headers = sign_headers(body)
    wall = time.time()
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        conn.request("POST", u.path, body=body, headers=headers)
        resp = conn.getresponse()
        resp.read()
        status = resp.status
    except Exception:
        status = -1
    finally:
        conn.close()
    return status, wall, time.perf_counter() - t0


def _fire(url: str, bodies: list[bytes], concurrency: int, timeout: float = 30.0) -> list[tuple[int, float, float]]:
    """Send `bodies` with `concurrency` sender threads; results in body order."""
    out: list = [None] * len(bodies)
    it = iter(range(len(bodies)))
    lock = threading.Lock()
    start = threading.Barrier(concurrency)

    def sender():
        start.wait()
        while True:
            with lock:
                i = next(it, None)
            if i is None:
                return
            out[i] = post_once(url, bodies[i], timeout)

    threads = [threading.Thread(target=sender, daemon=True) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout * 4)
    return [r if r is not None else (-2, 0.0, float("nan")) for r in out]


class LoadClient:
    """Runs the senders in a separate process so they don't share the server's GIL."""

    def __init__(self):
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        self.pool = ProcessPoolExecutor(1, mp_context=mp.get_context("spawn"))
        self.pool.submit(time.sleep, 0).result(60)  # warm the child

    def fire(self, url: str, bodies: list[bytes], concurrency: int, timeout: float = 30.0):
        return self.pool.submit(_fire, url, bodies, concurrency, timeout).result(timeout * 10 + 60)

    def close(self):
        self.pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def wait_until(pred, timeout: float, every: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(every)
    return bool(pred())


def answer_times(slack, ts: str) -> dict:
    """From the FakeSlack record: when the 👀 reaction and the answer (first post, last edit) landed
    for the question posted at `ts` (wall-clock seconds, or None)."""
    react = post = last = None
    reply_ts = None
    posts = 0
    for call in list(slack.calls):
        p = call.params
        if call.method == "reactions.add" and p.get("timestamp") == ts and react is None:
            react = call.time
        elif call.method in ("chat.postMessage", "chat.startStream") and p.get("thread_ts") == ts and call.ok:
            posts += 1  # a posted reply, or a natively streamed one (`faqbot serve`'s default)
            if post is None:
                post, reply_ts = call.time, call.response.get("ts")
            last = call.time
        elif (call.method in ("chat.update", "chat.appendStream", "chat.stopStream") and reply_ts
              and p.get("ts") == reply_ts and call.ok):
            last = max(last or 0, call.time)
    return {"reaction": react, "first_post": post, "final": last, "posts": posts}


# ---------------------------------------------------------------------------- questions
HAND_QUESTIONS = [
    "How do I install Milvus?", "What is the maximum vector dimension?", "Which index types are supported?",
    "How much does Milvus cost?", "Where does Milvus store data?", "Can I insert and search at the same time?",
    "What is the difference between FLAT and IVF_FLAT?", "How do I delete entities by primary key?",
    "Does Milvus support GPU?", "What is a partition and when should I use it?", "How to tune nprobe?",
    "Why is my search slow?", "How do I back up a collection?", "What does consistency level mean?",
    "How many collections can I create?", "What distance metrics are available?", "Is there a Java SDK?",
    "How do I upgrade from Milvus 2.3 to 2.4?", "What is Milvus Lite?", "how to use bm25 full text search",
    "what is a growing segment", "Can Milvus run on Kubernetes?", "How do I set up authentication and RBAC?",
    "what happens when I drop a collection", "maximum length of a varchar field",
    "Does Milvus support hybrid search with sparse and dense vectors?", "How do I load a collection into memory?",
    "Why do I get 'collection not loaded'?", "what is the default port", "HNSW parameters M and efConstruction",
    "Can I change the schema after creating a collection?", "How do I use dynamic fields?",
    "What are the hardware requirements?", "How to monitor Milvus with Prometheus and Grafana?",
    "Is Milvus open source and what licence?", "upsert vs insert", "range search radius",
    "How is data sharded across nodes?", "Can I filter by scalar fields during search?", "DiskANN memory usage",
]


def questions(n: int = 200, tmp: Path | None = None) -> list[str]:
    """A varied list: dev questions, hand-written ones, then FAQ headings — `n` in all (cycled if short)."""
    qs = []
    if DEV_QUESTIONS.exists():
        for line in DEV_QUESTIONS.read_text().splitlines():
            if line.strip():
                qs.append(json.loads(line)["q"])
    qs += HAND_QUESTIONS
    with contextlib.suppress(Exception):
        from rag_core.chunking import chunk_documents
        from rag_core.sources import load_documents

        for c in chunk_documents(load_documents(str(DOCS_ZIP), FAQ_GLOB, (tmp or Path(_CWD)) / "cache")):
            if c.heading and c.heading.endswith("?"):
                qs.append(c.heading)
    seen, out = set(), []
    for q in qs:
        if q not in seen:
            seen.add(q)
            out.append(q)
    return [out[i % len(out)] for i in range(n)] if out else []


# ---------------------------------------------------------------------------- output
def report(name: str, metrics: dict, targets: dict, checks: dict, table: list[tuple]) -> dict:
    """Print one JSON line and a short human table; return the result dict.

    targets: metric -> human target ("< 50 ms"); checks: metric -> bool (pass)."""
    result = {"bench": name, **metrics, "targets": targets, "pass": checks}
    print(json.dumps(result, default=_json_default), flush=True)
    print_table(f"{name}", ["metric", "value", "target", "ok"], [
        (m, v, targets.get(m, ""), _ok(checks.get(m))) for m, v in table])
    return result


def _json_default(o):
    if isinstance(o, float) and (math.isnan(o) or math.isinf(o)):
        return None
    return str(o)


def _ok(v) -> str:
    return "" if v is None else ("yes" if v else "NO")


def fmt(v) -> str:
    if isinstance(v, float):
        if math.isnan(v):
            return "n/a"
        return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"
    return str(v)


def print_table(title: str, header: list[str], rows: list[tuple]) -> None:
    rows = [[fmt(c) for c in r] for r in rows]
    widths = [max(len(str(h)), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    line = "  ".join("-" * w for w in widths)
    print(f"\n== {title}")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    print(line)
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))
    print(flush=True)


def main(run) -> None:
    """`python -m benchmarks.bench_x` entry: run() prints its own JSON line + table."""
    import logging

    logging.basicConfig(level=logging.WARNING)
    for noisy in ("bot", "rag_core", "slack_bolt", "slack_sdk", "waitress", "httpx", "google_genai"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    run()
