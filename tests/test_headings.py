"""The keyless headings list scored locally (rag_core.headings): the BM25 Milvus computes, one search."""

import math
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rag_core import analysis
from rag_core.headings import PAIR_BOOST, HeadingIndex, ordered_pairs
from rag_core.pipeline import Pipeline

WORDS = st.sampled_from(["index", "partit", "load", "memori", "search", "milvus", "collect", "drop"])
HEADINGS = st.lists(st.lists(WORDS, min_size=1, max_size=6).map(" ".join), min_size=1, max_size=30)


def test_one_score_by_hand_and_a_repeated_query_word_counts_twice():
    index = HeadingIndex([("a", "load partit"), ("b", "drop index"), ("c", "load collect memori")])
    assert len(index) == 3 and index.avgdl == pytest.approx(7 / 3)
    idf = math.log((3 - 2 + 0.5) / (2 + 0.5) + 1)
    norm = 1.5 * (1 - 0.75 + 0.75 * 2 / (7 / 3))
    (best, score), _ = index.search("load", 2, 1.5, 0.75)
    assert best == "a" and score == pytest.approx(idf * 2.5 / (1 + norm))
    assert index.search("load load", 1, 1.5, 0.75)[0][1] == pytest.approx(2 * score)


def test_ordered_pairs_are_in_order_within_the_gap():
    assert ordered_pairs(["kafka", "woodpeck", "helm"], gap=0) == {("kafka", "woodpeck"), ("woodpeck", "helm")}
    assert ("kafka", "helm") in ordered_pairs(["kafka", "woodpeck", "helm"], gap=1)
    assert ordered_pairs(["a", "b", "c", "d", "e"], gap=2) >= {("a", "d")} and ("a", "e") not in ordered_pairs(list("abcde"), 2)
    assert ordered_pairs(["load", "load"]) == set() and ordered_pairs([]) == set()


def test_a_heading_with_the_question_words_in_its_order_ranks_first():
    index = HeadingIndex([("back", "switch woodpeck kafka helm"), ("there", "switch kafka woodpeck helm")])
    without = index.search("move kafka woodpeck", 2, pair_boost=0)
    assert without[0][1] == pytest.approx(without[1][1])  # the same words: BM25 cannot tell them apart
    found = index.search("move kafka woodpeck", 2)
    assert found[0][0] == "there" and found[0][1] == pytest.approx((1 + PAIR_BOOST) * found[1][1])


def test_search_keeps_only_matching_headings_best_first_up_to_the_limit():
    index = HeadingIndex([("a", "drop index"), ("b", "load collect memori"), ("c", "load partit"), ("d", "search")])
    assert [i for i, _ in index.search("load partit", 10)] == ["c", "b"]
    assert [i for i, _ in index.search("load partit", 1)] == ["c"]
    assert index.search("nothing here", 5) == [] and HeadingIndex([]).search("load", 5) == []


@given(HEADINGS, st.lists(WORDS, min_size=1, max_size=5), st.integers(1, 40))
def test_results_match_the_query_are_sorted_and_agree_with_brute_force(headings, query, limit):
    index = HeadingIndex((str(i), h) for i, h in enumerate(headings))
    found = index.search(" ".join(query), limit)
    plain = dict(index.search(" ".join(query), len(headings), pair_boost=0))
    for i, s in found:  # the pair bonus only ever multiplies a BM25 score by 1 + boost x pairs
        pairs = len(ordered_pairs(query) & ordered_pairs(headings[int(i)].split()))
        assert s == pytest.approx(plain[i] * (1 + PAIR_BOOST * pairs))
    scores = [s for _, s in found]
    assert all(s > 0 for s in scores) and scores == sorted(scores, reverse=True) and len(found) <= limit
    assert all(set(headings[int(i)].split()) & set(query) for i, _ in found)
    matching = [i for i, h in enumerate(headings) if set(h.split()) & set(query)]
    assert len(found) == min(limit, len(matching))


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
def test_the_local_headings_search_is_milvus_own_headings_search(faq, question):
    analysed = analysis.analyse(question)
    version = faq.default_version()
    milvus = faq.store.search_bm25(analysed, 10, field="sparse_head", version=version)
    local = faq.headings(version).search(analysed, 10, *faq.engine_bm25(), pair_boost=0)
    assert milvus and len(local) == len(milvus)
    assert [s for _, s in local] == pytest.approx([h.score for h in milvus], rel=1e-3)
    ties = {round(h.score, 3) for h in milvus if sum(round(o.score, 3) == round(h.score, 3) for o in milvus) > 1}
    assert [i for i, s in local if round(s, 3) not in ties] == [h.id for h in milvus if round(h.score, 3) not in ties]


def test_keyless_retrieval_is_one_milvus_search_and_headings_only_hits_are_read_when_they_rank(faq, monkeypatch):
    question = "can I load only one partition into memory"
    version = faq.default_version()
    calls = []
    real = faq.store.search_bm25
    monkeypatch.setattr(faq.store, "search_bm25", lambda *a, **k: calls.append(k.get("field", "sparse")) or real(*a, **k))
    cand = faq.retrieve(question, 3, "bm25", version=version)
    assert calls == ["sparse"] and cand.head and cand.bm25
    assert [h.score for h in cand.head] == sorted((h.score for h in cand.head), reverse=True)
    # a headings-only hit is an id until it ranks; then Pipeline.fuse reads the whole chunk
    only_head = next(h for h in cand.head if h.id not in {b.id for b in cand.bm25})
    assert not only_head.complete and only_head.text == ""
    hits = faq.fuse(replace(cand, bm25=[], head=[only_head]), 3)
    assert hits[0].id == only_head.id and hits[0].complete and hits[0].text and hits[0].url.startswith("https://milvus.io/")
