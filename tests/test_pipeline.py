"""ingest -> search -> ask on real Milvus Lite, keyless and against the fake Gemini."""

import shutil

import pytest

from rag_core.pipeline import Pipeline
from rag_core.sources import SourceError
from rag_core.store import EmbedderMismatch

QUESTION = "How is data stored in milvus?"


@pytest.fixture
def keyless(make_settings):
    pipe = Pipeline(make_settings())
    yield pipe
    pipe.store.close()


def test_keyless_ingest_search_ask(keyless):
    report = keyless.ingest()
    assert report.files == 4 and report.chunks > 50
    assert report.added == report.chunks and report.embedding_calls == 0
    res = keyless.search(QUESTION)
    assert res.mode == "bm25" and len(res.hits) == 3
    assert any(h.heading == "Where does Milvus store data?" for h in res.hits)
    ans = keyless.ask(QUESTION)
    assert ans.mode == "extractive" and ans.note is None
    assert "MinIO" in ans.answer and "etcd" in ans.answer
    # a zip holds one version (v2.4.x, from its name) and its links carry the version segment
    assert "https://milvus.io/docs/v2.4.x/product_faq.md#Where-does-Milvus-store-data" in ans.answer
    assert ans.sources[0]["url"].startswith("https://milvus.io/docs/")
    js = ans.to_json()
    assert set(js) >= {"question", "answer", "mode", "sources", "retrieval", "timings_ms"}
    assert js["retrieval"]["mode"] == "bm25"
    assert set(js["retrieval"]["results"][0]) >= {"id", "text", "title", "heading", "source", "url", "score"}


def test_reingest_changes_nothing(make_settings, fake_gemini, gemini_env):
    pipe = Pipeline(make_settings(**gemini_env))
    first = pipe.ingest()
    assert first.embedding_calls == 1 and first.added == first.chunks
    calls = fake_gemini.embed_requests
    second = pipe.ingest()
    assert (second.added, second.updated, second.deleted, second.embedding_calls) == (0, 0, 0, 0)
    assert fake_gemini.embed_requests == calls
    assert pipe.store.count() == first.chunks


def test_doc_edit_updates_one_chunk_and_removed_section_disappears(make_settings, faq_folder, tmp_path,
                                                                   fake_gemini, gemini_env):
    docs = tmp_path / "milvus_docs_2.4.x"  # a folder holds one docs version, named here
    shutil.copytree(faq_folder, docs)
    pipe = Pipeline(make_settings(FAQBOT_DOCS_SOURCE=str(docs), **gemini_env))
    base = pipe.ingest()
    page = docs / "en" / "faq" / "product_faq.md"
    text = page.read_text()
    text = text.replace("Milvus is a 100% free open-source project.", "Milvus is free and open source (edited).")
    start = text.index("#### Why is there no vector data in etcd?")
    end = text.index("####", start + 5)
    page.write_text(text[:start] + text[end:])
    report = pipe.ingest()
    assert (report.added, report.updated, report.deleted) == (0, 1, 1)
    assert report.embedding_calls == 1 and report.chunks == base.chunks - 1
    res = pipe.search("How much does Milvus cost?", mode="bm25")
    assert "(edited)" in res.hits[0].text
    assert not any(h.heading == "Why is there no vector data in etcd?"
                   for h in pipe.search("no vector data in etcd", top_k=10).hits)


def test_a_new_faq_entry_ranks_first_for_its_own_question_after_an_incremental_ingest(
        make_settings, faq_folder, tmp_path, fake_gemini, gemini_env):
    """Milvus Lite keeps BM25 statistics per segment: a chunk written alone got near-zero IDF and
    ranked below unrelated pages. The ingest rewrites all rows (stored vectors, no new embeddings)."""
    docs = tmp_path / "milvus_docs_2.4.x"  # a folder holds one docs version, named here
    shutil.copytree(faq_folder, docs)
    pipe = Pipeline(make_settings(FAQBOT_DOCS_SOURCE=str(docs), **gemini_env))
    base = pipe.ingest()
    some = sorted(pipe.store.locations())[:5]
    before = pipe.store.vectors(some)
    page = docs / "en" / "faq" / "operational_faq.md"
    page.write_text(page.read_text() + "\n\n### What is the release codeword for the test team?\n\n"
                    "The release codeword for the test team is zebra-lantern-42.\n")
    calls = fake_gemini.embed_requests
    report = pipe.ingest()
    assert (report.added, report.updated, report.deleted, report.embedding_calls) == (1, 0, 0, 1)
    assert fake_gemini.embed_requests == calls + 1 and pipe.store.count() == base.chunks + 1
    question = "What is the release codeword for the test team?"
    for mode in ("bm25", "hybrid"):
        res = pipe.search(question, mode=mode)
        assert "zebra-lantern-42" in res.hits[0].text, (mode, [h.heading for h in res.hits])
    assert pipe.search(question, mode="bm25").confident
    assert pipe.store.vectors(some) == before  # rewritten rows keep their stored vectors
    assert pipe.ingest().embedding_calls == 0


