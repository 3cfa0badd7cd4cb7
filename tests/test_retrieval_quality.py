"""Retrieval quality on real Milvus Lite: recall/MRR floors and the confidence split.

Floors are the values measured by `python -m benchmarks.tune_alldocs` (see
docs/retrieval-quality.md), rounded down a little, so a change that makes retrieval worse fails here.
The FAQ corpus is checked in every mode; all 3.0 docs keyless only (~20 s).
"""

from __future__ import annotations

import pytest

import json
import math
from pathlib import Path

from rag_core.evaluate import evaluate, load_questions
from rag_core.pipeline import Pipeline
from rag_core.scope import names_milvus
from tests.conftest import DEV_QUESTIONS, SHARED
from tests.retrieval_support import (ALLDOCS_HELDOUT, ALLDOCS_HELDOUT2, ALLDOCS_HELDOUT3, ALLDOCS_HELDOUT4,
                                     ALLDOCS_HELDOUT5, ALLDOCS_HELDOUT6, ALLDOCS_HELDOUT7, ALLDOCS_HELDOUT8,
                                     ALLDOCS_HELDOUT9, ALLDOCS_HELDOUT10, ALLDOCS_HELDOUT11, ALLDOCS_HELDOUT12,
                                     ALLDOCS_HELDOUT13, ALLDOCS_HELDOUT14, ALLDOCS_HELDOUT15, ALLDOCS_HELDOUT16,
                                     ALLDOCS_HELDOUT17, ALLDOCS_HELDOUT18,
                                     OFFTOPIC_ADJACENT, OFFTOPIC_ADJACENT2, OFFTOPIC_ADJACENT3, OFFTOPIC_ADJACENT4,
                                     OFFTOPIC_ADJACENT5, OFFTOPIC_ADJACENT6,
                                     ALLDOCS_HELDOUTS, PARAPHRASES, heldout_files, heldout_questions, local_embedder,
                                     need_local_model, offtopic_questions, settings)

DEV = load_questions(str(DEV_QUESTIONS))
PARA = load_questions(str(PARAPHRASES))
OFF = offtopic_questions()
ADJACENT = offtopic_questions(OFFTOPIC_ADJACENT)
ADJACENT2 = offtopic_questions(OFFTOPIC_ADJACENT2)
ADJACENT3 = offtopic_questions(OFFTOPIC_ADJACENT3)
ADJACENT4 = offtopic_questions(OFFTOPIC_ADJACENT4)
ADJACENT5 = offtopic_questions(OFFTOPIC_ADJACENT5)
ADJACENT6 = offtopic_questions(OFFTOPIC_ADJACENT6)
DOCS_30 = SHARED / "data" / "milvus_docs_3.0.x_en.zip"
DEV_ALLDOCS = SHARED / "eval" / "dev_alldocs.jsonl"


def test_question_sets_are_big_enough():
    assert len(PARA) >= 40 and len({q["heading"] for q in PARA}) >= 35
    assert {q["file"] for q in PARA} == {"product_faq.md", "operational_faq.md", "performance_faq.md",
                                         "troubleshooting.md"}
    assert len(OFF) >= 30
    assert len(ADJACENT) >= 40 and not set(ADJACENT) & set(OFF)
    heldout = heldout_questions()
    assert len(heldout) >= 1365 and all(q["file"].endswith(".md") and q["heading"] for q in heldout)
    assert len({q["q"] for q in heldout}) == len(heldout)
    # each target once, except that the seventh and eighth sets, written at the same time by two
    # writers who could not see each other's, share 13 (with different questions)
    first_seven = heldout_questions(ALLDOCS_HELDOUT, ALLDOCS_HELDOUT2, ALLDOCS_HELDOUT3, ALLDOCS_HELDOUT4,
                                  ALLDOCS_HELDOUT5, ALLDOCS_HELDOUT6, ALLDOCS_HELDOUT7)
    assert len({(q["file"], q["heading"]) for q in first_seven}) == len(first_seven)
    eighth = {(q["file"], q["heading"]) for q in heldout_questions(ALLDOCS_HELDOUT8)}
    assert len(eighth) == 45 and len(eighth & {(q["file"], q["heading"]) for q in first_seven}) == 13
    # every later pair (two writers, pages a-l and m-z): 90 targets, none shared with an older set
    seen = {(q["file"], q["heading"]) for q in first_seven} | eighth
    for pair in [ALLDOCS_HELDOUTS[k:k + 2] for k in range(8, len(ALLDOCS_HELDOUTS), 2)]:
        pairs = {(q["file"], q["heading"]) for q in heldout_questions(*pair)}
        assert len(pairs) == 90 and not seen & pairs, [f.name for f in pair]
        seen |= pairs
    assert len(ADJACENT2) >= 40 and not set(ADJACENT2) & set(ADJACENT + OFF)
    assert len(ADJACENT3) >= 30 and not set(ADJACENT3) & set(ADJACENT + ADJACENT2 + OFF)
    assert len(ADJACENT4) >= 30 and not set(ADJACENT4) & set(ADJACENT + ADJACENT2 + ADJACENT3 + OFF)
    older = set(ADJACENT + ADJACENT2 + ADJACENT3 + ADJACENT4 + OFF)
    assert len(ADJACENT5) >= 30 and len(ADJACENT6) >= 30 and not set(ADJACENT5 + ADJACENT6) & older
    assert not set(ADJACENT5) & set(ADJACENT6)
    assert not any(names_milvus(q) for q in ADJACENT4 + ADJACENT5 + ADJACENT6)


