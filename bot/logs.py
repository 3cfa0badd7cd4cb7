"""Process logging: readable lines by default, one JSON object per line with FAQBOT_LOG_FORMAT=json
(for log collectors). Secrets never reach a log record in the first place (tests scan for them)."""

from __future__ import annotations

import json
import logging
import time

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# HTTP clients log every request at INFO (one line per Gemini call): at 100 answers at once the threads
# queued on the log handler's lock (py-spy on `make bench` throughput). Their warnings still show.
QUIET = ("httpx", "httpx2", "httpcore", "httpcore2", "google_genai.models", "google_genai._api_client")


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {"ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
               "level": record.levelname.lower(), "logger": record.name, "msg": record.getMessage(),
               "process": record.process}
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def configure(log_format: str = "text", level: int = logging.INFO) -> None:
    """Set up the root logger of a process (serve, and its answer process) like
    logging.basicConfig: nothing changes when something else configured it already."""
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(JSONFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    root.addHandler(handler)
    root.setLevel(level)
    for name in QUIET:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
