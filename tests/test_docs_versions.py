"""Several docs versions in one collection: incremental ingest per version, routing, links.

Fast: an in-memory docs source, keyless or with a small counting embedder, on a temp Lite file.
The GitHub source over the wire is in test_github_source.py.
"""

from __future__ import annotations

import hashlib

import pytest

from rag_core.config import load
from rag_core.pipeline import Pipeline
from rag_core.sources import SourceError
from rag_core.sources.memory import MemorySource
from rag_core.store import StoreError

FAQ_24 = """---
id: product_faq.md
title: Product FAQ
---

# Product FAQ

## Does Milvus support non-x86 architectures?

Milvus cannot be installed or run on non-x86 platforms.

## How much does Milvus cost?

Milvus is a 100% free open-source project.
"""

FAQ_30 = FAQ_24.replace("Milvus cannot be installed or run on non-x86 platforms.",
                        "Yes, Milvus supports both x86 and ARM architectures.")
FULLTEXT_30 = """---
id: full-text-search.md
title: Full Text Search
---

# Full Text Search

## BM25 function

Full text search turns raw text into sparse vectors with the built-in BM25 function.
"""


class CountingEmbedder:
    """Deterministic 8-d vectors; counts texts and requests like the real embedders."""

    name = "test:counting"
    dim = 8

    def __init__(self):
        self.calls = 0
        self.texts: list[str] = []

    def _vec(self, text):
        digest = hashlib.sha256(text.encode()).digest()
        v = [b / 255 + 0.01 for b in digest[: self.dim]]
        norm = sum(x * x for x in v) ** 0.5
        return [x / norm for x in v]

    def embed_documents(self, texts):
        self.calls += 1
        self.texts += list(texts)
        return [self._vec(t) for t in texts]

    def embed_query(self, text):
        return self._vec(text)


def source(**extra):
    docs = {"v2.4.x": {"en/faq/product_faq.md": FAQ_24},
            "v3.0.x": {"en/faq/product_faq.md": FAQ_30, "en/userGuide/full-text-search.md": FULLTEXT_30}}
    docs.update(extra)
    return MemorySource(docs, current="v3.0.x")


@pytest.fixture
def pipe_for(tmp_path):
    def make(versions="latest,v2.4.x", embedder=None, glob="en/**/*.md", **env):
        settings = load(MILVUS_URI=str(tmp_path / "m.db"), FAQBOT_DOCS_VERSIONS=versions,
                        FAQBOT_DOCS_GLOB=glob, FAQBOT_CACHE_DIR=str(tmp_path / "cache"), **env)
        return Pipeline(settings, embedder=embedder)

    return make


def test_two_versions_route_by_question_and_link_with_version_segment(pipe_for):
    pipe = pipe_for()
    report = pipe.ingest(docs_source=source())
    assert report.versions == ["v3.0.x", "v2.4.x"] and report.added == report.chunks > 0

    old = pipe.search("We're still on Milvus 2.4 - can it run on ARM or other non-x86 machines?")
    assert old.version == "v2.4.x" and old.route.note is None
    assert {h.version for h in old.hits} == {"v2.4.x"}
    assert old.hits[0].url == ("https://milvus.io/docs/v2.4.x/product_faq.md"
                               "#Does-Milvus-support-non-x86-architectures")
    assert "cannot be installed" in old.hits[0].text

    new = pipe.search("can it run on ARM or other non-x86 machines?")
    assert new.version == "v3.0.x" and {h.version for h in new.hits} == {"v3.0.x"}
    assert new.hits[0].url == "https://milvus.io/docs/product_faq.md#Does-Milvus-support-non-x86-architectures"
    assert "ARM" in new.hits[0].text

    ans = pipe.ask("milvus 2.4: can it run on ARM?")
    assert ans.version == "v2.4.x" and ans.to_json()["version"] == "v2.4.x"
    assert all(r["version"] == "v2.4.x" for r in ans.to_json()["retrieval"]["results"])


def test_numbers_that_are_not_versions_do_not_route(pipe_for):
    pipe = pipe_for()
    pipe.ingest(docs_source=source())
    res = pipe.search("can milvus hold 2.4 million vectors on ARM?")
    assert res.version == "v3.0.x" and res.route.asked is None


