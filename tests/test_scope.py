"""A question about another vector database is not a Milvus question (rag_core.scope)."""

import pytest

from rag_core.scope import other_product, walkthrough_page


@pytest.mark.parametrize("question, product", [
    ("how do I create a serverless index in pinecone and pick the cloud region?", "Pinecone"),
    ("qdrant snapshot restore fails on a new node", "Qdrant"),
    ("Elasticsearch dense_vector knn: how do I tune num_candidates?", "Elasticsearch"),
    ("does pgvector's hnsw support cosine?", "pgvector"),
    ("redis vector sets vs FT.CREATE for a new project?", "Redis"),
    ("MongoDB Atlas vector search: can I pre-filter on any field?", "MongoDB"),
    ("solr 9 DenseVectorField: knn query with an fq filter?", "Solr"),
    ("hnswlib: how do I grow max_elements?", "hnswlib"),
    ("Azure AI Search: semantic ranker and an HNSW profile together?", "Azure AI Search"),
    ("vertex ai vector search: streaming or batch updates?", "Vertex AI Vector Search"),
    ("vectorchord: lists for a vchordrq index on 20M rows?", "VectorChord"),
    ("duckdb vss: is the hnsw index persisted?", "DuckDB"),
    ("databricks vector search: delta sync or direct access index?", "Databricks Vector Search"),
    ("amazon s3 vectors: max vectors per index?", "Amazon S3 Vectors"),
])
def test_a_question_naming_another_vector_database_and_not_milvus_is_about_it(question, product):
    assert other_product(question) == product


@pytest.mark.parametrize("question", [
    "how do I migrate from qdrant to milvus?",
    "pinecone vs Milvus for 100M vectors?",
    "is there a pymilvus equivalent of chromadb's add()?",
    "how do I back up a collection to S3?",
    "helm rollback after a bad upgrade of our cluster",
    "which faiss index types does it support?",
    "can I keep a redis cache in front of milvus for hot queries?",
    "which vertex ai embedding models can the text embedding function call?",  # a Milvus feature
    "how do I use azure openai embeddings at insert time?",
    "scann index: what does reorder_k do?",  # a Milvus index type
    "can the spark connector write from a databricks notebook?",  # the Spark integration page
    "how do I point the s3 bucket at our minio for vectors storage?",
    "does it annoy anyone else that index builds block inserts?",  # a verb, not the library
    "",
])
def test_milvus_questions_and_questions_naming_no_other_database_are_not(question):
    assert other_product(question) is None


def test_integration_and_tutorial_pages_are_walkthroughs():
    assert walkthrough_page("en/integrations/langchain/basic_usage_langchain.md")
    assert walkthrough_page("en/tutorials/build-rag-with-milvus.md")
    assert not walkthrough_page("en/userGuide/search-query-get/single-vector-search.md")
    assert not walkthrough_page("en/faq/product_faq.md") and not walkthrough_page("integrations.md")


def test_names_milvus():
    from rag_core.scope import names_milvus

    assert names_milvus("how do I use Milvus as a vector store in langchain?")
    assert names_milvus("pymilvus insert fails") and not names_milvus("how do I prompt my llm?")


def test_the_scope_rules_scale_the_confidence_value_itself():
    from rag_core.pipeline import Confidence

    conf = Confidence()
    assert conf.judge("bm25", {"bm25_norm": 1.5}) == (True, 3.0)
    assert conf.judge("bm25", {"bm25_norm": 1.5}, walkthrough=True) == (True, 1.5)
    assert conf.judge("bm25", {"bm25_norm": 0.75}, walkthrough=True) == (False, 0.75)
    assert conf.judge("bm25", {"bm25_norm": 5.0}, other_product=True) == (False, 0.0)
