"""FAQBOT_REINDEX_INTERVAL: the running bot re-ingests the docs in the background.

Milvus Lite lets only one process open the .db file, so the bot (its answer
process holds it) does the incremental ingest itself; answers keep flowing meanwhile.
"""

from __future__ import annotations

import logging
import threading

log = logging.getLogger(__name__)


def start_reindexer(pipeline, interval_s: int | None, after=None) -> threading.Thread | None:
    """Re-ingest every `interval_s`; `after()` runs after each successful re-index."""
    if not interval_s:
        return None
    stop = threading.Event()

    def loop():
        while not stop.wait(interval_s):
            try:
                log.info("re-index done: %s", pipeline.ingest().summary())
                if after is not None:
                    after()
            except Exception as exc:  # keep serving; try again next time
                log.error("re-index failed (will retry in %ss): %s", interval_s, exc)

    thread = threading.Thread(target=loop, name="reindex", daemon=True)
    thread.stop = stop  # type: ignore[attr-defined]
    thread.start()
    return thread