def test_version_not_indexed_says_which_version_it_used(pipe_for):
    pipe = pipe_for()
    pipe.ingest(docs_source=source())
    res = pipe.search("on milvus 2.6 can it run on ARM?")
    assert res.version == "v3.0.x" and res.route.asked == "v2.6.x"
    assert "v2.6.x" in res.route.note and "v3.0.x" in res.route.note
    ans = pipe.ask("on milvus 2.6 can it run on ARM?")
    assert ans.note and "v2.6.x docs are not indexed" in ans.note


def test_explicit_version_and_channel_default(pipe_for):
    pipe = pipe_for()
    pipe.ingest(docs_source=source())
    assert pipe.search("ARM support?", version="v2.4.x").version == "v2.4.x"
    assert pipe.search("ARM support?", version="latest").version == "v3.0.x"
    assert pipe.search("ARM support?", default_version="v2.4.x").version == "v2.4.x"
    # the question's own version beats the channel's default
    assert pipe.search("on 3.0, ARM support?", default_version="v2.4.x").version == "v3.0.x"
    # a channel default that is not indexed falls back to the configured default
    assert pipe.search("ARM support?", default_version="v2.5.x").version == "v3.0.x"
    with pytest.raises(StoreError, match="v2.6.x is not indexed.*v3.0.x, v2.4.x"):
        pipe.search("ARM support?", version="v2.6.x")


def test_first_configured_version_is_the_default(pipe_for):
    pipe = pipe_for(versions="v2.4.x,latest")
    pipe.ingest(docs_source=source())
    assert pipe.default_version() == "v2.4.x"
    assert pipe.search("ARM support?").version == "v2.4.x"


def test_reingest_unchanged_skips_every_version(pipe_for):
    pipe = pipe_for(embedder=CountingEmbedder())
    src = source()
    pipe.ingest(docs_source=src)
    reads = src.downloads
    report = pipe.ingest(docs_source=src)
    assert report.skipped == ["v3.0.x", "v2.4.x"]
    assert (report.added, report.updated, report.deleted, report.embedding_calls) == (0, 0, 0, 0)
    assert src.downloads == reads  # unchanged versions are not even read


def test_identical_text_in_two_versions_is_embedded_once(pipe_for):
    emb = CountingEmbedder()
    pipe = pipe_for(embedder=emb)
    pipe.ingest(docs_source=source())
    # "How much does Milvus cost?" and the page intro are the same in 2.4 and 3.0
    assert len(emb.texts) == len(set(emb.texts))
    stored = pipe.store.count()
    assert len(emb.texts) < stored
    # a new version that copies 3.0 word for word needs no embedding at all
    calls = emb.calls
    report = pipe.ingest(docs_source=source(**{"v2.6.x": source().docs["v3.0.x"]}), version="v2.6.x")
    assert report.added > 0 and emb.calls == calls and report.embedding_calls == 0
    # ...and its chunks carry their own links and version
    hits = pipe.search("ARM?", version="v2.6.x").hits
    assert hits and all(h.version == "v2.6.x" and "/docs/v2.6.x/" in h.url for h in hits)


def test_one_changed_file_rewrites_only_its_version(pipe_for):
    emb = CountingEmbedder()
    pipe = pipe_for(embedder=emb)
    pipe.ingest(docs_source=source())
    changed = source()
    changed.docs["v3.0.x"]["en/faq/product_faq.md"] = FAQ_30.replace("100% free", "free and")
    report = pipe.ingest(docs_source=changed)
    assert report.skipped == ["v2.4.x"]
    assert (report.added, report.updated, report.deleted) == (0, 1, 0)
    assert report.embedding_calls == 1
    assert "free and" in pipe.search("How much does Milvus cost?").hits[0].text


def test_versions_no_longer_configured_are_removed(pipe_for):
    pipe = pipe_for()
    pipe.ingest(docs_source=source())
    n24 = pipe.store.count("v2.4.x")
    assert n24 > 0
    # --version touches only that version
    report = pipe.ingest(docs_source=source(), version="v3.0.x")
    assert report.removed == [] and pipe.store.count("v2.4.x") == n24
    # the configured list is the truth for a plain ingest
    pipe.settings.docs_versions = "latest"
    report = pipe.ingest(docs_source=source())
    assert report.removed == ["v2.4.x"] and report.deleted == n24
    assert pipe.store.count("v2.4.x") == 0 and pipe.indexed_versions() == ["v3.0.x"]