def test_heldout_headings_exist_in_the_30_docs():
    """Every expected heading of the held-out set is a heading of its page in the 3.0 docs."""
    import re
    import zipfile

    if not DOCS_30.exists():
        pytest.skip(f"missing {DOCS_30}")
    with zipfile.ZipFile(DOCS_30) as zf:
        pages: dict[str, list[str]] = {}
        for name in zf.namelist():
            if name.endswith(".md"):
                pages.setdefault(name.rsplit("/", 1)[-1], []).append(zf.read(name).decode("utf-8", "replace"))
    for q in heldout_questions():
        rx = re.compile(r"^\s*#+\s+" + re.escape(q["heading"]), re.M)
        assert any(rx.search(text) for text in pages.get(q["file"], [])), q


@pytest.fixture(scope="module")
def keyless(tmp_path_factory, docs_zip):
    pipe = Pipeline(settings(tmp_path_factory.mktemp("keyless_quality"), docs_zip))
    pipe.ingest()
    yield pipe
    pipe.store.close()


@pytest.fixture(scope="module")
def local(tmp_path_factory, docs_zip):
    need_local_model()
    tmp = tmp_path_factory.mktemp("local_quality")
    pipe = Pipeline(settings(tmp, docs_zip, FAQBOT_EMBEDDER="sentence-transformers"), embedder=local_embedder())
    pipe.ingest()
    yield pipe
    pipe.store.close()


def _split(pipe, mode, questions):
    return sum(pipe.search(q, mode=mode).confident for q in questions) / len(questions)


def test_keyless_recall_on_dev_questions(keyless):
    m = evaluate(keyless, DEV, ["bm25"], top_k=3)["modes"]["bm25"]
    assert m["recall@3"] >= 0.95, m["misses"]
    assert m["mrr"] >= 0.83


def test_keyless_recall_on_paraphrases(keyless):
    m = evaluate(keyless, PARA, ["bm25"], top_k=3)["modes"]["bm25"]
    assert m["recall@3"] >= 0.70, m["misses"]  # measured 0.729
    assert m["mrr"] >= 0.62


def test_keyless_confidence_split(keyless):
    """The issue's keyless split on the FAQ pages: >= 70 % of the adjacent questions below the bar,
    >= 85 % of the real ones above (the small-corpus bar, Confidence.bm25_small)."""
    assert 1 - _split(keyless, "bm25", OFF) >= 0.90  # measured 0.917
    assert 1 - _split(keyless, "bm25", ADJACENT) >= 0.70  # measured 0.727 (0.841 at the all-docs bar)
    adjacent = ADJACENT + ADJACENT2 + ADJACENT3 + ADJACENT4
    assert 1 - _split(keyless, "bm25", adjacent) >= 0.70  # measured 0.750
    # with the two sets written blind in the fifth session: 0.701 before VectorChord, Upstash,
    # DuckDB, Databricks Vector Search, S3 Vectors, ... joined rag_core.scope's list, 0.745 after
    assert 1 - _split(keyless, "bm25", adjacent + ADJACENT5 + ADJACENT6) >= 0.70
    pinecone = keyless.search("how do I create a serverless index in pinecone and pick the cloud region?")
    assert not pinecone.confident and pinecone.hits  # still retrieved (an @mention is answered), not confident
    assert pinecone.about == "Pinecone" and keyless.search("how do I create an index in milvus?").about is None
    answer = keyless.ask("how do I create a serverless index in pinecone and pick the cloud region?")
    assert "about Pinecone; I answer from the Milvus docs only" in answer.note
    assert _split(keyless, "bm25", [q["q"] for q in DEV]) >= 0.95
    assert _split(keyless, "bm25", [q["q"] for q in PARA]) >= 0.80  # measured 0.833 (0.729 at the all-docs bar)
    assert _split(keyless, "bm25", [q["q"] for q in DEV + PARA]) >= 0.85  # measured 0.873


