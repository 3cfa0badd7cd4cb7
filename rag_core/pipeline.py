"""The two things rag_core does: ingest() the docs and ask() a question."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable, Sequence

from . import analysis, late
from . import rerank as R
from . import versions as V
from .answer import AnswerUnavailable, Turn, build_prompt, extractive_answer
from .chunking import CHUNKER_VERSION, Chunk, _is_faq_page, chunk_documents
from .embedders import EmbeddingError
from .headings import HeadingIndex
from .scope import names_milvus, other_product, walkthrough_page
from .indextext import searchable
from .sources import open_source
from .store import EmbedderMismatch, Hit, MilvusStore, StoreError, stub_hit

log = logging.getLogger(__name__)

MODES = ("hybrid", "dense", "bm25")


@dataclass(frozen=True)
class Fusion:
    """How the ranked lists are fused. Chosen by `python -m benchmarks.tune_retrieval` (section 2).

    Keyless (bm25 mode): weighted RRF of BM25 over the whole chunk and BM25 over its headings;
    k=5 lets the first ranks decide, and the headings list at half weight lifts dev recall@3 to
    >= 0.95 without costing the paraphrases.
    Hybrid, local model (FUSION_BY_EMBEDDER): min-max score fusion of the top 5 dense and top 5
    BM25 hits, dense 0.8 - the only setting whose MRR is >= both dense-only and BM25-only on the
    dev and the paraphrase sets (weighted RRF stayed 0.003-0.007 below dense-only).
    Hybrid, other embedders (Gemini: not measurable offline): weighted RRF where BM25 (1 + 0.5)
    and dense (1.5) weigh the same - rank-based, so one list's near-ties cannot overrule the
    other list's clear winner (score fusion did exactly that with a weak embedder).
    """

    rrf_k: int = 5
    bm25_weight: float = 1.0  # BM25 over the whole chunk
    heading_weight: float = 0.5  # BM25 over the chunk's headings only (0 = unused)
    dense_weight: float = 1.5
    candidates: int = 15  # same recall/MRR as 40 on both question sets, cheaper
    # hybrid = "rrf" (weighted RRF of all lists) or "minmax": scores min-max normalised within
    # the top `depth` of the dense and the BM25 list, then dense_share * dense + (1 - dense_share) * bm25.
    hybrid: str = "rrf"
    dense_share: float = 0.8
    depth: int = 5
    dense_floor: float = 0.1  # cosine differences below 0.1 are not stretched to the full range
    head_share: float = 0.0  # minmax: share of the headings-only BM25 list (taken from the BM25 share)
    rerank: tuple[str, ...] = ()  # modes ranked by rag_core.rerank's learned score (large corpora)
    query_prefix: str = ""  # put before the question when it is embedded (see FUSION_LARGE_BY_EMBEDDER)


FUSION_BY_EMBEDDER = {"sentence-transformers:": Fusion(hybrid="minmax")}
# Collections of at least LARGE_CORPUS chunks (all docs: ~4,000) use these instead. There BM25's
# IDF is far more informative than on 66 FAQ entries, and MiniLM reads only the first 256 tokens
# of a long reference section: dense-heavy fusion put hybrid below BM25-only (MRR 0.59 vs 0.67
# on dev_alldocs), while an even split beats both there (`python -m benchmarks.tune_alldocs --fusion`;
# adding the headings list, head_share 0.1, gained one question in recall@3, lost MRR and cost a
# third BM25 query: ~15 ms on Lite).
# The local model embeds the question as "query: <question>" there: all-MiniLM-L6-v2 was not
# trained with prefixes, but on all docs the prefixed question ranks better (hybrid recall@3
# 0.742 -> 0.806 on dev, 0.711 -> 0.756 on the held-out set; "question: ", "search query: "
# and no prefix measured lower on dev); on the 66 FAQ chunks it cost MRR (paraphrases 0.915 ->
# 0.887), so the small-corpus fusion embeds the question as it is.
LARGE_CORPUS = 1000
# Depth 10 and no floor since 2026-11-30, chosen on all 136 all-docs questions pooled (dev, held-out
# and a second held-out set of 60): recall@3 / MRR 0.779 / 0.714 -> 0.794 / 0.714, and hybrid is then
# >= dense-only and >= BM25-only on each set (depth 5 put hybrid below dense on the second held-out
# set, recall@3 0.767 vs 0.800); RRF k=2 reached 0.809 / 0.707 but lower on the first held-out set.
# Keyless on large corpora (and the local model's BM25-only mode there): the headings list at 0.35
# instead of 0.5 since the word pairs made it sharper (same 136 questions pooled: recall@3 / MRR
# 0.654 / 0.603 -> 0.669 / 0.607; dev unchanged, each held-out set one question more; on the FAQ
# pages 0.35 cost the dev questions, so small corpora keep 0.5).
# Since the fifth session the keyless lists, and the local model's hybrid lists, are ranked there by
# rag_core.rerank's learned score (its docstring has the measurements) instead of the fusion above,
# which still ranks the FAQ pages; Gemini's hybrid keeps RRF (the weights know MiniLM's cosines).
FUSION_LARGE_BY_EMBEDDER = {"sentence-transformers:": Fusion(hybrid="minmax", dense_share=0.5, depth=10,
                                                             dense_floor=0.0, query_prefix="query: ",
                                                             heading_weight=0.35, rerank=("bm25", "hybrid")),
                            "gemini:": Fusion(rerank=("bm25",)),
                            "none": Fusion(heading_weight=0.35, rerank=("bm25",))}


def fusion_for(embedder_name: str, corpus_size: int | None = None) -> Fusion:
    table = FUSION_LARGE_BY_EMBEDDER if (corpus_size or 0) >= LARGE_CORPUS else FUSION_BY_EMBEDDER
    return next((f for prefix, f in table.items() if embedder_name.startswith(prefix)), Fusion())


@dataclass
class Candidates:
    """The ranked lists one question gets, before fusion."""

    mode: str
    bm25: list  # list[Hit], BM25 over bm25_text
    head: list  # list[Hit], BM25 over bm25_head
    dense: list  # list[Hit], cosine over the dense vector
    version: str | None = None  # the docs version searched
    terms: tuple[str, ...] = ()  # the question's analysed words (rag_core.rerank)
    late_query: Any = None  # the question's rag_core.late matrix, when late interaction ranks


def _pairs(hits) -> list[tuple[str, float]]:
    """(chunk id, score) of each hit: what rag_core.rerank reads of a list."""
    return [(h.id, h.score) for h in hits]


@dataclass(frozen=True)
class Confidence:
    """Thresholds under which retrieval counts as 'nothing relevant found'.

    Measured with `python -m benchmarks.tune_alldocs` on two corpora (the 2.4 FAQ pages, 66
    chunks, and all 3.0 docs, ~4,000 chunks) with the dev questions, tests/data/paraphrases.jsonl,
    tests/data/offtopic.jsonl and tests/data/offtopic_adjacent.jsonl (numbers in
    docs/retrieval-quality.md). One set of thresholds (except the keyless bar, below) serves both
    corpora because the signals do not grow with the corpus:

    - BM25 evidence `bm25_norm` = top BM25 score x sqrt(share of the question's terms found in
      the top hit) / ln(1 + chunks)^1.5 (see confidence_signals): the product separates best
      (a raw score grows with the question's length, coverage alone punishes long Slack
      questions), the divisor removes the growth with the corpus (IDF ~ ln N).
    - Dense evidence: the top cosine, against a bar that rises with the corpus,
      `hybrid_dense` + `hybrid_dense_per_ln` x ln(1 + chunks) (0.29 on the 66 FAQ chunks, 0.41
      on the 4,085 of all docs): among 4,000 chunks some passage is always fairly close to a
      question about Kafka or Helm. It separates the Milvus-adjacent off-topic questions better
      than the margin over the median candidate did (see the README for the split).

    Keyless: confident when bm25_norm >= `bm25` (`bm25_small` on collections under LARGE_CORPUS
    chunks, the FAQ pages: the normalisation over-corrects there, real questions score higher
    on 66 FAQ chunks than on 4,000 chunks of all docs. At 0.5 the FAQ paraphrases were 0.729
    above the bar while 0.812 of the adjacent questions were below; at 0.4, 0.833 and 0.750 on
    the 2.4 FAQ and 0.884 and 0.757 on the 3.0 FAQ: real questions pooled 0.873 / 0.919 above,
    the issue's keyless split being >= 0.70 below and >= 0.85 above).
    Hybrid: confident when the mean of
    bm25_norm / `hybrid_bm25` and dense_top / (dense bar) is >= `hybrid` (either kind of evidence
    can make up for the other; 0.95 since the two rules below, 1.0 before). Dense only: top cosine
    >= `dense`. `judge` returns the value over its threshold, so 1 is the bar in every mode.

    When the best hit is an integration or tutorial page and the question does not name Milvus,
    the value must reach `walkthrough` (2.0) instead of 1 (rag_core.scope; measured on all 3.0
    docs, keyless, at 1.25 / 1.5 / 2 / 3: Milvus-adjacent off-topic questions below 0.643 -> 0.667
    / 0.690 / 0.714 / 0.750, the 136 real questions above 0.934 -> 0.926 / 0.919 / 0.904 / 0.897
    when questions naming Milvus were not exempt; 0.919 at 2.0 with the exemption); a question
    about another vector database is never confident. With both rules the hybrid bar moved from
    1.0 to 0.95 (all 3.0 docs, local model: adjacent below 0.857 -> 0.881, real above 0.853 ->
    0.904; FAQ pages: 0.893 -> 0.881 and 0.915 -> 0.930).
    """

    bm25: float = 0.5
    bm25_small: float = 0.4  # collections under LARGE_CORPUS chunks
    dense: float = 0.47
    walkthrough: float = 2.0  # the best hit is an integration or tutorial page (rag_core.scope): twice the evidence
    hybrid_bm25: float = 1.1
    hybrid_dense: float = 0.16
    hybrid_dense_per_ln: float = 0.03
    hybrid: float = 0.95

    def judge(self, mode: str, signals: dict, other_product: bool = False,
              walkthrough: bool = False) -> tuple[bool, float]:
        """(confident, value over the bar). `other_product`: the question is about another vector
        database (value 0); `walkthrough`: the best hit is an integration or tutorial page and the
        question does not name Milvus (value / `walkthrough`) - see rag_core.scope."""
        if other_product:
            return False, 0.0
        if mode == "bm25":
            small = 0.0 < signals.get("ln_corpus", 0.0) < math.log(1 + LARGE_CORPUS)
            value = signals["bm25_norm"] / (self.bm25_small if small else self.bm25)
        elif mode == "dense":
            value = signals["dense_top"] / self.dense
        else:
            bar = self.hybrid_dense + self.hybrid_dense_per_ln * signals.get("ln_corpus", 0.0)
            value = (signals["bm25_norm"] / self.hybrid_bm25 + signals["dense_top"] / bar) / 2 / self.hybrid
        if walkthrough:
            value /= self.walkthrough
        return value >= 1.0, value


def confidence_signals(question: str, cand, corpus_size: int | None = None) -> dict:
    """Candidate evidence that the docs cover the question (measured by the tuning scripts).

    `bm25_norm` is `bm25_cov` / ln(1 + chunks)^1.5: BM25 scores grow with the corpus (IDF
    ~ ln N, and a bigger corpus matches more of a question's words somewhere), so a raw
    threshold calibrated on 66 FAQ chunks let every off-topic question through on all docs;
    normalised, the dev questions' medians are 1.34 (FAQ) and 0.93 (all docs), the off-topic
    ones' 0.21 and 0.31 (raw: 11.5 vs 22.3 and 1.8 vs 7.5)."""
    bm25_hits, dense_hits = cand.bm25, cand.dense
    q = set(analysis.tokens(question))
    scores = [h.score for h in bm25_hits]
    top = scores[0] if scores else 0.0
    median = sorted(scores)[len(scores) // 2] if scores else 0.0
    covered = analysis.token_set(f"{bm25_hits[0].title} {bm25_hits[0].text}") if bm25_hits else frozenset()
    dense = [h.score for h in dense_hits]
    return {
        "bm25_top": top,
        "bm25_per_term": top / len(q) if q else 0.0,
        "bm25_margin": top - median,
        "head_top": cand.head[0].score if cand.head else 0.0,
        "coverage": len(q & covered) / len(q) if q else 0.0,
        "bm25_cov": top * math.sqrt(len(q & covered) / len(q)) if q else 0.0,
        "dense_top": dense[0] if dense else 0.0,
        "dense_margin": (dense[0] - sorted(dense)[len(dense) // 2]) if dense else 0.0,
        "bm25_norm": (top * math.sqrt(len(q & covered) / len(q)) / math.log(1 + max(corpus_size or 0, 1)) ** 1.5
                      if q else 0.0),
        "ln_corpus": math.log(1 + max(corpus_size or 0, 1)),
    }


@dataclass(frozen=True)
class Route:
    """Which docs version a question is answered from, and why."""

    version: str | None  # the version searched (None: a collection without versions)
    asked: str | None = None  # the version the question or caller named
    note: str | None = None  # said to the user when the asked version is not indexed


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
    route: Route = field(default_factory=lambda: Route(None))
    about: str | None = None  # the other vector database the question is about (rag_core.scope)

    @property
    def version(self) -> str | None:
        return self.route.version

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

    @property
    def version(self) -> str | None:
        return self.retrieval.version

    def to_json(self) -> dict:
        out = {
            "question": self.question,
            "answer": self.answer,
            "mode": self.mode,
            "version": self.version,
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
    downloads: int = 0  # files fetched over the network (GitHub raw host, zip URL)
    embedded: int = 0  # distinct texts embedded (identical text in two versions counts once)
    versions: list = field(default_factory=list)  # the versions this ingest looked at
    skipped: list = field(default_factory=list)  # ... of which unchanged since the last ingest
    removed: list = field(default_factory=list)  # versions no longer configured, deleted

    def summary(self) -> str:
        line = (f"files={self.files} chunks={self.chunks} added={self.added} updated={self.updated} "
                f"deleted={self.deleted} embedding_calls={self.embedding_calls} embedded={self.embedded} "
                f"downloads={self.downloads} "
                f"seconds={self.seconds:.1f} versions={','.join(self.versions) or '-'}")
        if self.removed:
            line += f" removed={','.join(self.removed)}"
        return line


@dataclass(frozen=True)
class TextRecipe:
    """What a chunk puts into a retrieval field (chosen by benchmarks/tune_retrieval.py)."""

    title: bool = True  # the page title ("Product FAQ")
    parents: bool = True  # enclosing headings above the chunk's own heading
    heading: int = 1  # how many times the chunk's heading (the FAQ question) is repeated
    body: bool = True
    clean: bool = True  # body through indextext.searchable (one code variant, no markup)


@dataclass(frozen=True)
class BM25Params:
    """BM25 k1/b given to the sparse index (Milvus Lite honours them: see the tuning script)."""

    k1: float = 1.2
    b: float = 0.75


# Defaults picked by `python benchmarks/tune_retrieval.py` (section 1; numbers in docs/retrieval-quality.md).
# BM25 k1/b: Milvus Lite accepts bm25_k1/bm25_b but its scores do not change (the script
# checks), so we keep the standard 1.2/0.75 that servers apply too.
BM25_RECIPE = TextRecipe(title=True, parents=True, heading=2, body=True)
EMBED_RECIPE = TextRecipe(title=True, parents=True, heading=1, body=True)
BM25_PARAMS = BM25Params()

_BOILERPLATE_HEADINGS = re.compile(r"^\s*(still have questions\??|need help\??|feedback)\s*$", re.I)


def indexable(chunk: Chunk) -> bool:
    """False for page furniture that answers nothing ("Still have questions?" link lists)."""
    return not _BOILERPLATE_HEADINGS.match(chunk.heading or "")


def _compose(chunk: Chunk, recipe: TextRecipe, sep: str) -> list[str]:
    parts = []
    if recipe.title and chunk.title:
        parts.append(chunk.title)
    if recipe.parents:
        parts += [p for p in chunk.path[:-1] if p]
    if chunk.heading:
        parts += [chunk.heading] * max(recipe.heading, 0)
    if recipe.body and chunk.body:
        parts.append(searchable(chunk.body) if recipe.clean else chunk.body)
    return parts or [chunk.text]


def embedding_text(chunk: Chunk, recipe: TextRecipe | None = None) -> str:
    recipe = recipe or EMBED_RECIPE
    crumbs = " › ".join(x for x in ((chunk.title,) if recipe.title else ()) + (
        tuple(chunk.path[:-1]) if recipe.parents else ()) if x)
    rest = _compose(chunk, TextRecipe(title=False, parents=False, heading=recipe.heading, body=recipe.body,
                                      clean=recipe.clean), "\n")
    text = "\n\n".join(rest)
    return f"{crumbs}\n{text}" if crumbs else text


# Embedders that read a short window (all-MiniLM-L6-v2: 256 tokens, ~1,000 characters; see
# `short_window` in embedders.py) see only the start of a merged all-docs chunk (up to 3,000
# characters). For them a chunk's vector is the weighted mean of the vectors of its pieces: each
# (merged) subsection or commented code step in windows of PIECE_CHARS characters of the search text (at most PIECE_MAX
# per subsection), every piece led by the title, parent headings and its own heading; the first
# piece (the chunk's heading and opening text) weighs FIRST_PIECE_WEIGHT. A chunk that is one
# piece is embedded exactly as before. On all docs: 4,085 chunks -> 7,729 pieces (1.9x the
# embedding work at ingest, none at query time); dense-only MRR 0.523 -> 0.592 (dev) and 0.456
# -> 0.573 (held-out). Chosen by `python -m benchmarks.tune_alldocs` (docs/retrieval-quality.md).
PIECE_CHARS = 900
PIECE_MAX = 4
FIRST_PIECE_WEIGHT = 2.0
# a (merged) subsection's heading, or a `# comment` line of kept code (indextext drops the fences),
# which names the step that follows: both start a new piece
_SUBHEADING = re.compile(r"^\s*#{1,6}\s+(.*)$")


def embedding_pieces(chunk: Chunk, recipe: TextRecipe | None = None) -> list[str]:
    """The texts whose vectors make up the chunk's vector with a short-window embedder (above)."""
    recipe = recipe or EMBED_RECIPE
    whole = embedding_text(chunk, recipe)
    if _is_faq_page(chunk.source):
        return [whole]  # one question = one chunk: the question leads, the answer is short
    body = (searchable(chunk.body) if recipe.clean else chunk.body) if (recipe.body and chunk.body) else ""
    crumbs = " › ".join(x for x in ((chunk.title,) if recipe.title else ()) + (
        tuple(chunk.path[:-1]) if recipe.parents else ()) if x)
    blocks, lines, heading = [], [], chunk.heading
    for line in body.split("\n"):
        m = _SUBHEADING.match(line)
        if m:
            if lines:
                blocks.append((heading, "\n".join(lines)))
            lines, heading = [], m.group(1).strip()
        else:
            lines.append(line)
    blocks.append((heading, "\n".join(lines)))
    out = []
    for heading, text in blocks:
        lead = "\n".join(x for x in (crumbs, heading if recipe.heading else "") if x)
        for i in range(0, max(len(text), 1), PIECE_CHARS):
            out.append(f"{lead}\n\n{text[i:i + PIECE_CHARS]}".strip())
            if i >= (PIECE_MAX - 1) * PIECE_CHARS:
                break
    return out if len(out) > 1 else [whole]


def combine_pieces(vectors: Sequence[Sequence[float]]) -> list[float]:
    """The weighted mean of a chunk's piece vectors (first piece FIRST_PIECE_WEIGHT), L2-normalised."""
    if len(vectors) == 1:
        return [float(x) for x in vectors[0]]
    dim = len(vectors[0])
    acc = [0.0] * dim
    for n, vec in enumerate(vectors):
        w = FIRST_PIECE_WEIGHT if n == 0 else 1.0
        for i, x in enumerate(vec):
            acc[i] += w * x
    norm = math.sqrt(sum(x * x for x in acc)) or 1.0
    return [x / norm for x in acc]


def embedding_hash(chunk: Chunk, recipe: TextRecipe | None = None, pieces: bool = False) -> str:
    """Identity of what gets embedded: identical text in two versions shares one vector."""
    text = "\x00".join(embedding_pieces(chunk, recipe)) if pieces else embedding_text(chunk, recipe)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def bm25_head(chunk: Chunk) -> str:
    """Pre-analysed text for the headings-only BM25 field (the page title for a page intro)."""
    return analysis.analyse(" ".join(p for p in chunk.path if p) or chunk.title)


def bm25_text(chunk: Chunk, recipe: TextRecipe | None = None) -> str:
    """Pre-analysed text for the BM25 field; the heading is the question on FAQ pages, so
    repeating it lifts question-shaped matches."""
    return analysis.analyse(" ".join(_compose(chunk, recipe or BM25_RECIPE, " ")))


def rrf(rankings: Sequence[tuple[list[Hit], float]], k: int) -> list[tuple[Hit, float]]:
    """Weighted reciprocal-rank fusion: score = sum(w / (k + rank))."""
    scores: dict[str, float] = {}
    first: dict[str, Hit] = {}
    for hits, weight in rankings:
        for rank, hit in enumerate(hits, 1):
            scores[hit.id] = scores.get(hit.id, 0.0) + weight / (k + rank)
            if hit.id not in first or (hit.complete and not first[hit.id].complete):
                first[hit.id] = hit  # the first full hit (a headings-only one has just an id)
    ordered = sorted(scores.items(), key=lambda kv: -kv[1])
    return [(first[i], s) for i, s in ordered]


def _minmax(hits: list[Hit], floor: float = 0.0) -> dict[str, float]:
    """Scores scaled to [0, 1] over their range; a range below `floor` is treated as `floor`,
    so near-ties stay near-ties instead of being stretched to 0 vs 1."""
    if not hits:
        return {}
    lo, hi = min(h.score for h in hits), max(h.score for h in hits)
    span = max(hi - lo, floor)
    return {h.id: (h.score - lo) / span if span > 0 else 1.0 for h in hits}


def minmax_fusion(dense: list[Hit], bm25: list[Hit], dense_share: float, dense_floor: float = 0.0,
                  head: list[Hit] = (), head_share: float = 0.0) -> list[Hit]:
    """Convex combination of min-max normalised scores; a hit missing from a list scores 0 there."""
    d, b, h = _minmax(dense, dense_floor), _minmax(bm25), _minmax(list(head))
    first = {x.id: x for x in [*dense, *bm25, *head]}
    bm25_share = 1 - dense_share - head_share
    scored = {i: dense_share * d.get(i, 0.0) + bm25_share * b.get(i, 0.0) + head_share * h.get(i, 0.0)
              for i in first}
    return [Hit(**{**first[i].__dict__, "score": s}) for i, s in sorted(scored.items(), key=lambda kv: -kv[1])]


class Pipeline:
    def __init__(self, settings, store: MilvusStore | None = None, embedder=None, answerer=None,
                 fusion: Fusion | None = None, confidence: Confidence | None = None,
                 bm25_recipe: TextRecipe | None = None, embed_recipe: TextRecipe | None = None,
                 bm25_params: BM25Params | None = None, drop_boilerplate: bool = True):
        self.settings = settings
        self.store = store or MilvusStore(settings.milvus_uri, settings.milvus_token, settings.milvus_collection)
        self._embedder = embedder
        self._answerer = answerer
        self._fusion = fusion
        bar = settings.min_confidence  # an operator's bar applies to every collection size
        self.confidence = confidence or (Confidence() if bar is None else Confidence(bm25=bar, bm25_small=bar))
        self.bm25_recipe = bm25_recipe or BM25_RECIPE
        self.embed_recipe = embed_recipe or EMBED_RECIPE
        self.bm25_params = bm25_params or BM25_PARAMS
        self.drop_boilerplate = drop_boilerplate
        self._checked = False
        self._record: tuple[float, dict] | None = None
        self._auto_fusion: Fusion | None = None  # chosen from the embedder and the corpus size
        self._corpus_size: int | None = None
        self._late: bool | None = None  # the collection holds rag_core.late matrices (read once)
        self._ingest_lock = threading.Lock()
        self._parts_lock = threading.RLock()
        self._heads: dict[str | None, tuple[str, HeadingIndex, dict[str, R.ChunkFacts]]] = {}

    @property
    def fusion(self) -> Fusion:
        if self._fusion is None:
            if self._auto_fusion is None:
                self._auto_fusion = fusion_for(self.embedder.name, self.corpus_size(self.default_version()))
            return self._auto_fusion
        return self._fusion

    @fusion.setter
    def fusion(self, value: Fusion) -> None:
        self._fusion = value

    # ---- parts, built lazily (keeps `faqbot --help` and the bot's start fast) ---------
    @property
    def embedder(self):
        if self._embedder is None:
            with self._parts_lock:  # answer workers arrive together: build it once
                if self._embedder is None:
                    from .embedders import build_embedder

                    self._embedder = build_embedder(self.settings)
        return self._embedder

    @property
    def answerer(self):
        if self._answerer is None and self.settings.gemini_api_key:
            with self._parts_lock:
                if self._answerer is None:
                    from .answer import GeminiAnswerer

                    self._answerer = GeminiAnswerer(self.settings)
        return self._answerer

    @property
    def late_on(self) -> bool:
        """Whether late interaction ranks with the local model: the embedder gives word-piece
        vectors and the collection stores them in the format it expects (a collection built
        before, or with another embedder, ranks without)."""
        if self._late is None:
            wanted = bool(getattr(self.embedder, "late", False))
            fmt = self.store.late_format() if wanted else ""
            self._late = fmt == late.FORMAT
            if wanted and not fmt and self.store.exists():
                log.info("collection %r has no late-interaction data (built before it existed): the local "
                         "model's hybrid ranks without it; `faqbot ingest --recreate` adds it", self.store.collection)
            if fmt and not self._late:
                log.warning("collection %r holds late-interaction data in format %s, not %s: ranking "
                            "without it; re-run `faqbot ingest --recreate`", self.store.collection, fmt, late.FORMAT)
        return self._late

    @property
    def piecewise(self) -> bool:
        """Whether chunks are embedded as the mean of their pieces (a short-window embedder)."""
        return bool(getattr(self.embedder, "short_window", False)) and bool(self.embedder.dim)

    def _check_embedder(self):
        if not self._checked:
            with self._parts_lock:
                if not self._checked:
                    emb = self.embedder
                    self.store.check_embedder(emb.name, emb.dim, must_exist=True)
                    self._checked = True

    def warm_up(self) -> None:
        """Build the clients, check the collection and load it, so the first question is not slow
        (and a burst of first questions does not build everything a hundred times)."""
        _ = self.embedder, self.answerer
        self._check_embedder()
        _ = self.fusion  # reads the versions record and the corpus size
        version = self.default_version()
        self.store.search_bm25(analysis.analyse("milvus"), 1, version=version)
        if self.fusion.heading_weight > 0:
            self.headings(version)

    # ---- ingest ----------------------------------------------------------------------
    def ingest(self, source: str | None = None, glob: str | None = None, recreate: bool = False,
               progress: bool = False, version: str | None = None, docs_source=None) -> IngestReport:
        """Bring the collection in line with the docs. `version` limits the ingest to one docs
        version (others are left alone); without it, the collection ends up holding exactly
        FAQBOT_DOCS_VERSIONS. `docs_source` (a DocsSource object) overrides `source`."""
        with self._ingest_lock:
            src = docs_source or open_source(source or self.settings.docs_source, self.settings)
            wanted = [V.normalise(version)] if version else self.settings.version_list
            report = self._ingest(src, glob or self.settings.docs_glob, wanted, recreate, progress,
                                  prune=version is None)
            self._record = None  # re-read the versions record on the next search
            self._auto_fusion, self._corpus_size = None, None
            return report

    def _recipe_key(self, glob: str) -> str:
        """Everything besides the files that decides the stored chunks: an unchanged key and an
        unchanged source fingerprint mean the version is skipped without reading its files."""
        emb = self.embedder
        pieces = (PIECE_CHARS, PIECE_MAX, FIRST_PIECE_WEIGHT) if self.piecewise else None
        return repr((CHUNKER_VERSION, glob, self.bm25_recipe, self.embed_recipe, self.drop_boilerplate,
                     emb.name, emb.dim) + ((pieces,) if pieces else ()))

    def _ingest(self, src, glob, wanted, recreate, progress, prune) -> IngestReport:
        t0 = time.perf_counter()
        report = IngestReport()
        listed = src.versions(wanted, glob)  # fails before anything is read or changed
        emb = self.embedder
        if not recreate:
            self.store.check_embedder(emb.name, emb.dim)
        record = {"versions": {}} if recreate else self.store.versions_record()
        key = self._recipe_key(glob)
        # read (download) and chunk everything first: a failure here changes nothing
        todo_versions = []
        for vd in listed:
            report.versions.append(vd.version)
            old = record["versions"].get(vd.version, {})
            if old.get("fingerprint") == vd.fingerprint and old.get("recipe") == key:
                report.skipped.append(vd.version)
                report.files += vd.files
                report.chunks += int(old.get("chunks", 0))
                report.unchanged += int(old.get("chunks", 0))
                continue
            chunks = chunk_documents(vd.documents(), version=vd.version, current=vd.current)
            if self.drop_boilerplate:
                chunks = [c for c in chunks if indexable(c)]
            todo_versions.append((vd, {c.id: c for c in chunks}))
            report.files += vd.files
        report.downloads = src.downloads
        calls0 = emb.calls
        if recreate:
            self.store.drop()
        if not self.store.exists():
            self.store.create(emb.name, emb.dim, bm25_k1=self.bm25_params.k1, bm25_b=self.bm25_params.b,
                              late=late.FORMAT if getattr(emb, "late", False) else "")
        self._late = None  # whether the collection has late-interaction matrices: read again
        # embed what every changed version needs in one pass: identical text is embedded once and
        # the requests are ceil(distinct new texts / 100), not that per version
        plans = [(vd, fresh, self._plan_version(vd, fresh, report)) for vd, fresh in todo_versions]
        todo_all = [c for _, _, (_, todo, _) in plans for c in todo]
        ehash = {c.id: embedding_hash(c, self.embed_recipe, self.piecewise) for c in todo_all}
        vectors = self._vectors_for(todo_all, ehash, progress, report) if emb.dim else {}  # id -> fields
        changed = False
        for vd, fresh, plan in plans:
            changed |= self._write_version(fresh, plan, ehash, vectors)
            record["versions"][vd.version] = {
                "chunks": len(fresh), "files": vd.files, "source": vd.source, "commit": vd.commit,
                "fingerprint": vd.fingerprint, "recipe": key, "current": vd.current,
                "refreshed": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
        if prune:
            for gone in sorted(set(record["versions"]) - set(report.versions)):
                report.deleted += self.store.delete_version(gone)
                report.removed.append(gone)
                record["versions"].pop(gone)
                changed = True
        current = next((vd.version for vd in listed if vd.current), None)
        if current or not any(v.get("current") for v in record["versions"].values()):
            for name, info in record["versions"].items():
                info["current"] = name == current
        if changed:
            self.store.flush()
        if changed or todo_versions or record != self.store.versions_record():
            self.store.save_versions_record(record)
        self._checked = False
        report.embedding_calls = emb.calls - calls0
        report.seconds = time.perf_counter() - t0
        return report

    def _plan_version(self, vd, fresh: dict[str, Chunk], report: IngestReport):
        """(stored rows, chunks to write, ids to delete) of one version, counted into the report."""
        existing = self.store.rows(vd.version)
        todo = [c for cid, c in fresh.items() if cid not in existing]
        vanished = {cid: loc for cid, (loc, _) in existing.items() if cid not in fresh}
        vanished_locs = set(vanished.values())
        updated = sum(1 for c in todo if c.location in vanished_locs)
        report.chunks += len(fresh)
        report.unchanged += len(fresh) - len(todo)
        report.added += len(todo) - updated
        report.updated += updated
        report.deleted += max(len(vanished) - updated, 0)
        return existing, todo, vanished

    def _write_version(self, fresh: dict[str, Chunk], plan, ehash: dict[str, str],
                       vectors: dict[str, list[float]]) -> bool:
        """Write one version's new chunks and delete its vanished ones; whether anything changed."""
        existing, todo, vanished = plan
        if not todo and not vanished:
            return False
        emb = self.embedder
        ehash, vectors = dict(ehash), dict(vectors)
        write = todo
        if existing and self.store.is_local:
            # Milvus Lite keeps BM25 statistics (document count, IDF, average length) per segment,
            # so a few changed chunks written alone form a tiny segment whose scores are off
            # (a new FAQ entry ranked third for its own question). Rewriting every chunk of the
            # version puts them in one segment with whole-version statistics. No new embeddings:
            # unchanged chunks keep their stored vectors.
            kept = [c for cid, c in fresh.items() if cid in existing]
            ehash.update({c.id: existing[c.id][1] for c in kept})
            if emb.dim:
                stored = self.store.vectors([c.id for c in kept], self._embedding_fields())
                vectors.update({c.id: stored[c.id] for c in kept})
            write = todo + kept
        rows = []
        for c in write:
            row = {"id": c.id, "loc": c.location, "title": c.title, "heading": c.heading, "source": c.source,
                   "url": c.url, "text": c.text, "version": c.version, "ehash": ehash[c.id],
                   "bm25_text": bm25_text(c, self.bm25_recipe), "bm25_head": bm25_head(c)}
            if emb.dim:
                row.update(vectors[c.id])
            rows.append(row)
        if rows:
            self.store.upsert(rows)
        if vanished:
            self.store.delete(vanished)
        return True

    def _embedding_fields(self) -> tuple[str, ...]:
        return ("dense", "late") if self.late_on else ("dense",)

    def _vectors_for(self, todo: list[Chunk], ehash: dict[str, str], progress: bool,
                     report: IngestReport) -> dict[str, dict]:
        """The embedding fields of new chunks (`dense`; `late` where the collection has it), by id:
        text already embedded (another version, a moved chunk) is reused from the collection, and
        each distinct text is embedded once."""
        fields = self._embedding_fields()
        known = self.store.vectors_by_ehash(list(set(ehash.values())), fields)
        need: dict[str, list[str]] = {}
        for c in todo:
            if ehash[c.id] not in known:
                need.setdefault(ehash[c.id], embedding_pieces(c, self.embed_recipe) if self.piecewise
                                else [embedding_text(c, self.embed_recipe)])
        # one flat list of texts (a chunk's pieces are consecutive), embedded 400 at a time
        owners = [(h, n) for h, pieces in need.items() for n in range(len(pieces))]
        texts = [t for pieces in need.values() for t in pieces]
        report.embedded += len(texts)
        bar = None
        if progress and texts:
            from tqdm import tqdm

            bar = tqdm(total=len(texts), unit="text", desc="embedding", leave=False)
        embed = self.embedder.embed_documents_late if "late" in fields else self.embedder.embed_documents
        parts: dict[str, list] = {h: [None] * len(pieces) for h, pieces in need.items()}
        step = 400
        for i in range(0, len(texts), step):
            for (h, n), out in zip(owners[i : i + step], embed(texts[i : i + step])):
                parts[h][n] = out
            if bar:
                bar.update(len(texts[i : i + step]))
        if bar:
            bar.close()
        for h, outs in parts.items():
            if "late" in fields:  # (vector, word pieces) per text
                known[h] = {"dense": combine_pieces([v for v, _ in outs]),
                            "late": late.encode(late.chunk_matrix([p for _, p in outs]))}
            else:
                known[h] = {"dense": combine_pieces(outs)}
        return {c.id: known[ehash[c.id]] for c in todo}

    # ---- search ----------------------------------------------------------------------
    def corpus_size(self, version: str | None = None) -> int:
        """Number of chunks in one docs version (from the versions record), else in the whole
        collection (counted once; ingest resets it). BM25 scores grow with the corpus a search
        covers; with several versions of mostly the same pages, one version is that corpus."""
        if version:
            chunks = self.versions_record()["versions"].get(version, {}).get("chunks")
            if chunks:
                return int(chunks)
        if self._corpus_size is None:
            try:
                self._corpus_size = self.store.count()
            except Exception as exc:  # no collection yet: searches fail with a clearer message
                log.debug("cannot count the collection: %s", exc)
                return 0
        return self._corpus_size

    def engine_bm25(self) -> tuple[float, float]:
        """The k1/b the Milvus engine scores BM25 with: Milvus Lite ignores `bm25_k1` and keeps
        its 1.5 (its scores match rag_core.headings' only with 1.5); servers apply ours."""
        return (1.5 if self.store.is_local else self.bm25_params.k1), self.bm25_params.b

    def headings(self, version: str | None) -> HeadingIndex:
        """The headings of one version, searchable here (rag_core.headings); rebuilt when an
        ingest changed that version."""
        return self._headings_and_facts(version)[1]

    def chunk_facts(self, version: str | None) -> dict[str, R.ChunkFacts]:
        """rag_core.rerank's facts on every chunk of one version (read with the headings)."""
        return self._headings_and_facts(version)[2]

    def _headings_and_facts(self, version: str | None):
        versions = self.versions_record()["versions"]
        key = json.dumps(versions.get(version, {}) if version else versions, sort_keys=True)
        cached = self._heads.get(version)
        if cached is None or cached[0] != key:
            with self._parts_lock:
                cached = self._heads.get(version)
                if cached is None or cached[0] != key:
                    rows = self.store.head_rows(version)
                    cached = self._heads[version] = (key, HeadingIndex((r[0], r[1]) for r in rows),
                                                     R.chunk_facts(rows))
        return cached

    def default_mode(self) -> str:
        return "hybrid" if self.embedder.dim else "bm25"

    # ---- versions --------------------------------------------------------------------
    RECORD_TTL = 60.0  # seconds: another process (a CLI ingest, a replica) may have re-indexed

    def versions_record(self) -> dict:
        """The indexed docs versions, as the last ingest recorded them (cached for a minute)."""
        rec = self._record
        if rec is None or time.monotonic() - rec[0] > self.RECORD_TTL:
            with self._parts_lock:  # a burst of questions reads it once, not once each
                rec = self._record
                if rec is None or time.monotonic() - rec[0] > self.RECORD_TTL:
                    rec = self._record = (time.monotonic(), self.store.versions_record())
        return rec[1]

    def indexed_versions(self) -> list[str]:
        return sorted(self.versions_record()["versions"], key=V.sort_key)

    VERSION_FIELDS = ("version", "chunks", "files", "source", "commit", "refreshed", "current", "default")

    def version_rows(self) -> list[dict]:
        """Each indexed docs version as `faqbot versions --json` lists it (the App Home shows the same)."""
        record, default = self.versions_record()["versions"], self.default_version()
        rows = ({**record[v], "version": v, "default": v == default} for v in self.indexed_versions())
        return [{k: row.get(k) for k in self.VERSION_FIELDS} for row in rows]

    def current_version(self) -> str | None:
        """What `latest` means here: the version milvus.io serves as current when a GitHub source
        said so at the last ingest, else the newest indexed version."""
        versions = self.versions_record()["versions"]
        flagged = [v for v, info in versions.items() if info.get("current")]
        return flagged[0] if flagged else next(iter(self.indexed_versions()), None)

    def _resolve(self, version: str) -> str | None:
        return self.current_version() if version == "latest" else version

    def default_version(self) -> str | None:
        """The first entry of FAQBOT_DOCS_VERSIONS that is indexed (else the current one)."""
        indexed = set(self.indexed_versions())
        for want in self.settings.version_list:
            if self._resolve(want) in indexed:
                return self._resolve(want)
        return self.current_version()

    def route(self, question: str, version: str | None = None, default_version: str | None = None) -> Route:
        """Which version answers: `version` (the caller's explicit choice, e.g. --version), else a
        version the question names, else `default_version` (e.g. the channel's), else the default."""
        indexed = self.indexed_versions()
        if version:
            chosen = self._resolve(V.normalise(version))
            if chosen not in indexed:
                raise StoreError(f"Docs version {chosen or version} is not indexed (indexed: "
                                 f"{', '.join(indexed) or 'none'}). Run `faqbot ingest --version {version}`.")
            return Route(chosen, chosen)
        fallback = self.default_version()
        if default_version:
            wanted = self._resolve(V.normalise(default_version))
            fallback = wanted if wanted in indexed else fallback
        asked = V.mentioned_version(question)
        if asked and asked in indexed:
            return Route(asked, asked)
        if asked and fallback:
            return Route(fallback, asked, f"The {asked} docs are not indexed here, so this answer uses the "
                                          f"{fallback} docs (indexed: {', '.join(indexed)}).")
        return Route(fallback)

    # ---- search ----------------------------------------------------------------------
    def search(self, question: str, top_k: int | None = None, mode: str | None = None,
               degrade: bool = True, version: str | None = None, default_version: str | None = None) -> SearchResult:
        """Top chunks for a question, from the version `route()` picks. With `degrade`, a failed
        query embedding falls back to BM25."""
        t0 = time.perf_counter()
        top_k = top_k or self.settings.top_k
        self._check_embedder()
        route = self.route(question, version, default_version)
        # the version number routed the question; left in, it only matches release notes
        query = V.without_version(question, route.asked) if route.asked else question
        cand = self.retrieve(query, max(top_k, self.fusion.candidates), mode, degrade, version=route.version)
        hits = self.fuse(cand, top_k)
        signals = self.signals(query, cand)
        about = other_product(query)  # Pinecone, Qdrant, ...: the docs' words match, the subject does not
        # the page the evidence comes from: the best hit, or (keyless) the best BM25 hit, which
        # rag_core.rerank may have moved down because it is an integration or tutorial page
        best = [h.source for h in (hits[:1] + (cand.bm25[:1] if cand.mode == "bm25" else [])) if h.complete]
        walkthrough = any(walkthrough_page(src) for src in best) and not names_milvus(query)
        confident, confidence = self.confidence.judge(cand.mode, signals, bool(about), walkthrough)
        return SearchResult(question=question, mode=cand.mode, hits=hits, confident=confident and bool(hits),
                            confidence=confidence, bm25_top=signals["bm25_top"],
                            dense_top=signals["dense_top"], ms=(time.perf_counter() - t0) * 1000, route=route,
                            about=about)

    def retrieve(self, question: str, n: int, mode: str | None = None, degrade: bool = True,
                 version: str | None = None) -> Candidates:
        """The ranked candidate lists (BM25 text, BM25 headings, dense) for `mode`, in one version."""
        mode = mode or self.default_mode()
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        self._check_embedder()
        if mode != "bm25" and not self.embedder.dim:
            raise EmbedderMismatch(
                f"Search mode {mode!r} needs dense vectors: set GEMINI_API_KEY or "
                "FAQBOT_EMBEDDER=sentence-transformers and run `faqbot ingest --recreate`.")
        query_vec, late_query = None, None
        if mode != "bm25":
            try:
                if mode == "hybrid" and mode in self.fusion.rerank and self.late_on:
                    query_vec, late_query = self.embedder.embed_query_late(question, self.fusion.query_prefix)
                else:
                    query_vec = self.embedder.embed_query(self.fusion.query_prefix + question)
            except EmbeddingError as exc:
                if not degrade:
                    raise
                log.warning("query embedding failed, falling back to BM25: %s", exc)
                mode = "bm25"
        bm25_hits, head_hits, analysed = [], [], ""
        if mode in self.fusion.rerank:
            n = max(n, R.DEPTH)
        if mode != "dense":
            analysed = analysis.analyse(question)
            uses_head = (mode == "bm25" or self.fusion.hybrid == "rrf" or self.fusion.head_share > 0
                         or mode in self.fusion.rerank)
            bm25_hits = self.store.search_bm25(analysed, n, version=version)
            if self.fusion.heading_weight > 0 and uses_head:
                found = {h.id: h for h in bm25_hits}
                head_hits = [replace(found[i], score=s) if i in found else stub_hit(i, s, version)
                             for i, s in self.headings(version).search(analysed, n, *self.engine_bm25())]
        dense_hits = self.store.search_dense(query_vec, n, version=version) if query_vec is not None else []
        return Candidates(mode, bm25_hits, head_hits, dense_hits, version, tuple(analysed.split()),
                          late_query if mode == "hybrid" else None)

    def fuse(self, cand: Candidates, top_k: int, mode: str | None = None) -> list[Hit]:
        """Weighted RRF of the lists `mode` uses (default: the mode the candidates were retrieved for)."""
        hits = self._ranked(cand, top_k, mode)
        stubs = [h.id for h in hits if not h.complete]
        if not stubs:
            return hits
        full = self.store.get_hits(stubs)  # found by the headings alone: read them from Milvus
        return [replace(full[h.id], score=h.score) if not h.complete else h for h in hits
                if h.complete or h.id in full]

    def _ranked(self, cand: Candidates, top_k: int, mode: str | None) -> list[Hit]:
        f = self.fusion
        mode = mode or cand.mode
        if mode == "dense":
            return cand.dense[:top_k]
        if mode in f.rerank and cand.terms:
            return self._reranked(cand, top_k, mode)
        lists = [(cand.bm25[: f.candidates], f.bm25_weight)]
        if f.heading_weight > 0 and cand.head:
            lists.append((cand.head[: f.candidates], f.heading_weight))
        if mode == "hybrid" and f.hybrid == "minmax":
            return minmax_fusion(cand.dense[: f.depth], cand.bm25[: f.depth], f.dense_share, f.dense_floor,
                                 cand.head[: f.depth], f.head_share)[:top_k] or cand.bm25[:top_k]
        if mode == "hybrid":
            lists.append((cand.dense[: f.candidates], f.dense_weight))
        if len(lists) == 1:
            return cand.bm25[:top_k]
        fused = rrf(lists, f.rrf_k)
        return [Hit(**{**h.__dict__, "score": s}) for h, s in fused[:top_k]]

    def _reranked(self, cand: Candidates, top_k: int, mode: str) -> list[Hit]:
        dense = cand.dense if mode == "hybrid" else None
        found = {h.id: h for h in [*cand.head, *(dense or []), *cand.bm25]}  # the complete ones come last
        _, index, facts = self._headings_and_facts(cand.version)
        ranked = R.rerank(cand.terms, _pairs(cand.bm25), _pairs(cand.head), facts, index.idf,
                          dense=None if dense is None else _pairs(dense),
                          late=self.late_scores(cand) if dense is not None else None)
        return [replace(found[i], score=s) for i, s in ranked[:top_k]]

    def late_scores(self, cand: Candidates) -> dict[str, float] | None:
        """rag_core.late's score of each chunk the learned ranking weighs (None: not in use)."""
        if cand.late_query is None:
            return None
        ids = R.candidate_ids(_pairs(cand.bm25), _pairs(cand.head), _pairs(cand.dense))
        stored = self.store.vectors(ids, ("late",))
        return {i: late.maxsim(cand.late_query, late.decode(row["late"])) for i, row in stored.items()}

    def signals(self, question: str, cand: Candidates) -> dict:
        return confidence_signals(question, cand, self.corpus_size(cand.version))

    # ---- ask -------------------------------------------------------------------------
    def ask(self, question: str, history: Iterable[Turn] = (), on_delta: Callable[[str], None] | None = None,
            top_k: int | None = None, retrieval: SearchResult | None = None, version: str | None = None,
            default_version: str | None = None) -> Answer:
        t0 = time.perf_counter()
        retrieval = retrieval or self.search(question, top_k=top_k, version=version, default_version=default_version)
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
            if not retrieval.confident:
                sources = sources[:1]  # "not covered": only the closest passage, not three unrelated ones
        timings["total"] = (time.perf_counter() - t0) * 1000
        about = (f"This looks like a question about {retrieval.about}; I answer from the Milvus docs only."
                 if retrieval.about else None)
        note = " ".join(n for n in (retrieval.route.note, about, note) if n) or None
        return Answer(question=question, answer=text, mode=mode, sources=sources, retrieval=retrieval,
                      timings_ms=timings, note=note)
