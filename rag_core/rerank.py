"""Ranking on large collections: one learned linear score over the candidate lists.

Keyless retrieval has two rankings of a question's chunks: BM25 over the chunk's text (a Milvus
search) and BM25 over its headings (rag_core.headings); hybrid retrieval with the local model adds
a dense ranking. Fusing them by rank or by normalised score treats every chunk alike. Here each
chunk in a list's top (DEPTH for the BM25 lists, DENSE_DEPTH for the dense one) is scored by a
weighted sum of features:
- its rank in each list, as 1 / (5 + rank) (depth + 10 when absent);
- its score relative to that list's best (0 when absent); for the dense list, its cosine
  min-max normalised over the list's top, and its cosine minus the best one;
- the IDF-weighted share of the question's words that its page title and headings hold (IDF
  of the headings field);
- whether it is a page intro (no heading of its own), and whether it is on an integration or
  tutorial page (rag_core.scope.walkthrough_page);
- with the local model on a collection that stores them, late interaction: how well the chunk's
  word pieces, in context, match the question's (rag_core.late; Pipeline.late_scores reads them).

Everything else it reads is in the process: the lists' ranks and scores, and per chunk the facts
below, read with the headings (one scan per ingest of a version). No chunk text is analysed at
query time.

The weights come from `python -m benchmarks.fit_rerank` (keyless) and `... --mode hybrid` (the
local model, all-MiniLM-L6-v2: its cosines, not Gemini's): a pairwise logistic regression (each
chunk holding the expected heading against each that does not, same question), fitted on the
all-docs dev set and held-out sets 1-6 (316 questions; keyless refitted on dev and held-out 1-20 in
the eighth session, below). Before each was adopted, recall@3 / MRR:
- **Cross-validation:** fitted on six of those seven sets and tested on the seventh, in turn. The
  six held-out sets pooled (285): keyless 0.712 / 0.622 -> 0.737 / 0.679 (dev 0.742 / 0.690 ->
  0.742 / 0.661); hybrid 0.818 / 0.709 -> 0.825 / 0.731, one set lower (held-out 1, 0.778 ->
  0.711).
- **Blind test:** two sets of 45 written blind (held-out 7 and 8), with the rule to adopt fixed
  before they were measured: keyless 0.667 / 0.593 -> 0.700 / 0.625, hybrid 0.756 / 0.693 ->
  0.822 / 0.729 (docs/retrieval-quality.md).
Keyless refit (eighth session) on dev and held-out 1-20 (946 questions): cross-validated on held-out
7-20 0.759 / 0.678 -> 0.765 / 0.688; on two sets written blind for its test (held-out 21 and 22)
0.811 / 0.715 -> 0.822 / 0.716.
Late interaction (WEIGHTS_LATE, seventh session): fitted the same way on dev and held-out 1-14;
cross-validated 0.819 / 0.729 -> 0.842 / 0.741 over those 645 held-out questions, and on two sets
written blind for its test (held-out 15 and 16) 0.856 / 0.785 -> 0.878 / 0.789.
The FAQ pages keep rank fusion: the weights were fitted on whole docs, and a FAQ chunk is one
question. Gemini's hybrid keeps RRF: its cosines are not MiniLM's.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from . import analysis
from .scope import walkthrough_page

DEPTH = 20  # candidates: the top DEPTH of each BM25 list
DENSE_DEPTH = 10  # and of the dense list
RRF_K = 5
FEATURES = ("rank_text", "score_text", "rank_head", "score_head", "title_headings_cover", "intro",
            "walkthrough")
DENSE_FEATURES = ("rank_dense", "score_dense", "below_best_dense")
# `python -m benchmarks.fit_rerank --sets dev,heldout,heldout2,...,heldout20` (eighth session; first fitted on
# dev + held-out 1-6, (14.36, 2.25, -1.67, 0.69, 1.39, -1.38, -0.94)). The refit was adopted under a rule fixed
# before held-out 21 and 22 existed: 0.811 / 0.715 -> 0.822 / 0.716 there (docs/retrieval-quality.md)
WEIGHTS = (13.94, 2.01, -0.72, 0.08, 1.39, -1.18, -0.62)
WEIGHTS_HYBRID = (11.24, 1.1, -0.12, -0.03, -1.03, -1.27, -0.73, 4.37, 0.49, 8.21)  # + DENSE_FEATURES (local model)
LATE_FEATURES = ("late_maxsim",)  # rag_core.late: the local model's word pieces, in context
# + DENSE_FEATURES + LATE_FEATURES: `python -m benchmarks.fit_rerank --mode hybrid --sets dev,heldout,...,
# heldout14` (2026-11-30, seventh session). The blind test used the same fit from the experiment's own
# scripts ((8.05, ..., 7.05): the same on held-out 15 + 16, 0.878 / 0.789; README, "Retrieval quality").
# Collections without late-interaction data keep WEIGHTS_HYBRID
WEIGHTS_LATE = (8.1, 0.65, -0.23, -0.21, -1.34, -1.01, -0.69, 2.29, 0.62, 4.65, 6.94)


@dataclass(frozen=True)
class ChunkFacts:
    """What the re-ranker knows of a chunk besides its BM25 ranks."""

    cover: frozenset[str]  # analysed words of the page title and of the chunk's headings
    intro: bool  # a page intro: the text before the first heading
    walkthrough: bool  # on an integration or tutorial page


NO_FACTS = ChunkFacts(frozenset(), False, False)


def chunk_facts(rows: Iterable[tuple[str, str, str, str, str]]) -> dict[str, ChunkFacts]:
    """Facts by chunk id, from (id, analysed headings, title, heading, source) rows."""
    titles: dict[str, frozenset[str]] = {}
    words: dict[str, str] = {}  # one string object per distinct word across chunks
    out = {}
    for chunk_id, head, title, heading, source in rows:
        if title not in titles:
            titles[title] = frozenset(words.setdefault(w, w) for w in analysis.tokens(title))
        cover = titles[title] | {words.setdefault(w, w) for w in head.split()}
        out[chunk_id] = ChunkFacts(frozenset(cover), not heading, walkthrough_page(source))
    return out


def features(terms: Iterable[str], text: Sequence[tuple[str, float]], head: Sequence[tuple[str, float]],
             facts: Mapping[str, ChunkFacts], idf: Callable[[str], float], depth: int = DEPTH,
             dense: Sequence[tuple[str, float]] | None = None,
             dense_depth: int = DENSE_DEPTH,
             late: Mapping[str, float] | None = None) -> tuple[list[str], list[tuple[float, ...]]]:
    """The candidates (text list first, then headings, then dense) and their feature rows, in
    FEATURES (+ DENSE_FEATURES when `dense` is given, + LATE_FEATURES when `late` is) order.
    `late`: rag_core.late's score by chunk id (0 for a chunk without one)."""
    ranked = []
    for hits in (text[:depth], head[:depth]):
        top = hits[0][1] if hits and hits[0][1] else 1.0
        ranked.append({i: (rank, score / top) for rank, (i, score) in enumerate(hits, 1)})
    by_text, by_head = ranked
    by_dense = {i: (rank, cos) for rank, (i, cos) in enumerate((dense or [])[:dense_depth], 1)}
    best = max((cos for _, cos in by_dense.values()), default=0.0)
    low = min((cos for _, cos in by_dense.values()), default=0.0)
    words = set(terms)
    weights = {t: idf(t) for t in words}
    total = sum(weights.values()) or 1.0
    ids = candidate_ids(text, head, dense, depth, dense_depth)
    rows = []
    for i in ids:
        rank_t, score_t = by_text.get(i, (depth + 10, 0.0))
        rank_h, score_h = by_head.get(i, (depth + 10, 0.0))
        f = facts.get(i, NO_FACTS)
        cover = sum(w for t, w in weights.items() if t in f.cover) / total
        row = (1 / (RRF_K + rank_t), score_t, 1 / (RRF_K + rank_h), score_h, cover,
               float(f.intro), float(f.walkthrough))
        if dense is not None:
            rank_d, cos = by_dense.get(i, (dense_depth + 10, None))
            row += (1 / (RRF_K + rank_d), (cos - low) / (best - low) if cos is not None and best > low else 0.0,
                    cos - best if cos is not None else low - best - 0.05)
        if late is not None:
            row += (late.get(i, 0.0),)
        rows.append(row)
    return ids, rows


