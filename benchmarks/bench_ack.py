"""Ack latency: signed app_mention POST -> HTTP 200, real bot vs a bare Bolt App (the floor).

Both servers use the same waitress settings (bot.serve.make_server) and signing secret; the
senders and the FakeSlack each run in a separate process (real Slack is remote: the fake's Python
work must not compete for the bot's GIL). Every mention is a new question (distinct event ids, ts,
users); the bot answers them in the background (keyless), and we wait for idle between phases.
The per-user rate limit stays at its default (each ack checks it; distinct users are never limited).
"""

from __future__ import annotations

import json
import time

from benchmarks import common as c

N = 900  # requests per (server, concurrency)
CONCURRENCY = (1, 50)
ROUNDS = 3  # bare/bot alternate ROUNDS times; N split across rounds


def _bodies(n: int, tag: str) -> list[bytes]:
    qs = c.questions(60)
    return [json.dumps(c.mention_envelope(f"{qs[i % len(qs)]} ({tag}{i})", user=f"U{tag.upper()}{i:05d}")).encode()
            for i in range(n)]


def run() -> dict:
    results: dict[str, list[float]] = {}
    statuses: dict[str, dict] = {}
    with c.tmpdir() as tmp, c.fake_slack_process() as slack, c.LoadClient() as load, \
            c.running_bot(tmp, slack, FAQBOT_QUEUE_SIZE=20000) as h, \
            c.bare_bolt(slack) as bare:
        servers = {"bare": bare.url, "bot": h.url}
        # warm-up (auth.test cache, imports, first Milvus search)
        for name, url in servers.items():
            load.fire(url, _bodies(20, f"w{name}"), 4)
        h.idle(60)
        for conc in CONCURRENCY:
            for r in range(ROUNDS):
                for name, url in servers.items():
                    key = f"{name}_c{conc}"
                    out = load.fire(url, _bodies(N // ROUNDS, f"{name}{conc}r{r}x"), conc)
                    results.setdefault(key, []).extend(s for st, _, s in out if st == 200)
                    st = statuses.setdefault(key, {})
                    for code, _, _ in out:
                        st[str(code)] = st.get(str(code), 0) + 1
                    if name == "bot":
                        h.idle(120)  # answers happen in the background; next phase starts clean
        stats = dict(h.bot.intake.stats)
    # diagnostic: the ack path alone — a serve replica that only acknowledges (no worker anywhere)
    with c.tmpdir() as tmp, c.fake_slack_process() as slack, c.LoadClient() as load, \
            c.running_bot(tmp, slack, worker=False, FAQBOT_QUEUE_SIZE=20000) as h:
        load.fire(h.url, _bodies(20, "wq"), 4)
        for conc in CONCURRENCY:
            out = load.fire(h.url, _bodies(N // ROUNDS, f"q{conc}x"), conc)
            results[f"bot_noworkers_c{conc}"] = [s for st, _, s in out if st == 200]

    d = {k: c.dist_ms(v) for k, v in results.items()}
    ratio = {conc: d[f"bot_c{conc}"]["p99"] / d[f"bare_c{conc}"]["p99"] for conc in CONCURRENCY}
    non200 = sum(n for st in statuses.values() for code, n in st.items() if code != "200")
    metrics = {
        "requests_per_case": N, "latency_ms": d, "status_counts": statuses, "non_200": non200,
        "bot_p99_ms_c50": d["bot_c50"]["p99"], "bare_p99_ms_c50": d["bare_c50"]["p99"],
        "ratio_p99_bot_vs_bare_c1": round(ratio[1], 2), "ratio_p99_bot_vs_bare_c50": round(ratio[50], 2),
        "bot_intake": stats,
        "bot_noworkers_p99_ms_c50": d["bot_noworkers_c50"]["p99"],
    }
    targets = {"bot_p99_ms_c50": "< 50 ms", "ratio_p99_bot_vs_bare_c50": "<= 1.5x", "non_200": "0"}
    checks = {"bot_p99_ms_c50": d["bot_c50"]["p99"] < 50, "ratio_p99_bot_vs_bare_c50": ratio[50] <= 1.5,
              "non_200": non200 == 0}
    table = []
    for conc in CONCURRENCY:
        for name in ("bare", "bot", "bot_noworkers"):
            x = d[f"{name}_c{conc}"]
            table.append((f"{name} c={conc} p50/p99 ms", f"{x['p50']:.1f} / {x['p99']:.1f}"))
    table += [("bot_p99_ms_c50", d["bot_c50"]["p99"]), ("ratio_p99_bot_vs_bare_c1", ratio[1]),
              ("ratio_p99_bot_vs_bare_c50", ratio[50]), ("non_200", non200)]
    return c.report("ack", metrics, targets, checks, table)


if __name__ == "__main__":
    c.main(run)
