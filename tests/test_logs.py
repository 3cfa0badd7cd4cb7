"""FAQBOT_LOG_FORMAT=json: one JSON object per log line, from a real `faqbot serve`."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from bot.logs import JSONFormatter

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_json_formatter_writes_one_object_per_record():
    record = logging.LogRecord("bot.serve", logging.WARNING, __file__, 1, "queue %s is %d deep", ("q", 3), None)
    line = JSONFormatter().format(record)
    data = json.loads(line)
    assert data["level"] == "warning" and data["logger"] == "bot.serve" and data["msg"] == "queue q is 3 deep"
    assert "\n" not in line and data["ts"].endswith("Z")


def test_serve_logs_json_lines(tmp_path, slack, docs_zip):
    from testkit.bot_harness import SECRET

    env = {k: v for k, v in os.environ.items() if not k.startswith(("MILVUS_", "FAQBOT_", "GEMINI_", "SLACK_"))}
    env |= {"PYTHONPATH": str(ROOT), "MILVUS_URI": str(tmp_path / "m.db"), "FAQBOT_DOCS_SOURCE": str(docs_zip),
            "FAQBOT_CACHE_DIR": str(tmp_path / "cache"), "FAQBOT_STATE_DB": str(tmp_path / "state.db"),
            "SLACK_BOT_TOKEN": slack.bot_token, "SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": slack.api_url,
            "FAQBOT_LOG_FORMAT": "json", "FAQBOT_ANSWER_PROCESS": "false"}
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "faqbot", "serve", "--http", "--port", str(port)], env=env,
                            cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        lines = []
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            lines.append(line)
            if "HTTP mode" in line:
                break
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    # native libraries (gRPC) may write their own lines to stderr; every Python log record is JSON
    records = [json.loads(x) for x in lines if x.startswith("{")]
    assert not [x for x in lines if " INFO " in x and not x.startswith(("{", "I1", "E1", "W1"))], lines
    assert records and any("HTTP mode" in r["msg"] for r in records)
    assert all({"ts", "level", "logger", "msg"} <= set(r) for r in records)
    assert slack.bot_token not in "".join(lines) and SECRET not in "".join(lines)
