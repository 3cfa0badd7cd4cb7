"""The two things rag_core does: ingest() the docs and ask() a question."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

from . import analysis
from .answer import AnswerUnavailable, Turn, build_prompt, extractive_answer
from .chunking import Chunk, chunk_documents
from .embedders import EmbeddingError
from .sources import load_documents
from .store import EmbedderMismatch, Hit, MilvusStore

log = logging.getLogger(__name__)

MODES = ("hybrid", "dense", "bm25")


@dataclass(frozen=True)
class Fusion:
    """How dense and BM25 rankings are fused (chosen by `faqbot eval`, see README)."""

    rrf_k: int = 60
    bm25_weight: float = 1.0
    dense_weight: float = 1.0
    candidates: int = 20


@dataclass(frozen=True)
class Confidence:
    """Thresholds under which retrieval counts as 'nothing relevant found'."""

    bm25: float = 4.0  # raw BM25 score of the best hit
    dense: float = 0.35  # cosine similarity of the best hit


@dataclass
class SearchResult:
    question: str
    mode: str
    hits: list[Hit]
    confident: bool
    confidence: float
    bm25_top: float = 0.0
    dense_top: float = 0.0
    ms: float = 0.0

    def to_json(self) -> dict:
        return {
            "question": self.question,
            "mode": self.mode,
            "results": [h.to_json() for h in self.hits],
            "confident": self.confident,
            "confidence": round(self.confidence, 4),
        }


@dataclass
class Answer:
    question: str
    answer: str
    mode: str  # "gemini" | "extractive"
    sources: list[dict]
    retrieval: SearchResult
    timings_ms: dict = field(default_factory=dict)
    note: str | None = None  # e.g. why the AI answer is unavailable

    @property
    def confident(self) -> bool:
        return self.retrieval.confident

    def to_json(self) -> dict:
        out = {
            "question": self.question,
            "answer": self.answer,
            "mode": self.mode,
            "sources": self.sources,
            "retrieval": self.retrieval.to_json(),
            "timings_ms": {k: round(v, 1) for k, v in self.timings_ms.items()},
        }
        if self.note:
            out["note"] = self.note
        return out


@dataclass
class IngestReport:
    files: int = 0
    chunks: int = 0
    added: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    embedding_calls: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        return (f"files={self.files} chunks={self.chunks} added={self.added} updated={self.updated} "
                f"deleted={self.deleted} embedding_calls={self.embedding_calls} seconds={self.seconds:.1f}")


def embedding_text(chunk: Chunk) -> str:
    crumbs = " › ".join(x for x in (chunk.title, *chunk.path[:-1]) if x)
    return f"{crumbs}\n{chunk.text}" if crumbs else chunk.text


def bm25_text(chunk: Chunk) -> str:
    # the heading is the question on FAQ pages: counting it twice lifts question-shaped matches
    return analysis.analyse(" ".join([chunk.title, *chunk.path, chunk.heading, chunk.body]))


def rrf(rankings: Sequence[tuple[list[Hit], float]], k: int) -> list[tuple[Hit, float]]:
    """Weighted reciprocal-rank fusion: score = sum(w / (k + rank))."""
    scores: dict[str, float] = {}
    first: dict[str, Hit] = {}
    for hits, weight in rankings:
        for rank, hit in enumerate(hits, 1):
            scores[hit.id] = scores.get(hit.id, 0.0) + weight / (k + rank)
            first.setdefault(hit.id, hit)
    ordered = sorted(scores.items(), key=lambda kv: -kv[1])
    return [(first[i], s) for i, s in ordered]


class Pipeline:
    def __init__(self, settings, store: MilvusStore | None = None, embedder=None, answerer=None,
                 fusion: Fusion | None = None, confidence: Confidence | None = None):
        self.settings = settings
        self.store = store or MilvusStore(settings.milvus_uri, settings.milvus_token, settings.milvus_collection)
        self._embedder = embedder
        self._answerer = answerer
        self.fusion = fusion or Fusion()
        self.confidence = confidence or Confidence(
            bm25=settings.min_confidence if settings.min_confidence is not None else Confidence.bm25)
        self._checked = False
        self._ingest_lock = threading.Lock()

    # ---- parts, built lazily (keeps `faqbot --help` and the bot's start fast) ---------
    @property
    def embedder(self):
        if self._embedder is None:
            from .embedders import build_embedder

            self._embedder = build_embedder(self.settings)
        return self._embedder

    @property
    def answerer(self):
        if self._answerer is None and self.settings.gemini_api_key:
            from .answer import GeminiAnswerer

            self._answerer = GeminiAnswerer(self.settings)
        return self._answerer

    def _check_embedder(self):
        if not self._checked:
            emb = self.embedder
            self.store.check_embedder(emb.name, emb.dim, must_exist=True)
            self._checked = True

    # ---- ingest ----------------------------------------------------------------------
    def ingest(self, source: str | None = None, glob: str | None = None, recreate: bool = False,
               progress: bool = False) -> IngestReport:
        with self._ingest_lock:
            return self._ingest(source or self.settings.docs_source, glob or self.settings.docs_glob,
                                recreate, progress)

    def _ingest(self, source, glob, recreate, progress) -> IngestReport:
        t0 = time.perf_counter()
        docs = load_documents(source, glob, self.settings.cache_dir)  # fails before anything changes
        chunks = chunk_documents(docs)
        emb = self.embedder
        calls0 = emb.calls
        if recreate:
            self.store.drop()
        else:
            self.store.check_embedder(emb.name, emb.dim)
        if not self.store.exists():
            self.store.create(emb.name, emb.dim)
        existing = self.store.locations()
        fresh = {c.id: c for c in chunks}
        todo = [c for cid, c in fresh.items() if cid not in existing]
        vanished = {cid: loc for cid, loc in existing.items() if cid not in fresh}
        vanished_locs = set(vanished.values())
        updated = sum(1 for c in todo if c.location in vanished_locs)

        vectors: list[list[float]] = []
        if emb.dim and todo:
            texts = [embedding_text(c) for c in todo]
            step = 400
            bar = None
            if progress:
                from tqdm import tqdm

                bar = tqdm(total=len(texts), unit="chunk", desc="embedding", leave=False)
            for i in range(0, len(texts), step):
                vectors += emb.embed_documents(texts[i : i + step])
                if bar:
                    bar.update(len(texts[i : i + step]))
            if bar:
                bar.close()
        rows = []
        for n, c in enumerate(todo):
            row = {"id": c.id, "loc": c.location, "title": c.title, "heading": c.heading,
                   "source": c.source, "url": c.url, "text": c.text, "bm25_text": bm25_text(c)}
            if emb.dim:
                row["dense"] = vectors[n]
            rows.append(row)
        if rows:
            self.store.upsert(rows)
        if vanished:
            self.store.delete(vanished)
        self._checked = False
        return IngestReport(
            files=len(docs), chunks=len(fresh), added=len(todo) - updated, updated=updated,
            deleted=len(vanished) - updated if len(vanished) >= updated else 0,
            unchanged=len(fresh) - len(todo), embedding_calls=emb.calls - calls0,
            seconds=time.perf_counter() - t0,
        )

    # ---- search ----------------------------------------------------------------------
    def default_mode(self) -> str:
        return "hybrid" if self.embedder.dim else "bm25"

    def search(self, question: str, top_k: int | None = None, mode: str | None = None,
               degrade: bool = True) -> SearchResult:
        """Top chunks for a question. With `degrade`, a failed query embedding falls back to BM25."""
        t0 = time.perf_counter()
        top_k = top_k or self.settings.top_k
        mode = mode or self.default_mode()
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        self._check_embedder()
        if mode != "bm25" and not self.embedder.dim:
            raise EmbedderMismatch(
                f"Search mode {mode!r} needs dense vectors: set GEMINI_API_KEY or "
                "FAQBOT_EMBEDDER=sentence-transformers and run `faqbot ingest --recreate`.")
        n = max(top_k, self.fusion.candidates)
        query_vec = None
        if mode != "bm25":
            try:
                query_vec = self.embedder.embed_query(question)
            except EmbeddingError as exc:
                if not degrade:
                    raise
                log.warning("query embedding failed, falling back to BM25: %s", exc)
                mode = "bm25"
        bm25_hits = self.store.search_bm25(analysis.analyse(question), n) if mode != "dense" else []
        dense_hits = self.store.search_dense(query_vec, n) if query_vec is not None else []
        if mode == "hybrid":
            fused = rrf([(bm25_hits, self.fusion.bm25_weight), (dense_hits, self.fusion.dense_weight)],
                        self.fusion.rrf_k)
            hits = [Hit(**{**h.__dict__, "score": s}) for h, s in fused[:top_k]]
        else:
            hits = (bm25_hits or dense_hits)[:top_k]
        bm25_top = bm25_hits[0].score if bm25_hits else 0.0
        dense_top = dense_hits[0].score if dense_hits else 0.0
        confident, confidence = self._confidence(mode, bm25_top, dense_top)
        return SearchResult(question=question, mode=mode, hits=hits, confident=confident and bool(hits),
                            confidence=confidence, bm25_top=bm25_top, dense_top=dense_top,
                            ms=(time.perf_counter() - t0) * 1000)

    def _confidence(self, mode: str, bm25_top: float, dense_top: float) -> tuple[bool, float]:
        c = self.confidence
        ratios = []
        if mode != "dense":
            ratios.append(bm25_top / c.bm25)
        if mode != "bm25":
            ratios.append(dense_top / c.dense)
        value = max(ratios) if ratios else 0.0
        return value >= 1.0, value

    # ---- ask -------------------------------------------------------------------------
    def ask(self, question: str, history: Iterable[Turn] = (), on_delta: Callable[[str], None] | None = None,
            top_k: int | None = None, retrieval: SearchResult | None = None) -> Answer:
        t0 = time.perf_counter()
        retrieval = retrieval or self.search(question, top_k=top_k)
        timings = {"retrieval": retrieval.ms}
        sources = []
        seen = set()
        for h in retrieval.hits:
            if h.url not in seen:
                seen.add(h.url)
                sources.append({"title": h.title, "heading": h.heading, "url": h.url})
        note = None
        text = None
        if self.answerer is not None and retrieval.hits:
            t1 = time.perf_counter()
            try:
                text = self.answerer.generate(build_prompt(question, retrieval.hits, list(history)), on_delta)
            except AnswerUnavailable as exc:
                log.warning("gemini answer unavailable: %s %s", exc.reason, exc.detail)
                note = f"AI answer unavailable ({exc.reason}); showing the closest documentation passage."
            timings["generate"] = (time.perf_counter() - t1) * 1000
        mode = "gemini" if text else "extractive"
        if text is None:
            text = extractive_answer(question, retrieval.hits, retrieval.confident)
        timings["total"] = (time.perf_counter() - t0) * 1000
        return Answer(question=question, answer=text, mode=mode, sources=sources, retrieval=retrieval,
                      timings_ms=timings, note=note)