def test_missing_version_fails_before_anything_changes(pipe_for):
    pipe = pipe_for()
    pipe.ingest(docs_source=source())
    before = pipe.store.rows()
    pipe.settings.docs_versions = "latest,v9.9.x"
    with pytest.raises(SourceError, match="v9.9.x is not in memory; it has v3.0.x, v2.4.x"):
        pipe.ingest(docs_source=source())
    assert pipe.store.rows() == before


def test_failed_read_changes_nothing(pipe_for):
    pipe = pipe_for()
    pipe.ingest(docs_source=source())
    before = pipe.store.rows()
    broken = source()
    broken.docs["v3.0.x"]["en/faq/product_faq.md"] = "changed"

    def fail(*_):
        raise SourceError("Downloading en/faq/product_faq.md failed (HTTP 500); the collection is unchanged.")

    broken._read = fail
    with pytest.raises(SourceError):
        pipe.ingest(docs_source=broken, recreate=True)  # not even --recreate drops anything first
    assert pipe.store.rows() == before


def test_current_version_moving_relinks_without_embedding(pipe_for):
    emb = CountingEmbedder()
    pipe = pipe_for(versions="latest,v3.0.x", embedder=emb)
    pipe.ingest(docs_source=source())
    moved = source(**{"v3.1.x": source().docs["v3.0.x"]})
    moved.current = "v3.1.x"
    calls = emb.calls
    report = pipe.ingest(docs_source=moved)
    assert report.versions == ["v3.1.x", "v3.0.x"] and emb.calls == calls
    assert pipe.search("ARM?").version == "v3.1.x"
    assert pipe.search("ARM?").hits[0].url.startswith("https://milvus.io/docs/product_faq.md")
    old = pipe.search("on milvus 3.0, ARM?")
    assert old.version == "v3.0.x" and old.hits[0].url.startswith("https://milvus.io/docs/v3.0.x/product_faq.md")


def test_zip_source_version_comes_from_its_name(make_settings):
    pipe = Pipeline(make_settings())
    report = pipe.ingest()
    assert report.versions == ["v2.4.x"]
    hit = pipe.search("Does Milvus support non-x86 architectures?").hits[0]
    assert hit.version == "v2.4.x"
    assert hit.url == "https://milvus.io/docs/v2.4.x/product_faq.md#Does-Milvus-support-non-x86-architectures"


def test_zip_source_named_version_wins_and_several_are_refused(make_settings):
    pipe = Pipeline(make_settings(FAQBOT_DOCS_VERSIONS="v2.4.x"))
    assert pipe.ingest().versions == ["v2.4.x"]
    pipe = Pipeline(make_settings(FAQBOT_DOCS_VERSIONS="latest,v2.5.x"))
    with pytest.raises(SourceError, match="holds one"):
        pipe.ingest()


def test_collection_from_an_older_schema_asks_for_recreate(pipe_for):
    pipe = pipe_for()
    pipe.ingest(docs_source=source())
    pipe.store._call(lambda c: c.alter_collection_properties(pipe.store.collection,
                                                             properties={"faqbot.schema": "2"}))
    fresh = pipe_for()
    with pytest.raises(StoreError, match="--recreate"):
        fresh.search("ARM?")


def test_each_version_lives_in_its_own_partition_and_a_search_reads_only_that_one(pipe_for, monkeypatch):
    from rag_core.store import partition_of

    pipe = pipe_for()
    pipe.ingest(docs_source=source())
    client = pipe.store.client()
    for version in ("v3.0.x", "v2.4.x"):
        rows = client.query(pipe.store.collection, partition_names=[partition_of(version)], output_fields=["version"],
                            limit=1000)
        assert rows and {r["version"] for r in rows} == {version} and len(rows) == pipe.store.count(version)
    seen = []
    real = client.search
    monkeypatch.setattr(client, "search", lambda *a, **k: seen.append(k["partition_names"]) or real(*a, **k))
    res = pipe.search("We're still on Milvus 2.4 - can it run on ARM?")
    assert seen == [[partition_of("v2.4.x")]] and {h.version for h in res.hits} == {"v2.4.x"}
    # a version without a partition is not searched at all
    assert pipe.store.search_bm25("arm", 3, version="v9.9.x") == [] and len(seen) == 1


@pytest.mark.parametrize("version, name", [("v3.0.x", "v3_0_x"), ("v2.6.3", "v2_6_3"), ("2.5", "v_2_5"),
                                           ("master", "master"), ("", "_default"), (None, "_default")])
def test_partition_names_are_ones_milvus_accepts(version, name):
    from rag_core.store import partition_of

    assert partition_of(version) == name
