"""One process's answering side, wired: the pipeline (Milvus, Gemini), the Slack client, the
responder and the worker that claims jobs for it. `faqbot worker` runs one; `faqbot serve` on one
machine runs one in a child process (local_worker.py), or on threads with FAQBOT_ANSWER_PROCESS=false.
"""

from __future__ import annotations

import logging
import threading
import time

from .ackgate import no_pause
from .posting import Poster
from .reply import Responder
from .worker import Worker

log = logging.getLogger(__name__)


def warm_up(pipeline) -> None:
    """Open Milvus and build the embedder/answerer before the first question (never fatal)."""
    try:
        pipeline.warm_up()
    except Exception as exc:  # Milvus down at start: /healthz says degraded, answers apologise
        log.warning("warm-up failed (will retry on the first question): %s", exc)


def check_milvus(pipeline) -> str:
    """At start: a locked Lite file is fatal (StoreLocked propagates); a server that is down is
    not — "unavailable: <why>" is returned and logged, and answers resume when it is back."""
    from rag_core.store import StoreError, StoreLocked

    try:
        pipeline.store.ping()
        return "ok"
    except StoreLocked:
        raise
    except StoreError as exc:
        log.warning("starting degraded — %s (answers resume when Milvus is back)", exc)
        return f"unavailable: {str(exc)[:200]}"


def milvus_status(store) -> str:
    """"ok" or "unavailable: <why>" (what /healthz reports)."""
    try:
        store.ping()
        return "ok"
    except Exception as exc:
        return f"unavailable: {str(exc)[:200]}"


class Answering:
    def __init__(self, pipeline, bot_settings, store, client, bot_user_id: str | None, owner: str, pause=no_pause):
        self.pipeline, self.settings, self.store = pipeline, bot_settings, store
        poster = Poster(client, store, bot_user_id)
        self.responder = Responder(poster, pipeline, bot_settings, bot_user_id, pause=pause)
        self.worker = Worker(store, self.responder.handle, poster.notify, owner,
                             concurrency=bot_settings.workers, lease_s=bot_settings.lease_s,
                             answer_within_s=bot_settings.answer_within_s, pause=pause)
        self._milvus, self._checked = "unknown", 0.0
        self._lock = threading.Lock()
        self._reindexer = None

    def start(self) -> "Answering":
        from .reindex import start_reindexer

        threading.Thread(target=self._warm_up, name="warm-up", daemon=True).start()
        self._reindexer = start_reindexer(self.pipeline, self.settings.reindex_seconds, after=self.publish_versions)
        self.worker.start()
        return self

    def _warm_up(self) -> None:
        warm_up(self.pipeline)
        self.publish_versions()

    def publish_versions(self) -> None:
        """The indexed docs versions into the job store, for the App Home and `faqbot report`
        (whoever publishes them must not open Milvus: a Lite file opens from one process only)."""
        from .meta import save_docs_versions

        try:
            save_docs_versions(self.store, self.pipeline)
        except Exception as exc:  # Milvus or the store down: the next re-index or restart tries again
            log.info("docs versions not published to the job store: %s", exc)

    def milvus(self) -> str:
        """Milvus health, checked at most every 2 s."""
        with self._lock:
            if time.monotonic() - self._checked > 2.0:
                self._milvus = milvus_status(self.pipeline.store)
                self._checked = time.monotonic()
            return self._milvus

    def status(self) -> dict:
        errors = {f"error_{k}": n for k, n in self.responder.errors.items()}
        return {"milvus": self.milvus(), "in_flight": self.worker.in_flight, "stats": dict(self.worker.stats) | errors}

    def stop(self, drain_s: float = 10.0) -> None:
        if self._reindexer is not None:
            self._reindexer.stop.set()
        self.worker.stop(drain_s)
        try:
            self.pipeline.store.close()
        except Exception as exc:
            log.warning("closing Milvus: %s", exc)
