"""rag_core.rerank: the learned keyless score over the BM25 text and headings lists."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rag_core.rerank import (DEPTH, FEATURES, NO_FACTS, RRF_K, WEIGHTS, ChunkFacts, chunk_facts, features,
                             rerank)

IDF = {"partit": 2.0, "key": 1.0, "milvus": 0.1}


def idf(term):
    return IDF.get(term, 1.0)


def test_facts_come_from_the_title_the_headings_and_the_page():
    facts = chunk_facts([
        ("a", "use partit key", "Use Partition Key", "Use Partition Key", "en/userGuide/use-partition-key.md"),
        ("b", "langchain integr", "LangChain Integration", "", "en/integrations/langchain.md"),
    ])
    assert facts["a"] == ChunkFacts(frozenset({"use", "partit", "key"}), False, False)
    assert facts["b"].intro and facts["b"].walkthrough and "langchain" in facts["b"].cover


def test_feature_rows_by_hand():
    facts = {"x": ChunkFacts(frozenset({"partit"}), False, False), "y": ChunkFacts(frozenset(), True, True)}
    ids, rows = features(["partit", "key"], [("x", 10.0), ("y", 5.0)], [("y", 4.0)], facts, idf)
    assert ids == ["x", "y"] and len(rows[0]) == len(FEATURES) == len(WEIGHTS)
    absent = 1 / (RRF_K + DEPTH + 10)
    assert rows[0] == pytest.approx((1 / 6, 1.0, absent, 0.0, 2 / 3, 0.0, 0.0))
    assert rows[1] == pytest.approx((1 / 7, 0.5, 1 / 6, 1.0, 0.0, 1.0, 1.0))


def test_a_page_intro_yields_to_the_section_just_below_it():
    facts = {"intro": ChunkFacts(frozenset(), True, False), "section": ChunkFacts(frozenset(), False, False)}
    ranked = rerank(["partit"], [("intro", 10.0), ("section", 9.5)], [], facts, idf)
    assert [i for i, _ in ranked] == ["section", "intro"]


def test_a_chunk_whose_title_and_headings_hold_the_rare_words_rises():
    facts = {"other": NO_FACTS, "titled": ChunkFacts(frozenset({"partit", "key"}), False, False)}
    ranked = rerank(["partit", "key", "milvus"], [("other", 10.0), ("titled", 9.0)], [], facts, idf)
    assert ranked[0][0] == "titled"
    # without those words in its headings it stays second
    plain = rerank(["partit", "key", "milvus"], [("other", 10.0), ("titled", 9.0)], [],
                   {"other": NO_FACTS, "titled": NO_FACTS}, idf)
    assert [i for i, _ in plain] == ["other", "titled"]


def test_only_the_top_depth_of_each_list_is_ranked_and_ties_keep_list_order():
    text = [(f"t{i}", 100.0 - i) for i in range(DEPTH + 5)]
    head = [(f"h{i}", 1.0) for i in range(3)]
    ranked = rerank([], text, head, {}, idf)
    assert {i for i, _ in ranked} == {f"t{i}" for i in range(DEPTH)} | {"h0", "h1", "h2"}
    assert [i for i, _ in ranked][:2] == ["t0", "t1"]
    assert rerank([], [], [], {}, idf) == []


@given(st.lists(st.tuples(st.sampled_from("abcdefgh"), st.floats(0.1, 50)), max_size=12),
       st.lists(st.tuples(st.sampled_from("defghijk"), st.floats(0.1, 50)), max_size=12),
       st.lists(st.sampled_from(["partit", "key", "milvus", "load"]), max_size=5))
def test_every_candidate_once_best_first(text, head, terms):
    text = list(dict((i, s) for i, s in sorted(text, key=lambda x: -x[1])).items())
    head = list(dict((i, s) for i, s in sorted(head, key=lambda x: -x[1])).items())
    ranked = rerank(terms, text, head, {}, idf)
    assert sorted(i for i, _ in ranked) == sorted({i for i, _ in text} | {i for i, _ in head})
    scores = [s for _, s in ranked]
    assert scores == sorted(scores, reverse=True) and all(math.isfinite(s) for s in scores)


def test_hybrid_rows_add_the_dense_features_and_its_candidates():
    from rag_core.rerank import DENSE_DEPTH, DENSE_FEATURES, WEIGHTS_HYBRID

    ids, rows = features(["partit"], [("x", 10.0)], [], {}, idf,
                         dense=[("d", 0.62), ("x", 0.52), ("z", 0.42)])
    assert ids == ["x", "d", "z"] and len(WEIGHTS_HYBRID) == len(FEATURES) + len(DENSE_FEATURES)
    assert rows[0][-3:] == pytest.approx((1 / 7, 0.5, -0.1))
    assert rows[1][-3:] == pytest.approx((1 / 6, 1.0, 0.0))
    assert rows[2][-3:] == pytest.approx((1 / 8, 0.0, -0.2))
    # a chunk the dense list does not hold ranks as absent, below its lowest cosine
    ids, rows = features([], [("x", 1.0)], [], {}, idf, dense=[("d", 0.6), ("e", 0.5)])
    assert ids == ["x", "d", "e"] and rows[0][-3:] == pytest.approx((1 / (RRF_K + DENSE_DEPTH + 10), 0.0, 0.5 - 0.6 - 0.05))


def test_the_hybrid_score_lets_a_clear_dense_winner_lead():
    ranked = rerank([], [("lexical", 10.0), ("both", 9.0)], [], {}, idf,
                    dense=[("both", 0.70), ("semantic", 0.69), ("lexical", 0.40)])
    assert ranked[0][0] == "both" and {i for i, _ in ranked} == {"lexical", "both", "semantic"}


def test_late_interaction_adds_one_feature_and_its_own_weights():
    from rag_core.rerank import DENSE_FEATURES, LATE_FEATURES, WEIGHTS_HYBRID, WEIGHTS_LATE, candidate_ids

    text, dense = [("x", 10.0), ("y", 9.0)], [("d", 0.62), ("x", 0.52)]
    assert len(WEIGHTS_LATE) == len(FEATURES) + len(DENSE_FEATURES) + len(LATE_FEATURES)
    plain_ids, plain = features(["partit"], text, [], {}, idf, dense=dense)
    ids, rows = features(["partit"], text, [], {}, idf, dense=dense, late={"x": 0.4, "d": 0.9})
    assert ids == plain_ids == candidate_ids(text, [], dense) == ["x", "y", "d"]
    assert [r[:-1] for r in rows] == plain and [r[-1] for r in rows] == [0.4, 0.0, 0.9]  # none stored: 0
    by_hand = {i: sum(w * x for w, x in zip(WEIGHTS_LATE, r)) for i, r in zip(ids, rows)}
    ranked = rerank(["partit"], text, [], {}, idf, dense=dense, late={"x": 0.4, "d": 0.9})
    assert ranked == sorted(by_hand.items(), key=lambda kv: -kv[1])
    assert rerank(["partit"], text, [], {}, idf, dense=dense) == rerank(
        ["partit"], text, [], {}, idf, dense=dense, weights=WEIGHTS_HYBRID)


def test_a_chunk_whose_words_match_the_question_in_context_rises():
    text, dense = [("a", 10.0), ("b", 9.5)], [("a", 0.60), ("b", 0.59)]
    assert rerank([], text, [], {}, idf, dense=dense, late={"a": 0.5, "b": 0.5})[0][0] == "a"
    assert rerank([], text, [], {}, idf, dense=dense, late={"a": 0.5, "b": 0.8})[0][0] == "b"
