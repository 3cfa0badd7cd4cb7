"""A scripted week of questions in a job store, for the insights tests and the README.

Answered by AI, extractive answers, "not covered" (retrieval not confident, or an answer that says the docs
don't cover it, in the wordings Gemini uses), failed jobs, 👍 and 👎 — and five people asking about upgrading
from 2.5 to 2.6 in their own words. A few older questions make the 30 days differ from the 7. Outcomes are
decided by bot.insights.classify_outcome, as the bot does.

    python -m testkit.sample_week --home-json              # the admin Home view (Block Kit JSON) of a sample week
    python -m testkit.sample_week --state-db /tmp/week.db  # a SQLite state DB for `faqbot report`

Rows are backdated after they are written (the stores stamp the current time): memory and SQLite stores only.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bot import meta
from bot.insights import classify_outcome
from bot.jobstore import JobStatus
from bot.jobstore.memory import MemoryJobStore
from bot.jobstore.sqlite import SQLiteJobStore

DAY_S = 86400
OWNER = "sample/week"
ADMIN = "U0ADMIN01"
WORKSPACE_URL = "https://acme.slack.com/"
PEOPLE = {name: f"U0{name.upper()}01" for name in
          ("alice", "bob", "carol", "dan", "erin", "frank", "gina", "hank", "ivan")}
CHANNELS = {"platform": "C0PLATFORM1", "help": "C0MILVUSHELP", "dm": "D0DIRECT01"}
VERSIONS = [
    {"version": "v2.5.x", "chunks": 1874, "source": "github:milvus-io/web-content", "commit": "5d0c2a9e41b7",
     "refreshed": "2026-05-03T04:00:12Z", "current": False, "default": False},
    {"version": "v2.6.x", "chunks": 2051, "source": "github:milvus-io/web-content", "commit": "5d0c2a9e41b7",
     "refreshed": "2026-05-03T04:00:12Z", "current": True, "default": True},
]

# answer kind -> (mode, retrieval confident, answer text)
ANSWERS = {
    "ai": ("gemini", True, "Yes — the docs describe this step by step [1]; see also [2] for the parameters."),
    "ai_not_covered": ("gemini", True, "The Milvus docs I have don't cover this. The closest passage, [1], is about "
                                       "upgrading from 2.4 to 2.5."),
    "ai_do_not": ("gemini", True, "The Milvus docs I have do not cover upgrading between these versions."),
    "ai_isnt": ("gemini", True, "This isn’t covered in the Milvus documentation I was given; [1] only lists the "
                                "supported platforms."),
    "extractive": ("extractive", True, "*Where does Milvus store data?*\n\nMilvus stores inserted data in object "
                                       "storage [...]\n\nMore: https://milvus.io/docs/product_faq.md"),
    "extractive_unsure": ("extractive", False, "The Milvus docs I have don't cover this. The closest passage I found "
                                               "is *Upgrade Milvus Cluster with Helm Chart*:\n\n…"),
}


@dataclass(frozen=True)
class Q:
    days_ago: float
    who: str
    where: str
    text: str
    kind: str  # an ANSWERS key, or "failed"
    votes: tuple[tuple[str, str], ...] = ()
    latency_s: float = 3.0


def _v(*pairs: str) -> tuple[tuple[str, str], ...]:
    return tuple((p.split(":")[0], p.split(":")[1]) for p in pairs)


SAMPLE = [
    # five people (six questions) about upgrading from 2.5 to 2.6 — the top knowledge gap
    Q(6.2, "alice", "platform", "How do I upgrade Milvus from 2.5 to 2.6?", "ai_not_covered", latency_s=4.1),
    Q(5.1, "bob", "help", "What's the upgrade path from v2.5.x to v2.6.x on Kubernetes?", "extractive_unsure", (),
      0.6),
    Q(4.3, "carol", "platform", "Upgrading our cluster 2.5 -> 2.6: any breaking changes to watch for?", "ai",
      _v("carol:down"), 5.2),
    Q(3.0, "dan", "dm", "Is there a guide for upgrading Milvus 2.5.4 to 2.6.0 with Helm?", "ai_do_not", latency_s=3.7),
    Q(1.5, "erin", "help", "upgrade 2.5 to 2.6 - do I need to migrate my data first?", "extractive_unsure", (), 0.5),
    Q(0.4, "alice", "help", "Any docs on the upgrade from 2.5 to 2.6 with Helm yet?", "ai_not_covered", latency_s=3.3),
    # Milvus on Windows (three people this week; one of them asked once more earlier in the month)
    Q(5.5, "frank", "help", "Can I run Milvus on Windows?", "extractive_unsure", (), 0.4),
    Q(2.2, "gina", "platform", "How do I run Milvus on Windows without Docker?", "ai_isnt", latency_s=4.4),
    Q(0.9, "hank", "help", "run milvus natively on windows?", "ai", _v("hank:down"), 3.1),
    # CAGRA memory: answered, but 👎
    Q(4.0, "bob", "platform", "How much GPU memory does a CAGRA index need?", "ai", _v("bob:down"), 5.9),
    Q(1.0, "ivan", "help", "CAGRA index GPU memory usage?", "ai", _v("ivan:down", "alice:up"), 4.8),
    Q(2.8, "carol", "help", "Does Milvus support row-level security?", "ai_not_covered", latency_s=2.9),
    # answered
    Q(6.0, "alice", "platform", "How do I create a collection with pymilvus?", "ai", _v("alice:up"), 2.4),
    Q(5.8, "bob", "help", "What index types are supported?", "ai", _v("bob:up", "carol:up"), 2.8),
    Q(5.0, "dan", "help", "How do I insert data with pymilvus?", "ai", (), 3.4),
    Q(4.5, "erin", "platform", "What is the difference between IVF_FLAT and HNSW?", "ai", _v("erin:up"), 4.0),
    Q(3.6, "frank", "help", "How do I search with a filter expression?", "ai", (), 2.2),
    Q(3.2, "gina", "help", "Where does Milvus store data?", "extractive", _v("gina:up"), 0.4),
    Q(2.5, "hank", "dm", "How do I run Milvus Lite?", "extractive", (), 0.3),
    Q(2.0, "ivan", "help", "How do I delete entities by ID?", "ai", _v("ivan:up"), 2.6),
    Q(1.2, "alice", "platform", "Why do I get fewer results than the limit I set?", "ai", _v("alice:up", "bob:up"), 3.0),
    Q(0.7, "bob", "help", "How do I load a collection into memory?", "ai", (), 2.1),
    Q(0.2, "carol", "help", "What is a partition key?", "extractive", (), 0.5),
    # failed (Milvus was down for a moment)
    Q(3.9, "dan", "help", "How do I enable TLS for Milvus?", "failed"),
    Q(0.5, "erin", "platform", "What's the maximum vector dimension?", "failed"),
    # earlier in the month: only in the 30 days
    Q(12.0, "frank", "help", "How do I upgrade from 2.4 to 2.5?", "ai_not_covered", latency_s=3.8),
    Q(15.0, "gina", "platform", "How do I create an index?", "ai", _v("gina:up"), 2.5),
    Q(20.0, "hank", "help", "Can I run Milvus on Windows 11?", "extractive_unsure", (), 0.4),
    Q(9.0, "ivan", "help", "How do I back up a collection to S3?", "ai", (), 3.6),
    Q(25.0, "alice", "platform", "What is Milvus Lite?", "ai", _v("alice:up"), 1.9),
    Q(18.0, "bob", "help", "Does Milvus support Windows?", "failed"),
]


def fill(store, now: float | None = None) -> int:
    """Write the sample into `store` (nothing else may be queued in it) and backdate it; returns questions."""
    now = time.time() if now is None else now
    dated = []
    for n, q in enumerate(SAMPLE):
        created = now - q.days_ago * DAY_S
        ts = f"{created:.6f}"
        channel = CHANNELS[q.where]
        kind = "dm" if q.where == "dm" else "support" if q.where == "help" else "mention"
        job = store.accept([f"sample:{n}:{ts}"], kind=kind, channel=channel, user=PEOPLE[q.who], question=q.text,
                           ts=ts, thread_ts=ts)
        if [j.id for j in store.claim(OWNER, 60)] != [job.id]:
            raise RuntimeError("fill() needs a store without queued jobs")
        if q.kind == "failed":
            store.finish(job.id, OWNER, JobStatus.FAILED, error="milvus: connection refused")
        else:
            mode, confident, text = ANSWERS[q.kind]
            store.save_answer(f"a{job.id}", job, answer=text, mode=mode,
                              outcome=classify_outcome(mode, confident, text), sources=[], version="v2.6.x",
                              latency_s=q.latency_s)
            store.finish(job.id, OWNER, JobStatus.DONE)
            for who, value in q.votes:
                store.add_feedback(f"a{job.id}", PEOPLE[who], value)
        dated.append((job.id, created))
    _backdate(store, dated)
    store.set_meta(meta.DOCS_VERSIONS, json.dumps(VERSIONS))
    store.set_meta(meta.WORKSPACE_URL, WORKSPACE_URL)
    return len(SAMPLE)


def _backdate(store, dated: list[tuple[int, float]]) -> None:
    if isinstance(store, MemoryJobStore):
        with store.data.lock:
            for job_id, created in dated:
                store.data.jobs[job_id].created = store.data.jobs[job_id].updated = created
                if f"a{job_id}" in store.data.answers:
                    store.data.answers[f"a{job_id}"]["created"] = created + 3
        return
    if not isinstance(store, SQLiteJobStore):
        raise TypeError("the sample week backdates its rows in a memory or SQLite store only")
    with sqlite3.connect(store.path) as conn:
        conn.executemany("UPDATE jobs SET created = ?, updated = ? WHERE id = ?", [(c, c, i) for i, c in dated])
        conn.executemany("UPDATE answers SET created = ? WHERE id = ?", [(c + 3, f"a{i}") for i, c in dated])
    conn.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m testkit.sample_week", description=__doc__.split("\n\n")[0])
    p.add_argument("--home-json", action="store_true", help="print the admin App Home view of the sample week")
    p.add_argument("--state-db", metavar="FILE", help="write the week into a new SQLite state DB (for faqbot report)")
    args = p.parse_args(argv)
    if args.state_db and Path(args.state_db).exists():
        print(f"error: {args.state_db} exists; the sample week goes into a new file", file=sys.stderr)
        return 1
    store = SQLiteJobStore(args.state_db) if args.state_db else MemoryJobStore()
    try:
        n = fill(store)
        if args.state_db:
            print(f"{n} sample questions written to {args.state_db}: FAQBOT_STATE_DB={args.state_db} faqbot report",
                  file=sys.stderr)
        if args.home_json or not args.state_db:
            from bot.home import home_for

            print(json.dumps(home_for(store, ADMIN, {ADMIN}), ensure_ascii=False, indent=2))
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
