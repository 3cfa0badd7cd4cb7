"""A question about another vector database is not a Milvus question (rag_core.scope)."""

import pytest

from rag_core.scope import other_product


@pytest.mark.parametrize("question, product", [
    ("how do I create a serverless index in pinecone and pick the cloud region?", "Pinecone"),
    ("qdrant snapshot restore fails on a new node", "Qdrant"),
    ("Elasticsearch dense_vector knn: how do I tune num_candidates?", "Elasticsearch"),
    ("does pgvector's hnsw support cosine?", "pgvector"),
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
    "",
])
def test_milvus_questions_and_questions_naming_no_other_database_are_not(question):
    assert other_product(question) is None