def test_gemini_mode_hybrid_answer_cites(make_settings, fake_gemini, gemini_env):
    pipe = Pipeline(make_settings(**gemini_env))
    pipe.ingest()
    res = pipe.search(QUESTION)
    assert res.mode == "hybrid"
    ans = pipe.ask(QUESTION)
    assert ans.mode == "gemini" and "[1]" in ans.answer
    gen = [r for r in fake_gemini.requests if r["action"] == "generateContent"]
    body = gen[-1]["json"]
    prompt = body["contents"][0]["parts"][0]["text"]
    assert "[1] " in prompt and QUESTION in prompt and "milvus.io/docs" in prompt
    assert "ONLY" in body["systemInstruction"]["parts"][0]["text"]
    emb = [r for r in fake_gemini.requests if r["action"] == "batchEmbedContents"]
    assert emb[0]["json"]["requests"][0]["taskType"] == "RETRIEVAL_DOCUMENT"
    assert emb[-1]["json"]["requests"][0]["taskType"] == "RETRIEVAL_QUERY"
    assert emb[-1]["json"]["requests"][0]["outputDimensionality"] == 768


def test_streamed_answer_reports_deltas(make_settings, fake_gemini, gemini_env):
    pipe = Pipeline(make_settings(**gemini_env))
    pipe.ingest()
    deltas = []
    ans = pipe.ask(QUESTION, on_delta=deltas.append)
    assert ans.mode == "gemini" and len(deltas) >= 2 and "".join(deltas).strip() == ans.answer


def test_more_than_100_chunks_are_embedded_in_batches(make_settings, fake_gemini, gemini_env):
    pipe = Pipeline(make_settings(FAQBOT_DOCS_GLOB="en/reference/*.md", **gemini_env))
    report = pipe.ingest()
    assert report.chunks > 200
    batches = [len(r["json"]["requests"]) for r in fake_gemini.requests if r["action"] == "batchEmbedContents"]
    assert max(batches) <= 100
    assert sum(batches) == report.chunks
    assert report.embedding_calls == len(batches) == -(-report.chunks // 100)
    vec = pipe.embedder.embed_query("index")
    assert abs(sum(x * x for x in vec) - 1.0) < 1e-6  # L2-normalised


@pytest.mark.parametrize("fault", ["500", "503", "429", "block_prompt", "block_answer", "malformed"])
def test_gemini_faults_fall_back_to_extractive(make_settings, fake_gemini, gemini_env, fault):
    pipe = Pipeline(make_settings(**gemini_env))
    pipe.ingest()
    fake_gemini.set_fault(fault, times=None, on="generate")
    ans = pipe.ask(QUESTION)
    assert ans.mode == "extractive"
    assert ans.note and "AI answer unavailable" in ans.note
    assert "milvus.io/docs" in ans.answer


def test_gemini_hang_falls_back_quickly(make_settings, fake_gemini, gemini_env):
    import time

    pipe = Pipeline(make_settings(GEMINI_TIMEOUT="2", **gemini_env))
    pipe.ingest()
    fake_gemini.set_fault("hang", times=None, on="generate", delay=30)
    t0 = time.monotonic()
    ans = pipe.ask(QUESTION)
    assert ans.mode == "extractive" and "timed out" in ans.note
    assert time.monotonic() - t0 < 10


def test_embedder_mismatch_is_a_clear_error(make_settings, fake_gemini, gemini_env):
    Pipeline(make_settings(**gemini_env)).ingest()
    keyless = Pipeline(make_settings())
    with pytest.raises(EmbedderMismatch, match=r"faqbot ingest --recreate"):
        keyless.search(QUESTION)
    with pytest.raises(EmbedderMismatch):
        keyless.ingest()
    assert keyless.ingest(recreate=True).added > 0
    assert keyless.search(QUESTION).mode == "bm25"


def test_bad_sources_fail_before_touching_the_collection(keyless, tmp_path):
    keyless.ingest()
    count = keyless.store.count()
    bad = tmp_path / "corrupt.zip"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    empty = tmp_path / "empty"
    empty.mkdir()
    cases = [
        (str(tmp_path / "missing.zip"), None, "no such file"),
        (str(bad), None, "not a readable zip"),
        (str(empty), None, "is empty"),
        (None, "en/nothing/*.md", "matches no file"),
    ]
    for source, glob, message in cases:
        with pytest.raises(SourceError, match=message):
            keyless.ingest(source=source, glob=glob)
    assert keyless.store.count() == count


def test_gemini_429_waits_as_long_as_retryinfo_says_then_answers(make_settings, fake_gemini, gemini_env):
    pipe = Pipeline(make_settings(**gemini_env))
    pipe.ingest()
    slept = []
    pipe.answerer._sleep = lambda s: slept.append(s)
    fake_gemini.set_fault("429", times=1, on="generate")
    ans = pipe.ask(QUESTION)
    assert ans.mode == "gemini" and ans.note is None
    assert slept == [1.0]  # RetryInfo retryDelay "1s"
    fake_gemini.set_fault("503", times=1, on="generate")
    assert pipe.ask(QUESTION).mode == "gemini"


def test_query_embedding_failure_falls_back_to_bm25(make_settings, fake_gemini, gemini_env):
    pipe = Pipeline(make_settings(**gemini_env))
    pipe.ingest()
    fake_gemini.set_fault("500", times=None, on="embed")
    res = pipe.search(QUESTION)
    assert res.mode == "bm25" and res.hits


def test_off_topic_question_says_the_docs_do_not_cover_it(keyless):
    keyless.ingest()
    ans = keyless.ask("What's the weather in Paris tomorrow?")
    assert not ans.retrieval.confident
    assert ans.answer.startswith("The Milvus docs I have don't cover this.")
    assert len(ans.sources) == 1
