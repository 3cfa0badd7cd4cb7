"""The `faqbot` CLI as a user runs it: subprocesses, real Milvus Lite, one-line errors."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FAQBOT = [sys.executable, "-m", "faqbot"]


def run(args, env=None, cwd=None, stdin=subprocess.DEVNULL, timeout=120, module=None):
    full_env = {k: v for k, v in os.environ.items()
                if not k.startswith(("MILVUS_", "FAQBOT_", "GEMINI_", "SLACK_"))}
    full_env["PYTHONPATH"] = str(ROOT)
    full_env.update(env or {})
    cmd = [sys.executable, "-m", module] if module else FAQBOT + list(args)
    return subprocess.run(cmd, env=full_env, cwd=cwd, stdin=stdin, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture
def env(tmp_path, docs_zip):
    return {"MILVUS_URI": str(tmp_path / "m.db"), "FAQBOT_DOCS_SOURCE": str(docs_zip),
            "FAQBOT_CACHE_DIR": str(tmp_path / "cache"), "FAQBOT_STATE_DB": str(tmp_path / "state.db")}


def one_line_error(proc, *needles):
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_help_lists_the_commands():
    proc = run(["--help"])
    assert proc.returncode == 0
    for command in ("ingest", "search", "ask", "chat", "eval", "serve", "doctor"):
        assert command in proc.stdout


def test_ingest_twice_search_ask_eval(env, tmp_path):
    first = run(["ingest"], env, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "files=4" in first.stdout and "added=" in first.stdout and "embedding_calls=0" in first.stdout
    second = run(["ingest"], env, cwd=tmp_path)
    assert "added=0 updated=0 deleted=0 embedding_calls=0" in second.stdout
    assert second.stderr.strip() == ""

    search = json.loads(run(["search", "Can I install Milvus on Windows?", "--json"], env, cwd=tmp_path).stdout)
    assert search["mode"] == "bm25" and len(search["results"]) == 3
    assert set(search["results"][0]) >= {"id", "text", "title", "heading", "source", "url", "score"}

    ask = run(["ask", "How is data stored in milvus?"], env, cwd=tmp_path)
    assert ask.returncode == 0
    assert "MinIO" in ask.stdout and "etcd" in ask.stdout and "https://milvus.io/docs/" in ask.stdout
    data = json.loads(run(["ask", "How is data stored in milvus?", "--json"], env, cwd=tmp_path).stdout)
    assert data["mode"] == "extractive" and data["retrieval"]["mode"] == "bm25"
    assert set(data) >= {"question", "answer", "mode", "sources", "retrieval", "timings_ms"}
    assert set(data["sources"][0]) == {"title", "heading", "url"}

    from tests.conftest import DEV_QUESTIONS

    ev = run(["eval", str(DEV_QUESTIONS)], env, cwd=tmp_path)
    assert ev.returncode == 0 and "recall@3" in ev.stdout and "bm25" in ev.stdout


@pytest.mark.parametrize("var,value,needle", [
    ("FAQBOT_TOP_K", "abc", "FAQBOT_TOP_K"),
    ("FAQBOT_TOP_K", "0", "FAQBOT_TOP_K"),
    ("GEMINI_EMBEDDING_DIM", "12", "GEMINI_EMBEDDING_DIM"),
    ("FAQBOT_EMBEDDER", "openai", "FAQBOT_EMBEDDER"),
    ("MILVUS_URI", "ftp://nope", "MILVUS_URI"),
    ("MILVUS_COLLECTION", "bad-name!", "MILVUS_COLLECTION"),
])
def test_bad_config_is_one_line_naming_the_variable(env, tmp_path, var, value, needle):
    one_line_error(run(["search", "x"], env | {var: value}, cwd=tmp_path), needle)


def test_gemini_embedder_without_key_is_explained(env, tmp_path):
    one_line_error(run(["search", "x"], env | {"FAQBOT_EMBEDDER": "gemini"}, cwd=tmp_path), "GEMINI_API_KEY")


def test_unreachable_milvus_server(env, tmp_path):
    proc = run(["ingest"], env | {"MILVUS_URI": "http://127.0.0.1:9"}, cwd=tmp_path)
    one_line_error(proc, "MILVUS_URI=http://127.0.0.1:9")


def test_bad_sources_are_one_line(env, tmp_path):
    one_line_error(run(["ingest", "--source", str(tmp_path / "nope.zip")], env, cwd=tmp_path), "no such file")
    one_line_error(run(["ingest", "--glob", "en/none/*.md"], env, cwd=tmp_path), "FAQBOT_DOCS_GLOB")


def test_ingest_against_a_file_held_by_another_process_names_the_fixes(env, tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys,time; from pymilvus import MilvusClient; MilvusClient(sys.argv[1]); print('ready', flush=True);"
         " time.sleep(60)", env["MILVUS_URI"]],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        proc = run(["ingest"], env, cwd=tmp_path)
        one_line_error(proc, "another process", "Stop the bot", "Milvus server", "FAQBOT_REINDEX_INTERVAL")
    finally:
        holder.kill()
        holder.wait()


def test_search_before_ingest_and_doctor(env, tmp_path):
    one_line_error(run(["search", "x"], env, cwd=tmp_path), "does not exist", "faqbot ingest")
    doctor = run(["doctor"], env, cwd=tmp_path)
    assert doctor.returncode == 1 and "FAIL collection" in doctor.stdout and "faqbot ingest" in doctor.stdout
    run(["ingest"], env, cwd=tmp_path)
    doctor = run(["doctor"], env, cwd=tmp_path)
    assert doctor.returncode == 0, doctor.stdout
    assert "ok   milvus" in doctor.stdout and "skip gemini" in doctor.stdout


def test_make_run_without_slack_and_without_a_terminal_explains(env, tmp_path):
    proc = run([], env, cwd=tmp_path, module="bot.run", timeout=180)
    assert proc.returncode != 0
    assert "SLACK_BOT_TOKEN" in proc.stderr and "Traceback" not in proc.stderr


def test_serve_http_refuses_to_start_without_signing_secret(env, tmp_path):
    proc = run(["serve", "--http"], env | {"SLACK_BOT_TOKEN": "xoxb-1-2"}, cwd=tmp_path)
    one_line_error(proc, "SLACK_SIGNING_SECRET")
    proc = run(["serve"], env, cwd=tmp_path)
    one_line_error(proc, "SLACK_BOT_TOKEN")


def test_make_run_on_a_terminal_opens_chat(env, tmp_path):
    """Without Slack settings but with a terminal, `make run` explains and opens `faqbot chat`."""
    import pty
    import select

    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("MILVUS_", "FAQBOT_", "GEMINI_", "SLACK_"))}
    full_env |= env | {"PYTHONPATH": str(ROOT)}
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "bot.run"], env=full_env, cwd=tmp_path,
                            stdin=follower, stdout=follower, stderr=follower)
    os.close(follower)
    seen = b""

    def read_until(marker: bytes, timeout: float = 90) -> bytes:
        nonlocal seen
        deadline = time.monotonic() + timeout
        while marker not in seen and time.monotonic() < deadline:
            if select.select([leader], [], [], 0.5)[0]:
                try:
                    seen += os.read(leader, 65536)
                except OSError:
                    break
        assert marker in seen, seen.decode(errors="replace")[-2000:]
        return seen

    try:
        read_until(b"milvus> ")
        assert b"SLACK_BOT_TOKEN" in seen and b"ingesting" in seen
        os.write(leader, b"How is data stored in milvus?\n")
        read_until(b"https://milvus.io/docs/")
        assert b"MinIO" in seen
        os.write(leader, b"\n")
        assert proc.wait(30) == 0
    finally:
        proc.kill()
        os.close(leader)


def test_env_example_loads_as_a_dotenv(tmp_path):
    """Copying .env.example to .env must give a working configuration (empty = default)."""
    (tmp_path / ".env").write_text((ROOT / ".env.example").read_text())
    proc = subprocess.run([sys.executable, "-c",
                           "from rag_core.config import load; from bot.settings import load_bot_settings;"
                           "s = load(); b = load_bot_settings(); print(s.top_k, s.embedder, b.workers, b.port)"],
                          cwd=tmp_path, capture_output=True, text=True,
                          env={k: v for k, v in os.environ.items()
                               if not k.startswith(("MILVUS_", "FAQBOT_", "GEMINI_", "SLACK_"))}
                          | {"PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["3", "none", "128", "3000"]


def test_wrong_kind_of_slack_token_names_the_variable(env, tmp_path):
    one_line_error(run(["serve"], env | {"SLACK_BOT_TOKEN": "xapp-1-2"}, cwd=tmp_path),
                   "SLACK_BOT_TOKEN is invalid: expected a bot token starting with xoxb-")


def test_make_run_with_slack_ingests_then_serves_and_stops_cleanly(env, tmp_path, slack):
    """`make run` on an empty collection: ingest in this process, then `faqbot serve` whose answer
    process opens the same Lite file; Ctrl-C stops both cleanly (no traceback)."""
    import signal
    import urllib.request

    import psutil

    from testkit.bot_harness import SECRET, wait_until
    from testkit.fakes import slack_payloads as sp
    from testkit.milvus_server import free_port

    port = free_port()
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("MILVUS_", "FAQBOT_", "GEMINI_", "SLACK_"))}
    full_env |= env | {"PYTHONPATH": str(ROOT), "PORT": str(port), "SLACK_BOT_TOKEN": slack.bot_token,
                       "SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": slack.api_url}
    log = open(tmp_path / "run.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "bot.run"], env=full_env, cwd=tmp_path,
                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)  # its own process group, like a terminal's job

    def healthy():
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                return r.status == 200
        except Exception:
            return False

    try:
        wait_until(lambda: healthy() or proc.poll() is not None, 120)
        assert proc.poll() is None, (tmp_path / "run.log").read_text()[-2000:]
        children = psutil.Process(proc.pid).children()
        assert children  # the answer process
        event = sp.app_mention("<@UBOT> How is data stored in milvus?", channel="C1")
        status, _, _ = sp.post_signed(f"http://127.0.0.1:{port}/slack/events",
                                      json.dumps(sp.event_callback(event)).encode(), "application/json", SECRET)
        assert status == 200
        post = slack.wait_for("chat.postMessage", 1, timeout=30)[0]
        assert post.params["thread_ts"] == event["ts"] and "milvus.io" in json.dumps(post.params)
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: the whole group gets it, the answer process too
        assert proc.wait(30) == 0
        wait_until(lambda: not any(c.is_running() and c.status() != psutil.STATUS_ZOMBIE for c in children), 10)
    finally:
        proc.kill()
        log.close()
    text = (tmp_path / "run.log").read_text()
    assert "ingesting the docs first" in text and "Traceback" not in text
    assert slack.bot_token not in text and SECRET not in text


def test_serve_on_a_taken_port_is_one_line_naming_port(env, tmp_path, slack):
    import socket

    from testkit.bot_harness import SECRET

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        t0 = time.monotonic()
        proc = run(["serve", "--http"], env | {"PORT": str(port), "SLACK_BOT_TOKEN": slack.bot_token,
                                               "SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": slack.api_url},
                   cwd=tmp_path, timeout=60)
    one_line_error(proc, "PORT", str(port))
    assert time.monotonic() - t0 < 30  # nothing left behind to wait for
