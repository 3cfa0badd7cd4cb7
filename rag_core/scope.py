"""Is a question about Milvus at all? A question whose subject is another vector database.

The confidence signals (rag_core.pipeline.Confidence) measure how well the docs match a question's
words, and the Milvus docs mention Pinecone, Qdrant or Elasticsearch in comparison and migration
pages: "how do I create a serverless index in pinecone?" matched `comparison.md` well enough to be
answered in a support channel. A question that names another vector database and not Milvus is
about that product, whatever the docs' words say; one that names both ("migrate from qdrant to
milvus", "pinecone vs milvus") stays a Milvus question.

Only products whose docs are not Milvus's: not Faiss or Knowhere (Milvus's own engines), not
Kafka, MinIO or Helm (parts of a Milvus deployment the docs cover).

Pure: no I/O.
"""

from __future__ import annotations

import re

OTHER_VECTOR_DATABASES = {
    "pinecone": "Pinecone", "weaviate": "Weaviate", "qdrant": "Qdrant", "chroma": "Chroma",
    "chromadb": "Chroma", "pgvector": "pgvector", "pgvectorscale": "pgvector", "vespa": "Vespa",
    "lancedb": "LanceDB", "opensearch": "OpenSearch", "elasticsearch": "Elasticsearch",
    "typesense": "Typesense", "marqo": "Marqo", "vald": "Vald", "turbopuffer": "turbopuffer",
    "vectara": "Vectara", "pgvecto": "pgvector",
}
MILVUS_NAMES = frozenset({"milvus", "zilliz", "pymilvus", "attu", "knowhere", "birdwatcher"})

_WORD = re.compile(r"[a-z0-9]+")


def other_product(question: str) -> str | None:
    """The other vector database a question is about (it names one and not Milvus), else None."""
    words = set(_WORD.findall(question.lower()))
    if words & MILVUS_NAMES:
        return None
    return next((OTHER_VECTOR_DATABASES[w] for w in _WORD.findall(question.lower())
                 if w in OTHER_VECTOR_DATABASES), None)
