"""The sentence-transformers embedder, fully offline (all-MiniLM-L6-v2 shipped by a package)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.retrieval_support import local_embedder, need_local_model, settings

need_local_model()

from rag_core.embedders import _resolve_local_model  # noqa: E402
from rag_core.pipeline import Pipeline  # noqa: E402
from rag_core.store import EmbedderMismatch  # noqa: E402


@pytest.fixture(scope="module")
def local(tmp_path_factory, docs_zip):
    tmp = tmp_path_factory.mktemp("local_embedder")
    pipe = Pipeline(settings(tmp, docs_zip, FAQBOT_EMBEDDER="sentence-transformers"), embedder=local_embedder())
    report = pipe.ingest()
    yield pipe, report, tmp
    pipe.store.close()


def test_model_resolves_to_the_packaged_copy():
    path = Path(_resolve_local_model("sentence-transformers/all-MiniLM-L6-v2"))
    assert path.is_dir() and (path / "modules.json").is_file()
    assert _resolve_local_model("some-org/other-model") == "some-org/other-model"


def test_loads_offline_and_embeds_normalised_vectors():
    emb = local_embedder()
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    assert emb.dim == 384 and emb.name == "sentence-transformers:sentence-transformers/all-MiniLM-L6-v2"
    vec = emb.embed_query("Where does Milvus store data?")
    assert len(vec) == 384 and abs(sum(x * x for x in vec) - 1.0) < 1e-3


def test_ingest_records_embedder_and_hybrid_search_works(local):
    pipe, report, _ = local
    assert report.files == 4 and report.added == report.chunks > 50 and report.embedding_calls >= 1
    assert pipe.store.recorded_embedder() == (local_embedder().name, 384)
    res = pipe.search("where does milvus keep my data?")
    assert res.mode == "hybrid" and len(res.hits) == 3
    assert any(h.heading == "Where does Milvus store data?" for h in res.hits)
    assert res.confident and res.dense_top > 0.3
    dense = pipe.search("Does Milvus cost money?", mode="dense")
    assert dense.mode == "dense" and any(h.heading == "How much does Milvus cost?" for h in dense.hits)


def test_reingest_embeds_nothing(local):
    pipe, report, _ = local
    again = pipe.ingest()
    assert (again.added, again.updated, again.deleted, again.embedding_calls) == (0, 0, 0, 0)


def test_keyless_pipeline_on_that_collection_is_a_mismatch(local, docs_zip):
    _, _, tmp = local
    keyless = Pipeline(settings(tmp, docs_zip))
    try:
        with pytest.raises(EmbedderMismatch, match=r"faqbot ingest --recreate"):
            keyless.search("Where does Milvus store data?")
    finally:
        keyless.store.close()


def test_ingest_stores_every_chunks_word_pieces(local):
    from rag_core import late

    pipe, report, _ = local
    assert pipe.store.late_format() == late.FORMAT and pipe.late_on
    ids = list(pipe.store.rows())
    stored = pipe.store.vectors(ids, ("dense", "late"))
    assert len(stored) == len(ids) == report.chunks
    shapes = [late.decode(row["late"]).shape for row in stored.values()]
    assert all(0 < n <= late.MAX_PIECES and d == late.PROJ_DIM for n, d in shapes)


def test_the_question_gets_its_vector_and_word_pieces_in_one_pass():
    emb = local_embedder()
    calls = emb.calls
    vec, matrix = emb.embed_query_late("where does milvus keep data?", "query: ")
    assert emb.calls == calls + 1
    assert vec == pytest.approx(emb.embed_query("query: where does milvus keep data?"), abs=1e-5)
    # where, does, mil, ##vus, keep, data: the prefix's "query" and ":" and the "?" left out
    assert matrix.shape == (6, 64)
    (v1, p1), = emb.embed_documents_late(["Milvus stores data in object storage."])
    assert v1 == pytest.approx(emb.embed_documents(["Milvus stores data in object storage."])[0], abs=1e-5)
    assert len(p1[0]) == len(p1[1]) >= 7  # word pieces, special tokens left out


def test_the_learned_hybrid_ranking_weighs_late_interaction(local, monkeypatch):
    """On all docs (>= LARGE_CORPUS chunks) the local model's hybrid is ranked by rag_core.rerank
    with the late feature; here the large-corpus fusion is forced on the FAQ pages."""
    from rag_core import rerank as R
    from rag_core.pipeline import FUSION_LARGE_BY_EMBEDDER

    pipe, _, _ = local
    fusion = FUSION_LARGE_BY_EMBEDDER["sentence-transformers:"]
    seen = []
    real = R.rerank
    monkeypatch.setattr(R, "rerank", lambda *a, **k: seen.append(k.get("late")) or real(*a, **k))
    keep = pipe.fusion
    pipe.fusion = fusion
    try:
        cand = pipe.retrieve("where does milvus keep my data?", R.DEPTH, "hybrid", degrade=False)
        scores = pipe.late_scores(cand)
        assert cand.late_query is not None and set(scores) == set(
            R.candidate_ids(*[[(h.id, h.score) for h in lst] for lst in (cand.bm25, cand.head, cand.dense)]))
        res = pipe.search("where does milvus keep my data?", mode="hybrid")
        assert seen and seen[-1] and res.hits[0].heading == "Where does Milvus store data?"
        # a collection without the data (built before it existed) ranks as before, without it
        pipe._late = False
        assert pipe.retrieve("where does milvus keep my data?", R.DEPTH, "hybrid").late_query is None
        pipe.search("where does milvus keep my data?", mode="hybrid")
        assert seen[-1] is None
    finally:
        pipe.fusion, pipe._late = keep, None


def test_doctor_says_whether_late_interaction_is_on(local):
    from rag_core.doctor import _late_note

    pipe, _, _ = local
    assert _late_note(pipe.embedder, pipe.store) == "; late interaction on"

    class Older:  # a collection built before the late field existed
        def late_format(self):
            return ""

    assert "`faqbot ingest --recreate` adds it" in _late_note(pipe.embedder, Older())
    assert _late_note(object(), pipe.store) == ""  # Gemini, keyless: nothing to say