def test_eval_report_has_the_documented_shape(keyless):
    rep = evaluate(keyless, DEV[:3], ["bm25"], top_k=3, offtopic=OFF[:3])
    assert set(rep) == {"questions", "top_k", "modes"}
    m = rep["modes"]["bm25"]
    assert {"recall@1", "recall@3", "mrr", "misses", "confidence"} <= set(m)
    assert set(m["confidence"]) >= {"offtopic", "offtopic_below", "ontopic_above"}


@pytest.mark.parametrize("name, questions", [("dev", DEV), ("paraphrases", PARA)])
def test_local_hybrid_is_at_least_as_good_as_either_ranking(local, name, questions):
    modes = evaluate(local, questions, ["bm25", "dense", "hybrid"], top_k=3)["modes"]
    best_single = max(modes["dense"]["mrr"], modes["bm25"]["mrr"])
    # the issue's acceptance: hybrid MRR >= max(dense-only, BM25-only), recall@3 not below BM25's
    assert modes["hybrid"]["mrr"] >= best_single, modes
    assert modes["hybrid"]["recall@3"] >= max(modes["bm25"]["recall@3"], 0.95), modes


def test_local_hybrid_confidence_split(local):
    """BM25 evidence plus the top cosine against a bar that rises with the corpus: the
    Milvus-adjacent questions (Pinecone, Kafka, Helm) fall below it far more often than with the
    cosine margin it replaced (0.705), at a small cost on the paraphrases (0.917 before)."""
    assert local.fusion.query_prefix == ""  # 66 chunks: the question is embedded as it is
    assert 1 - _split(local, "hybrid", OFF) >= 0.90  # measured 0.972
    assert 1 - _split(local, "hybrid", ADJACENT + ADJACENT2) >= 0.85  # measured 0.881
    assert _split(local, "hybrid", [q["q"] for q in DEV]) >= 0.95
    assert _split(local, "hybrid", [q["q"] for q in PARA]) >= 0.85  # measured 0.896


def test_hybrid_dense_bar_rises_with_the_corpus():
    """The same top cosine is evidence among 66 FAQ chunks and weak among 4,000 pages' chunks."""
    from rag_core.pipeline import Confidence

    conf = Confidence()
    signals = {"bm25_norm": 0.8, "dense_top": 0.40}
    small = conf.judge("hybrid", {**signals, "ln_corpus": math.log(1 + 66)})
    large = conf.judge("hybrid", {**signals, "ln_corpus": math.log(1 + 4085)})
    assert small[0] and not large[0] and small[1] > large[1]


def test_keyless_bar_is_lower_on_small_collections_and_an_operators_bar_applies_to_all(tmp_path):
    from rag_core.config import load
    from rag_core.pipeline import LARGE_CORPUS, Confidence

    conf = Confidence()
    evidence = {"bm25_norm": 0.45}
    assert conf.judge("bm25", {**evidence, "ln_corpus": math.log(1 + 66)})[0]
    assert not conf.judge("bm25", {**evidence, "ln_corpus": math.log(1 + LARGE_CORPUS)})[0]
    pipe = Pipeline(load(MILVUS_URI=str(tmp_path / "x.db"), FAQBOT_MIN_CONFIDENCE="0.6"))
    assert pipe.confidence.bm25 == pipe.confidence.bm25_small == 0.6


def test_large_corpora_embed_the_question_with_a_query_prefix():
    from rag_core.pipeline import LARGE_CORPUS, fusion_for

    assert fusion_for("sentence-transformers:all-MiniLM-L6-v2", LARGE_CORPUS).query_prefix == "query: "
    assert fusion_for("sentence-transformers:all-MiniLM-L6-v2", 66).query_prefix == ""
    assert fusion_for("gemini:gemini-embedding-001", LARGE_CORPUS).query_prefix == ""
    assert fusion_for("none", LARGE_CORPUS).heading_weight == 0.35 and fusion_for("none", 66).heading_weight == 0.5


