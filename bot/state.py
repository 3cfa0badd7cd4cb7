"""The current bot's view of its SQLite state (compatibility: the logic lives in bot/jobstore/sqlite.py).

`State` is the SQLite job store with the methods today's bot calls: `start`/`finish` without a lease
owner (one machine, one answer process), `unfinished`, `counts`, and `save_answer(answer_id, job,
answer)` taking the pipeline's Answer. New code uses `bot.jobstore` (claim/heartbeat/finish with owners).
"""

from __future__ import annotations

import time

from .jobstore import Job, Outcome, job_from_row
from .jobstore.sqlite import POOL_SIZE, SQLiteJobStore, _WriteLock  # noqa: F401  (importable from here, as before)

OPEN = ("queued", "running")

__all__ = ["OPEN", "POOL_SIZE", "Job", "State"]


class State(SQLiteJobStore):
    def start(self, job_id: int) -> None:
        self._statement("UPDATE jobs SET status='running', attempts=attempts+1, updated=? WHERE id=?",
                        (time.time(), job_id))

    def finish(self, job_id: int, status: str = "done", error: str | None = None,  # type: ignore[override]
               urgent: bool = False) -> None:
        """Any status, no owner check (the old bot also stores rate_limited, busy, expired)."""
        self.update(job_id, status=str(status), error=error, lease_until=None, urgent=urgent)

    def unfinished(self) -> list[Job]:
        rows = self._read("SELECT * FROM jobs WHERE status IN ('queued','running') ORDER BY id")
        return [job_from_row(r) for r in rows]

    def counts(self) -> dict[str, int]:
        return self.stats()["by_status"]

    def save_answer(self, answer_id: str, job: Job, answer) -> None:  # type: ignore[override]
        """The pipeline's Answer, with what the insights report needs (outcome, version, latency)."""
        mode = getattr(answer, "mode", "") or ""
        if mode == "gemini":
            outcome = Outcome.GEMINI
        elif getattr(answer, "confident", True):
            outcome = Outcome.EXTRACTIVE
        else:
            outcome = Outcome.NOT_COVERED
        latency = round(time.time() - job.created, 3) if job.created else None
        super().save_answer(answer_id, job, answer=answer.answer, mode=mode, outcome=outcome,
                            sources=list(answer.sources or []), version=getattr(answer, "version", None),
                            latency_s=latency)

