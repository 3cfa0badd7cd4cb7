"""Is a question about Milvus at all? A question whose subject is another vector database.

The confidence signals (rag_core.pipeline.Confidence) measure how well the docs match a question's
words, and the Milvus docs mention Pinecone, Qdrant or Elasticsearch in comparison and migration
pages: "how do I create a serverless index in pinecone?" matched `comparison.md` well enough to be
answered in a support channel. A question that names another vector database and not Milvus is
about that product, whatever the docs' words say; one that names both ("migrate from qdrant to
milvus", "pinecone vs milvus") stays a Milvus question.

Only products whose docs are not Milvus's: not Faiss or Knowhere (Milvus's own engines), not
Kafka, MinIO or Helm (parts of a Milvus deployment the docs cover).

Second: integration and tutorial pages (`en/integrations/`, `en/tutorials/`, a fifth of the docs)
walk through other tools - LangChain, OpenAI, Ollama, clustering notebooks - in those tools'
words, so a question about prompting an LLM, chunk sizes or t-SNE matches them about as well as a
Milvus question matches its page. Retrieval whose best hit is such a page needs more evidence to
count as confident (`Confidence.walkthrough`) unless the question names Milvus ("how do I use
milvus as a vector store in langchain?" is what those pages are for).

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
    # general databases with their own vector search: a question naming one and not Milvus is about
    # that product (the Milvus docs mention Redis only as a feature store in two tutorials)
    "redis": "Redis", "mongodb": "MongoDB", "mongo": "MongoDB", "singlestore": "SingleStore",
    "couchbase": "Couchbase", "supabase": "Supabase", "deeplake": "Deep Lake",
    "solr": "Solr", "cassandra": "Cassandra", "neo4j": "Neo4j", "clickhouse": "ClickHouse",
    "meilisearch": "Meilisearch", "vectorchord": "VectorChord", "vchord": "VectorChord",
    "upstash": "Upstash Vector", "duckdb": "DuckDB", "algolia": "Algolia", "manticore": "Manticore Search",
    "timescale": "Timescale", "surrealdb": "SurrealDB", "rockset": "Rockset", "valkey": "Valkey",
    "alloydb": "AlloyDB", "bigquery": "BigQuery", "tidb": "TiDB",
    # a library with its own docs (not Faiss: Milvus builds on it and its docs explain it; not
    # ScaNN: a Milvus index type; not Annoy: "annoy" is also an English verb)
    "hnswlib": "hnswlib",
}
# services named in several words, whose single words the Milvus docs use otherwise (Vertex AI and
# Azure OpenAI are embedding providers Milvus calls)
OTHER_SERVICES = {"azure ai search": "Azure AI Search", "azure cognitive search": "Azure AI Search",
                  "vertex ai vector search": "Vertex AI Vector Search",
                  "vertex ai matching engine": "Vertex AI Vector Search",
                  # the Milvus docs have a Spark/Databricks integration page and S3 storage pages
                  "databricks vector search": "Databricks Vector Search",
                  "mosaic ai vector search": "Databricks Vector Search",
                  "s3 vectors": "Amazon S3 Vectors", "cosmos db": "Azure Cosmos DB", "cosmosdb": "Azure Cosmos DB"}
MILVUS_NAMES = frozenset({"milvus", "zilliz", "pymilvus", "attu", "knowhere", "birdwatcher"})

_WORD = re.compile(r"[a-z0-9]+")
WALKTHROUGH_FOLDERS = ("integrations", "tutorials")


def _names_milvus(words: list[str]) -> bool:
    return not MILVUS_NAMES.isdisjoint(words)


def names_milvus(question: str) -> bool:
    return _names_milvus(_WORD.findall(question.lower()))


def other_product(question: str) -> str | None:
    """The other vector database a question is about (it names one and not Milvus), else None."""
    words = _WORD.findall(question.lower())
    if _names_milvus(words):
        return None
    found = next((OTHER_VECTOR_DATABASES[w] for w in words if w in OTHER_VECTOR_DATABASES), None)
    if found:
        return found
    text = f" {' '.join(words)} "
    return next((name for phrase, name in OTHER_SERVICES.items() if f" {phrase} " in text), None)


def walkthrough_page(source: str) -> bool:
    """A docs page that walks through another tool or a sample app (by its folder in the docs)."""
    folders = source.replace("\\", "/").split("/")[:-1]
    return any(f in WALKTHROUGH_FOLDERS for f in folders)
