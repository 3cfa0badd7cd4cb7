"""Ingestion of all docs (en/**/*.md) with the fake Gemini embedder, by `faqbot ingest` in a
subprocess (peak RSS sampled with psutil): chunks/s, embedding requests (= ceil(chunks/100)),
peak RSS; then a re-ingest of the unchanged docs: seconds and embedding requests (0)."""

from __future__ import annotations

import math

from benchmarks import common as c


def run() -> dict:
    with c.tmpdir() as tmp, c.fake_gemini(0.0) as g:
        first = c.ingest_subprocess(tmp, c.ALL_GLOB, g)
        req1 = g.embed_requests
        g.reset_counters()
        again = c.ingest_subprocess(tmp, c.ALL_GLOB, g)
        req2 = g.embed_requests
    chunks = int(first.get("chunks", 0))
    secs = float(first.get("seconds", float("nan")))
    expected = math.ceil(chunks / 100)
    metrics = {
        "files": first.get("files"), "chunks": chunks, "ingest_s": secs, "ingest_wall_s": round(first["wall_s"], 2),
        "chunks_per_s": round(chunks / secs, 1) if secs else None,
        "embedding_requests": req1, "expected_embedding_requests": expected,
        "embedding_calls_reported": first.get("embedding_calls"), "peak_rss_mb": first["peak_rss_mb"],
        "reingest_s": float(again.get("seconds", float("nan"))), "reingest_wall_s": round(again["wall_s"], 2),
        "reingest_embedding_requests": req2, "reingest_added": again.get("added"),
        "reingest_updated": again.get("updated"), "reingest_deleted": again.get("deleted"),
        "reingest_peak_rss_mb": again["peak_rss_mb"],
    }
    targets = {"embedding_requests": f"= ceil(chunks/100) = {expected}", "reingest_s": "<= 2 s",
               "reingest_embedding_requests": "0"}
    checks = {"embedding_requests": req1 == expected, "reingest_s": metrics["reingest_s"] <= 2,
              "reingest_embedding_requests": req2 == 0}
    table = [(m, metrics[m]) for m in ("files", "chunks", "ingest_s", "chunks_per_s", "embedding_requests",
                                       "peak_rss_mb", "reingest_s", "reingest_wall_s",
                                       "reingest_embedding_requests", "reingest_added")]
    return c.report("ingest", metrics, targets, checks, table)


if __name__ == "__main__":
    c.main(run)
