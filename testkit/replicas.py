"""The bot as replicas: `faqbot serve` and `faqbot worker` as real subprocesses on their own ports,
sharing one PostgreSQL job store and one Milvus server (tests/test_replicas.py, benchmarks/bench_replicas.py).

    rag = rag_env(milvus_uri=milvus.uri, docs_zip=zip, cache=tmp / "cache")
    ingest(rag, tmp)                           # `faqbot ingest` once, into the Milvus server
    env = bot_env(slack, rag, state_url=url)
    with Replicas(tmp, env) as r:
        a, b = r.serve(), r.serve()            # `python -m faqbot serve --http`, each on a free PORT
        w1 = r.worker(FAQBOT_WORKERS="8")      # `python -m faqbot worker`
        r.wait_healthy()
        a.post(envelope)                       # a signed Events API request -> HTTP status
        w1.kill()                              # kill -9
    # every process still running is stopped (SIGTERM, then SIGKILL) when the block ends

Every subprocess gets PYTHONPATH = this checkout, so it runs the code under test.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from testkit.fakes import slack_payloads as sp
from testkit.milvus_server import free_port

ROOT = Path(__file__).resolve().parents[1]
SECRET = "test-signing-secret-0123456789"
OUR_VARS = ("MILVUS_", "FAQBOT_", "GEMINI_", "SLACK_")


def rag_env(*, milvus_uri: str, docs_zip: Path, cache: Path) -> dict:
    """This checkout and the docs in one Milvus (server) collection, nothing else of ours: keyless
    (FAQBOT_EMBEDDER=none: BM25 retrieval), so keyless replicas and those with Gemini share it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(OUR_VARS) and k != "PORT"}
    return env | {"PYTHONPATH": str(ROOT), "FAQBOT_ENV_FILE": "/nonexistent/.env", "MILVUS_URI": milvus_uri,
                  "FAQBOT_EMBEDDER": "none", "FAQBOT_DOCS_SOURCE": str(docs_zip), "FAQBOT_CACHE_DIR": str(cache),
                  "GRPC_VERBOSITY": "ERROR"}


def bot_env(slack, rag: dict, *, state_url: str, secret: str = SECRET, gemini=None, **extra) -> dict:
    """The environment of every replica: `rag_env`, the fake Slack (an object with bot_token and
    api_url), the shared state database; no rate limit, a deep queue. Extractive answers unless
    `gemini` (a FakeGemini, or anything with api_key and base_url) is given."""
    env = rag | {"SLACK_BOT_TOKEN": slack.bot_token, "SLACK_SIGNING_SECRET": secret, "SLACK_API_URL": slack.api_url,
                 "FAQBOT_STATE_URL": state_url, "FAQBOT_RATE_LIMIT": "0", "FAQBOT_QUEUE_SIZE": "10000"}
    if gemini is not None:
        env |= {"GEMINI_API_KEY": gemini.api_key, "GEMINI_BASE_URL": gemini.base_url}
    return env | {k: str(v) for k, v in extra.items()}


def ingest(env: dict, cwd: Path, timeout: float = 300) -> None:
    """`faqbot ingest` into env's MILVUS_URI, as an operator runs it before starting the replicas."""
    proc = subprocess.run([sys.executable, "-m", "faqbot", "ingest"], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"faqbot ingest failed ({proc.returncode}): {proc.stderr[-2000:]}")


class Replica:
    """One `faqbot serve` or `faqbot worker` process."""

    def __init__(self, role: str, name: str, args: list[str], env: dict, cwd: Path, secret: str):
        self.role, self.name, self.secret = role, name, secret
        self.port = free_port()
        self.log_path = cwd / f"{name}.log"
        self._log = open(self.log_path, "wb")
        self.killed = False
        self.proc = subprocess.Popen([sys.executable, "-m", "faqbot", *args], env=env | {"PORT": str(self.port)},
                                     cwd=cwd, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.pid = self.proc.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/slack/events"

    def health(self) -> tuple[int, dict]:
        """(status, body) of GET /healthz; (0, {}) while nothing listens."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2) as r:
                return r.status, json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"{}")
        except (OSError, ValueError):
            return 0, {}

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as r:
            return r.read().decode()

    def post(self, envelope: dict, retry_num: int | None = None, timeout: float = 15) -> int:
        """A signed Events API request, as Slack sends it; the HTTP status (-1: no answer in time)."""
        try:
            status, _, _ = sp.post_signed(self.url, json.dumps(envelope).encode(), "application/json", self.secret,
                                          retry_num=retry_num, timeout=timeout)
            return status
        except OSError:
            return -1

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """kill -9: no drain, no release; its leases run out."""
        self.killed = True
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self, timeout: float = 15) -> int | None:
        """SIGTERM (drain, release), then SIGKILL after `timeout`."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()
        return self.proc.returncode


class Replicas:
    """Starts replicas and stops every one of them at the end (a `with` block, or stop_all())."""

    def __init__(self, cwd: Path, env: dict, secret: str = SECRET):
        self.cwd, self.env, self.secret = Path(cwd), env, secret
        self.all: list[Replica] = []

    def serve(self, http: bool = True, **env) -> Replica:
        return self._start("serve", ["serve"] + (["--http"] if http else []), env)

    def worker(self, **env) -> Replica:
        return self._start("worker", ["worker"], env)

    def _start(self, role: str, args: list[str], env: dict) -> Replica:
        name = f"{role}{sum(r.role == role for r in self.all) + 1}"
        replica = Replica(role, name, args, self.env | {k: str(v) for k, v in env.items()}, self.cwd, self.secret)
        self.all.append(replica)
        return replica

    def wait_healthy(self, replicas: list[Replica] | None = None, timeout: float = 60) -> None:
        pending = list(replicas if replicas is not None else [r for r in self.all if not r.killed])
        deadline = time.monotonic() + timeout
        while pending:
            for r in list(pending):
                if not r.alive():
                    raise RuntimeError(f"{r.name} exited ({r.proc.returncode}):\n{r.log()[-3000:]}")
                if r.health()[0] == 200:
                    pending.remove(r)
            if pending and time.monotonic() > deadline:
                raise TimeoutError("not healthy in time: " + "; ".join(
                    f"{r.name} {r.health()} {r.log()[-1500:]}" for r in pending))
            time.sleep(0.1)

    def stop_all(self) -> None:
        for r in self.all:  # SIGTERM all first: they drain in parallel
            if r.alive():
                r.proc.send_signal(signal.SIGTERM)
        for r in self.all:
            r.stop()

    def __enter__(self) -> "Replicas":
        return self

    def __exit__(self, *exc) -> None:
        self.stop_all()
