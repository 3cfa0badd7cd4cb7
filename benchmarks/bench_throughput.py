"""100 questions at once (distinct users and event ids), Gemini at 1000 ms latency: all answered,
none lost, none duplicated; wall time from the first POST to the last answer.

Measured with the default FAQBOT_WORKERS, then with the worker count predicted to meet the
target from that run (and bounded retries), to report what FAQBOT_WORKERS meets it.
"""

from __future__ import annotations

import json
import math
import time
from types import SimpleNamespace

from benchmarks import common as c

N = 100
LATENCY = 1.0
TARGET_S = 1.5  # issue 11: 100 questions at once, Gemini at 1 s, in <= 1.5 s wall (the floor is 1.0 s)
MAX_WORKERS = 512  # the settings' upper bound


def _once(tmp, workers: int | None, run_id: str, load) -> dict:
    """One burst. The fakes run in their own processes (real Slack and Gemini are remote), so
    answer times come from the bot's state DB (a job is finished right after its answer is posted)
    and duplicates from FakeSlack's count of chat.postMessage (one per answer, then edits)."""
    import sqlite3

    state_db = tmp / f"state-{run_id}.db"
    env = {"FAQBOT_STATE_DB": str(state_db)}
    if workers is not None:
        env["FAQBOT_WORKERS"] = workers
    qs = c.questions(N)
    with c.fake_slack_process() as slack, c.fake_gemini_process(LATENCY) as g:
        gem = SimpleNamespace(api_key=g.api_key, base_url=g.base_url)
        with c.running_bot(tmp, slack, gem, ingest=False, **env) as h:
            # a warm bot (as in production): one question first, so the burst does not wait for the
            # worker's warm-up (google-genai import, clients, the first Milvus search)
            load.fire(h.url, [json.dumps(c.mention_envelope(f"{qs[0]} (warm-up)", user="UWARM")).encode()], 1)
            h.idle(60)
            warm_ids = {r[0] for r in sqlite3.connect(state_db).execute("SELECT id FROM jobs")}
            bodies = [json.dumps(c.mention_envelope(f"{qs[i]} (#{i})", user=f"UT{run_id.upper()}{i:04d}")).encode()
                      for i in range(N)]
            # CPU by process over the burst: where the answers' time goes on a 2-core machine
            labels = {slack.pid: "fake_slack", g.pid: "fake_gemini"}
            worker = getattr(getattr(h, "answering", None), "_proc", None)
            if worker is not None:
                labels[worker.pid] = "worker"
            cpu0 = c.cpu_seconds(labels)
            sent = load.fire(h.url, bodies, N)
            first_post = min(w for _, w, _ in sent if w)
            h.idle(N * 2 * LATENCY + 30)
            cpu1 = c.cpu_seconds(labels)
            w = h.bot.settings.workers
            counts = h.store.stats()["by_status"]
        con = sqlite3.connect(state_db)
        rows = [r for r in con.execute("SELECT id, status, updated, error FROM jobs") if r[0] not in warm_ids]
        done = [r[2] for r in rows if r[1] == "done"]
        errors = [r[3] for r in rows if r[1] != "done"]
        con.close()
    posts = slack.counts.get("chat.postMessage", 0) - 1  # the warm-up question's answer
    return {
        "workers": w, "sent_200": sum(1 for s, _, _ in sent if s == 200), "answered": len(done),
        "lost": N - len(done), "duplicated": max(0, posts - N), "answer_posts": posts,
        "wall_s": round(max(done) - first_post, 2) if done else float("nan"),
        "answered_by_s": {p: round(c.pct([d - first_post for d in done], p), 2) for p in (50, 90, 100)} if done else {}, "job_status": counts,
        "gemini_requests": g.counts, "errors": errors, "ack_ms": c.dist_ms([s for st, _, s in sent if st == 200]),
        # "bench" is serve (in this process, acknowledging) plus the load client's parent side
        "cpu_s": {k: round(v - cpu0.get(k, 0.0), 2) for k, v in cpu1.items() if v - cpu0.get(k, 0.0) >= 0.01},
    }


def run() -> dict:
    runs = []
    with c.tmpdir() as tmp, c.LoadClient() as load:
        with c.fake_gemini_process(0.0) as g:  # hybrid collection (the bot uses Gemini embeddings too)
            c.ingest_subprocess(tmp, c.FAQ_GLOB, SimpleNamespace(api_key=g.api_key, base_url=g.base_url))
        default = _once(tmp, None, "d", load)
        runs.append(default)
        # per-job service time from the default run -> workers predicted to meet the target
        per_job = default["wall_s"] * default["workers"] / N
        lo, hi = default["workers"], None
        guess = min(MAX_WORKERS, max(lo + 1, math.ceil(N * per_job / (TARGET_S * 0.9))))
        for attempt in range(3):
            r = _once(tmp, guess, f"w{attempt}", load)
            runs.append(r)
            ok = r["lost"] == 0 and r["duplicated"] == 0 and r["wall_s"] <= TARGET_S
            if ok:
                hi = guess
                nxt = max(lo + 1, math.floor(guess * 0.8))
                if nxt >= guess:
                    break
            else:
                lo = guess
                if guess >= MAX_WORKERS:
                    break
                nxt = MAX_WORKERS if hi is None else (lo + hi) // 2
            if hi is not None and hi - lo <= max(2, hi // 8):
                break
            guess = nxt
    metrics = {
        "questions": N, "gemini_latency_s": LATENCY, "runs": runs,
        "default_workers": default["workers"], "default_wall_s": default["wall_s"],
        "default_lost": default["lost"], "default_duplicated": default["duplicated"],
        "per_job_service_s": round(per_job, 2), "workers_meeting_target": hi,
        "lost_total": sum(r["lost"] for r in runs), "duplicated_total": sum(r["duplicated"] for r in runs),
    }
    targets = {"default_wall_s": f"<= {TARGET_S} s", "lost_total": "0", "duplicated_total": "0",
               "workers_meeting_target": f"<= {MAX_WORKERS} (found)"}
    checks = {"default_wall_s": default["wall_s"] <= TARGET_S, "lost_total": metrics["lost_total"] == 0,
              "duplicated_total": metrics["duplicated_total"] == 0, "workers_meeting_target": hi is not None}
    table = [(f"workers={r['workers']}: wall s / answered / dup / ack p99 ms",
              f"{r['wall_s']} / {r['answered']} / {r['duplicated']} / {r['ack_ms'].get('p99')}") for r in runs]
    table += [("per_job_service_s", metrics["per_job_service_s"])] + [(m, metrics[m]) for m in targets]
    table += [("default run: CPU s by process over the burst", default["cpu_s"])]
    return c.report("throughput", metrics, targets, checks, table)


if __name__ == "__main__":
    c.main(run)