def test_the_learned_ranking_is_for_large_corpora_and_the_local_model_s_cosines():
    from rag_core.pipeline import LARGE_CORPUS, fusion_for

    assert fusion_for("sentence-transformers:all-MiniLM-L6-v2", LARGE_CORPUS).rerank == ("bm25", "hybrid")
    assert fusion_for("gemini:gemini-embedding-001", LARGE_CORPUS).rerank == ("bm25",)  # Gemini hybrid: RRF
    assert fusion_for("none", LARGE_CORPUS).rerank == ("bm25",)
    assert all(not fusion_for(name, 66).rerank for name in ("none", "gemini:x", "sentence-transformers:x"))


def _long_chunk():
    from rag_core.chunking import chunk_document

    body = "\n\n".join(f"Paragraph {i} about segment compaction and memory. " * 6 for i in range(8))
    text = (f"---\nid: compaction.md\ntitle: Compaction\n---\n\n# Compaction\n\n## Overview\n\n{body}\n\n"
            f"### Trigger it by hand\n\nCall compact() on the collection.\n")
    return [c for c in chunk_document("en/userGuide/compaction.md", text) if c.heading == "Overview"][0]


def test_long_chunks_are_embedded_in_pieces_short_ones_as_before():
    """A short-window model (MiniLM reads ~1,000 characters) sees every part of a merged chunk:
    pieces of PIECE_CHARS, a merged subsection starts its own piece, each piece keeps the title."""
    from rag_core import pipeline as P
    from rag_core.chunking import Chunk

    chunk = _long_chunk()
    pieces = P.embedding_pieces(chunk)
    assert len(pieces) >= 3 and all(p.startswith("Compaction") for p in pieces)
    assert all(len(p) <= P.PIECE_CHARS + 100 for p in pieces)
    assert any("Trigger it by hand" in p and "compact()" in p for p in pieces)
    short = Chunk(source="en/a.md", title="A", heading="B", path=("B",), body="one line", url="u")
    assert P.embedding_pieces(short) == [P.embedding_text(short)]
    assert P.embedding_hash(short, pieces=True) == P.embedding_hash(short)
    assert P.embedding_hash(chunk, pieces=True) != P.embedding_hash(chunk)
    faq = Chunk(source="en/faq/product_faq.md", title="Product FAQ", heading="Q?", path=("Q?",),
                body=chunk.body, url="u")
    assert P.embedding_pieces(faq) == [P.embedding_text(faq)]  # FAQ pages: one question = one vector
    # the first piece weighs FIRST_PIECE_WEIGHT, the result is unit length
    vec = P.combine_pieces([[1.0, 0.0], [0.0, 1.0]])
    assert abs(sum(x * x for x in vec) - 1) < 1e-9 and vec[0] / vec[1] == pytest.approx(P.FIRST_PIECE_WEIGHT)


def test_ingest_embeds_pieces_only_for_a_short_window_embedder(tmp_path):
    from rag_core.config import load
    from rag_core.sources.memory import MemorySource
    from tests.test_docs_versions import CountingEmbedder

    chunk = _long_chunk()
    page = (f"---\nid: compaction.md\ntitle: Compaction\n---\n\n# Compaction\n\n## Overview\n\n{chunk.body}\n")
    counts = {}
    for short in (False, True):
        emb = CountingEmbedder()
        emb.short_window = short
        settings = load(MILVUS_URI=str(tmp_path / f"m{short}.db"), FAQBOT_DOCS_GLOB="en/**/*.md",
                        FAQBOT_CACHE_DIR=str(tmp_path / "cache"), FAQBOT_DOCS_VERSIONS="v3.0.x")
        pipe = Pipeline(settings, embedder=emb)
        rep = pipe.ingest(docs_source=MemorySource({"v3.0.x": {"en/userGuide/compaction.md": page}},
                                                   current="v3.0.x"))
        counts[short] = (rep.chunks, rep.embedded)
        assert pipe.search("when to trigger compaction by hand", mode="dense").hits
        pipe.store.close()
    assert counts[False][1] == counts[False][0] and counts[True][1] > counts[True][0]


@pytest.fixture(scope="module")
def keyless_alldocs(tmp_path_factory):
    if not DOCS_30.exists():
        pytest.skip(f"missing {DOCS_30}")
    pipe = Pipeline(settings(tmp_path_factory.mktemp("keyless_alldocs"), DOCS_30, FAQBOT_DOCS_GLOB="en/**/*.md",
                             FAQBOT_EMBEDDER="none"))
    pipe.ingest()
    yield pipe
    pipe.store.close()