def candidate_ids(text: Sequence[tuple[str, float]], head: Sequence[tuple[str, float]],
                  dense: Sequence[tuple[str, float]] | None = None, depth: int = DEPTH,
                  dense_depth: int = DENSE_DEPTH) -> list[str]:
    """The chunks `features` scores, in its order: the top of each list (text, headings, dense)."""
    return list(dict.fromkeys(i for i, _ in [*text[:depth], *head[:depth], *(dense or [])[:dense_depth]]))


def rerank(terms: Iterable[str], text: Sequence[tuple[str, float]], head: Sequence[tuple[str, float]],
           facts: Mapping[str, ChunkFacts], idf: Callable[[str], float],
           weights: Sequence[float] | None = None, depth: int = DEPTH,
           dense: Sequence[tuple[str, float]] | None = None,
           late: Mapping[str, float] | None = None) -> list[tuple[str, float]]:
    """(chunk id, score), best first; ties keep the lists' order. With `dense`, the hybrid score;
    with `late` too (the local model's late interaction), WEIGHTS_LATE."""
    if weights is None:
        weights = WEIGHTS if dense is None else WEIGHTS_HYBRID if late is None else WEIGHTS_LATE
    ids, rows = features(terms, text, head, facts, idf, depth, dense, late=late)
    scored = [(i, sum(w * x for w, x in zip(weights, row))) for i, row in zip(ids, rows)]
    return sorted(scored, key=lambda item: -item[1])
