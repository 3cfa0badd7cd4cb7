"""The keyless headings list scored locally (rag_core.headings): the BM25 Milvus computes, one search."""

import math
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rag_core import analysis
from rag_core.headings import HeadingStats, rank_by_headings
from rag_core.pipeline import Pipeline

WORDS = st.sampled_from(["index", "partit", "load", "memori", "search", "milvus", "collect", "drop"])
HEADINGS = st.lists(st.lists(WORDS, min_size=1, max_size=6).map(" ".join), min_size=1, max_size=30)


def test_stats_and_one_score_by_hand():
    stats = HeadingStats.from_texts(["load partit", "drop index", "load collect memori"])
    assert stats.docs == 3 and stats.avgdl == pytest.approx(7 / 3) and stats.df["load"] == 2
    idf = math.log((3 - 2 + 0.5) / (2 + 0.5) + 1)
    norm = 1.5 * (1 - 0.75 + 0.75 * 2 / (7 / 3))
    assert stats.score(Counter(["load"]), "load partit", 1.5, 0.75) == pytest.approx(idf * 2.5 / (1 + norm))
    # a word the question repeats counts twice, as in Milvus's BM25 query
    assert stats.score(Counter(["load", "load"]), "load partit", 1.5) == pytest.approx(
        2 * stats.score(Counter(["load"]), "load partit", 1.5))


def test_rank_keeps_only_matching_headings_best_first():
    stats = HeadingStats.from_texts(["load partit", "drop index", "load collect memori", "search"])
    hits = ["drop index", "load collect memori", "load partit", "search"]
    ranked = rank_by_headings(stats, "load partit", hits, lambda h: h)
    assert [h for h, _ in ranked] == ["load partit", "load collect memori"]
    assert ranked[0][1] > ranked[1][1] > 0


@given(HEADINGS, st.lists(WORDS, min_size=1, max_size=5))
def test_scores_are_never_negative_and_ranking_is_sorted(headings, query):
    stats = HeadingStats.from_texts(headings)
    ranked = rank_by_headings(stats, " ".join(query), headings, lambda h: h)
    scores = [s for _, s in ranked]
    assert all(s > 0 for s in scores) and scores == sorted(scores, reverse=True)
    assert all(set(h.split()) & set(query) for h, _ in ranked)


@pytest.fixture(scope="module")
def faq(tmp_path_factory, docs_zip):
    from rag_core.config import load

    tmp = tmp_path_factory.mktemp("headings")
    pipe = Pipeline(load(MILVUS_URI=str(tmp / "m.db"), FAQBOT_DOCS_SOURCE=str(docs_zip),
                         FAQBOT_CACHE_DIR=str(tmp / "cache"), FAQBOT_EMBEDDER="none"))
    pipe.ingest()
    yield pipe
    pipe.store.close()


@pytest.mark.parametrize("question", ["How is data stored in milvus?", "can I load only one partition into memory",
                                      "what index types does milvus support", "is there a limit on collection names"])
def test_local_heading_scores_are_the_scores_of_milvus_own_headings_search(faq, question):
    analysed = analysis.analyse(question)
    version = faq.default_version()
    stats = faq.heading_stats(version)
    milvus = faq.store.search_bm25(analysed, 10, field="sparse_head", version=version)
    assert milvus
    for hit in milvus:
        local = stats.score(Counter(analysed.split()), hit.head, *faq.engine_bm25())
        assert local == pytest.approx(hit.score, rel=1e-3), hit.heading


def test_keyless_retrieval_is_one_milvus_search(faq, monkeypatch):
    calls = []
    real = faq.store.search_bm25
    monkeypatch.setattr(faq.store, "search_bm25", lambda *a, **k: calls.append(k.get("field", "sparse")) or real(*a, **k))
    cand = faq.retrieve("can I load only one partition into memory", 15, "bm25", version=faq.default_version())
    assert calls == ["sparse"]
    assert cand.head and cand.bm25
    # the headings list is the text list's pool re-ranked, with BM25 scores of the headings
    assert {h.id for h in cand.head} <= {h.id for h in faq.store.search_bm25(
        analysis.analyse("can I load only one partition into memory"), faq.fusion.head_pool,
        version=faq.default_version())}
    assert [h.score for h in cand.head] == sorted((h.score for h in cand.head), reverse=True)