def test_keyless_all_docs(keyless_alldocs):
    """All 3.0 docs (~4,000 chunks), keyless: recall on dev_alldocs and a confidence threshold that
    still holds on a corpus 60x the FAQ's (a raw BM25 threshold let every off-topic question through)."""
    rows = [json.loads(line) for line in DEV_ALLDOCS.read_text().splitlines() if line.strip()]
    rows += [json.loads(line) for line in (SHARED / "eval" / "dev_versions.jsonl").read_text().splitlines()
             if line.strip() and "version" not in json.loads(line)]
    questions = [{"q": r["q"], "file": r["file"], "heading": r["heading"]} for r in rows]
    m = evaluate(keyless_alldocs, questions, ["bm25"], top_k=3)["modes"]["bm25"]
    assert m["recall@3"] >= 0.70, m["misses"]  # measured 0.742
    assert m["mrr"] >= 0.63  # measured 0.654 (0.690 with rank fusion, before rag_core.rerank; 0.674 before the refit)
    assert 1 - _split(keyless_alldocs, "bm25", OFF) >= 0.75  # measured 0.861 (0.806 before Redis, MongoDB)
    assert _split(keyless_alldocs, "bm25", [q["q"] for q in questions]) >= 0.90  # measured 0.935


def _keyless_on(pipe, *paths: Path) -> dict:
    """Keyless recall/MRR (and misses) of these held-out files on `pipe`."""
    return evaluate(pipe, heldout_questions(*paths), ["bm25"], top_k=3)["modes"]["bm25"]


