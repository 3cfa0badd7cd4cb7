"""Several docs versions from GitHub (a fake milvus-io/web-content built from ../shared/data):

1. `faqbot ingest` of all docs (en/**/*.md) of 3.0 + 2.6 + 2.5 with the fake Gemini embedder:
   embedding requests = ceil(distinct texts embedded / 100); identical text in two versions is
   embedded once (embedded < chunks);
2. a refresh of the unchanged docs: seconds, file downloads (0), embedding requests (0);
3. keyless search with all three versions indexed: p50 of one version's search (one BM25 search
   in that version's partition, headings searched in-process), and the cost of selecting a version
   (a BM25 search of one version vs the same search over the whole collection).
"""

from __future__ import annotations

import math
import time

from benchmarks import common as c

VERSIONS = "latest,v2.6.x,v2.5.x"
ROUNDS = 3


def _github_env(gh, tmp, db: str) -> dict:
    env = c.rag_env(tmp, c.ALL_GLOB, None, db)
    env |= {"FAQBOT_DOCS_SOURCE": "github:milvus-io/web-content", "FAQBOT_DOCS_VERSIONS": VERSIONS,
            "GITHUB_API_URL": gh.api_url, "GITHUB_RAW_URL": gh.raw_url}
    return env


def _search_times(tmp, gh) -> dict:
    """Keyless: ingest the three versions into their own Lite file, then time searches."""
    from rag_core import analysis
    from rag_core.config import load
    from rag_core.pipeline import Pipeline

    pipe = Pipeline(load(**_github_env(gh, tmp, "keyless.db")))
    t0 = time.perf_counter()
    report = pipe.ingest()
    ingest_s = time.perf_counter() - t0
    pipe.store.close()  # reopen, as the bot does after `faqbot ingest`: sealed, indexed segments
    pipe = Pipeline(load(**_github_env(gh, tmp, "keyless.db")))
    pipe.warm_up()
    qs = [q for q in c.questions(60, tmp)]
    analysed = [analysis.analyse(q) for q in qs]
    from rag_core.store import OUTPUT_FIELDS, version_filter

    client = pipe.store.client()
    search, filtered, unfiltered, filter_only = [], [], [], []
    for _ in range(ROUNDS):
        for q, a in zip(qs, analysed):
            t = time.perf_counter()  # the version by its filter alone, all partitions scanned (schema 3's way)
            client.search(pipe.store.collection, data=[a], anns_field="sparse", limit=15, filter=version_filter("v3.0.x"),
                          output_fields=OUTPUT_FIELDS, search_params={"metric_type": "BM25"})
            filter_only.append(time.perf_counter() - t)
            t = time.perf_counter()
            pipe.search(q, version="v3.0.x")
            search.append(time.perf_counter() - t)
            t = time.perf_counter()
            pipe.store.search_bm25(a, 15, version="v3.0.x")
            filtered.append(time.perf_counter() - t)
            t = time.perf_counter()
            pipe.store.search_bm25(a, 15)
            unfiltered.append(time.perf_counter() - t)
    pipe.store.close()
    return {"keyless_chunks": report.chunks, "keyless_ingest_s": round(ingest_s, 1),
            "search_p50_ms": round(c.median(search) * 1000, 2),
            "bm25_filtered_p50_ms": round(c.median(filtered) * 1000, 2),
            "bm25_unfiltered_p50_ms": round(c.median(unfiltered) * 1000, 2),
            "bm25_filter_only_p50_ms": round(c.median(filter_only) * 1000, 2)}


def run() -> dict:
    from testkit.fakes.github_server import FakeGitHub

    with c.tmpdir() as tmp, c.fake_gemini(0.0) as g, FakeGitHub(versions=("v2.5.x", "v2.6.x", "v3.0.x")) as gh:
        env = _github_env(gh, tmp, "milvus.db")
        first = c.ingest_subprocess(tmp, c.ALL_GLOB, g, extra_env=env)
        req1, downloads1 = g.embed_requests, len(gh.raw_downloads)
        g.reset_counters()
        gh.reset_counters()
        again = c.ingest_subprocess(tmp, c.ALL_GLOB, g, extra_env=env)
        req2, downloads2, api2 = g.embed_requests, len(gh.raw_downloads), len(gh.api_calls)
        search = _search_times(tmp, gh)
    chunks, embedded = int(first.get("chunks", 0)), int(first.get("embedded", 0))
    expected = math.ceil(embedded / 100)
    metrics = {
        "versions": VERSIONS, "files": first.get("files"), "chunks": chunks, "embedded_texts": embedded,
        "ingest_s": first.get("seconds"), "file_downloads": downloads1, "embedding_requests": req1,
        "expected_embedding_requests": expected, "peak_rss_mb": first["peak_rss_mb"],
        "refresh_s": again.get("seconds"), "refresh_wall_s": round(again["wall_s"], 2),
        "refresh_downloads": downloads2, "refresh_api_calls": api2, "refresh_embedding_requests": req2,
        **search,
    }
    metrics["filter_ratio"] = round(search["bm25_filtered_p50_ms"] / search["bm25_unfiltered_p50_ms"], 3)
    targets = {"embedding_requests": f"= ceil(embedded/100) = {expected}", "embedded_texts": "< chunks",
               "refresh_s": "<= 5 s", "refresh_downloads": "0", "refresh_embedding_requests": "0",
               "search_p50_ms": "< 25 ms", "filter_ratio": "<= 1.2x"}
    checks = {"embedding_requests": req1 == expected, "embedded_texts": embedded < chunks,
              "refresh_s": float(again.get("seconds", 99)) <= 5, "refresh_downloads": downloads2 == 0,
              "refresh_embedding_requests": req2 == 0, "search_p50_ms": search["search_p50_ms"] < 25,
              "filter_ratio": metrics["filter_ratio"] <= 1.2}
    table = [(m, metrics[m]) for m in ("versions", "files", "chunks", "embedded_texts", "ingest_s", "file_downloads",
                                       "embedding_requests", "peak_rss_mb", "refresh_s", "refresh_downloads",
                                       "refresh_api_calls", "refresh_embedding_requests", "keyless_chunks",
                                       "search_p50_ms", "bm25_filtered_p50_ms", "bm25_filter_only_p50_ms",
                                       "bm25_unfiltered_p50_ms", "filter_ratio")]
    return c.report("versions", metrics, targets, checks, table)


if __name__ == "__main__":
    c.main(run)
