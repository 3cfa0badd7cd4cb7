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