def test_keyless_all_docs_held_out(keyless_alldocs):
    """The held-out sets (Slack-style questions, floors per set) and the Milvus-adjacent off-topic ones."""
    heldout = heldout_questions(ALLDOCS_HELDOUT, ALLDOCS_HELDOUT2)
    m = evaluate(keyless_alldocs, heldout, ["bm25"], top_k=3)["modes"]["bm25"]
    assert m["recall@3"] >= 0.66, m["misses"]  # measured 0.667 (0.648 with rank fusion; 0.686 before the refit)
    assert m["mrr"] >= 0.59  # measured 0.625 (0.583)
    # the third set, written after the last tuning (easier: the code before issue 10 scored 0.911)
    third = heldout_questions(ALLDOCS_HELDOUT3)
    m3 = evaluate(keyless_alldocs, third, ["bm25"], top_k=3)["modes"]["bm25"]
    assert m3["recall@3"] >= 0.88, m3["misses"]  # measured 0.889 (0.889; 0.911 before the refit)
    assert m3["mrr"] >= 0.83  # measured 0.860 (0.804)
    # the fourth, written blind before anything was measured on it: the hardest so far, below the
    # issue's recall target (0.70); these floors only guard against regressions
    fourth = heldout_questions(ALLDOCS_HELDOUT4)
    m4 = evaluate(keyless_alldocs, fourth, ["bm25"], top_k=3)["modes"]["bm25"]
    assert m4["recall@3"] >= 0.64, m4["misses"]  # measured 0.667 (0.622)
    assert m4["mrr"] >= 0.58  # measured 0.604 (0.518)
    # later sets: (files, recall@3 floor, MRR floor), measured recall@3 / MRR (with rank fusion, where given).
    # Since the eighth session WEIGHTS are fitted on dev and held-out 1-20, so only 21-30 are blind to them
    floors = [
        # the fifth and sixth, written blind in the fifth session (two writers) and measured once
        # before anything was tried on them: both meet the keyless targets (0.70 / 0.58)
        ((ALLDOCS_HELDOUT5,), 0.73, 0.65),  # 0.733 / 0.675 (0.711 / 0.601)
        ((ALLDOCS_HELDOUT6,), 0.73, 0.66),  # 0.756 / 0.690 (0.778 / 0.656)
        # the seventh and eighth, written blind to test rag_core.rerank once (pages milvus.io renders)
        ((ALLDOCS_HELDOUT7, ALLDOCS_HELDOUT8), 0.66, 0.61),  # 0.689 / 0.641 (0.667 / 0.593)
        # the ninth and tenth, written after it was adopted (easier than the set: the code
        # before issue 10 measured 0.733 there)
        ((ALLDOCS_HELDOUT9, ALLDOCS_HELDOUT10), 0.75, 0.70),  # 0.778 / 0.736
        # the eleventh and twelfth, written blind in the sixth session; the eleventh is as hard as
        # the set (the code before issue 10 measured 0.622 / 0.485 there)
        ((ALLDOCS_HELDOUT11, ALLDOCS_HELDOUT12), 0.75, 0.65),  # 0.778 / 0.680
        # the thirteenth and fourteenth, written blind after them; the thirteenth is as hard as the
        # issue's set (before issue 10: 0.556 / 0.484) and below the keyless targets today
        ((ALLDOCS_HELDOUT13, ALLDOCS_HELDOUT14), 0.66, 0.60),  # 0.689 / 0.628
        # the fifteenth and sixteenth, written blind in the seventh session to test late interaction
        # (hybrid only); easier for keyless than the set (before issue 10: 0.844 and 0.778)
        ((ALLDOCS_HELDOUT15, ALLDOCS_HELDOUT16), 0.86, 0.75),  # 0.889 / 0.782
        # the seventeenth and eighteenth, written blind after it was adopted (a second check of it)
        ((ALLDOCS_HELDOUT17, ALLDOCS_HELDOUT18), 0.79, 0.69),  # 0.822 / 0.717
        # the nineteenth and twentieth, written blind in the eighth session, half of them describing a
        # goal or symptom; as hard as the set (before issue 10: 0.644 / 0.547 pooled)
        (heldout_files(19, 20), 0.71, 0.62),  # 0.733 / 0.652
        # the twenty-first and twenty-second, written blind to test that refit (kept: 0.811 / 0.715 before)
        (heldout_files(21, 22), 0.79, 0.69),  # 0.822 / 0.716
        # the twenty-third and twenty-fourth, written blind after it and measured once: the most like the
        # issue's set (before issue 10: 0.600 / 0.497), exactly at the keyless targets
        (heldout_files(23, 24), 0.68, 0.58),  # 0.700 / 0.601
        # the twenty-fifth and twenty-sixth, written blind in the ninth session and measured once: harder
        # than the set for the code before issue 10 (0.556 / 0.494)
        (heldout_files(25, 26), 0.73, 0.60),  # 0.756 / 0.623
        # the twenty-seventh and twenty-eighth, written blind after them and measured once (before issue 10:
        # 0.611 / 0.466, as hard as the set)
        (heldout_files(27, 28), 0.72, 0.60),  # 0.744 / 0.628
        # the twenty-ninth and thirtieth, written blind in the tenth session and measured once: harder than
        # the set for the code before issue 10 (0.556 / 0.463)
        (heldout_files(29, 30), 0.71, 0.63),  # 0.733 / 0.651
    ]
    for files, recall, mrr in floors:
        m = _keyless_on(keyless_alldocs, *files)
        assert m["recall@3"] >= recall, ([f.name for f in files], m["misses"])
        assert m["mrr"] >= mrr, [f.name for f in files]
    # the split for keyless on all docs: >= 70 % of adjacent below, >= 85 % of real above
    adjacent = ADJACENT + ADJACENT2 + ADJACENT3 + ADJACENT4 + ADJACENT5 + ADJACENT6
    assert 1 - _split(keyless_alldocs, "bm25", adjacent) >= 0.70  # measured 0.760 (0.721 before VectorChord, ...)
    assert 1 - _split(keyless_alldocs, "bm25", ADJACENT4) >= 0.66  # measured 0.667 (0.533 before Solr, ...)
    later = heldout_questions(ALLDOCS_HELDOUT5, ALLDOCS_HELDOUT6)
    assert _split(keyless_alldocs, "bm25", [q["q"] for q in heldout + third + fourth + later]) >= 0.90  # measured 0.949
    # integration pages need more evidence unless the question names Milvus (rag_core.scope)
    assert keyless_alldocs.search("how do I use milvus as a vector store in langchain?").confident
    assert not keyless_alldocs.search("how do I change retention.ms on an existing kafka topic with "
                                      "kafka-configs?").confident  # matches the Kafka Connect integration page


def test_keyless_all_docs_ranks_with_the_learned_score(keyless_alldocs):
    """On a large collection keyless hits come from rag_core.rerank; a chunk found by its headings
    alone is read from Milvus before it is returned (complete, with its text)."""
    assert "bm25" in keyless_alldocs.fusion.rerank
    res = keyless_alldocs.search("how do I move from kafka to woodpecker?", top_k=10)
    assert len(res.hits) == 10 and all(h.complete and h.text and h.url for h in res.hits)
    assert [h.score for h in res.hits] == sorted((h.score for h in res.hits), reverse=True)
    assert "switch-kafka-woodpecker.md" in res.hits[0].url
