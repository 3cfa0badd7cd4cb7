"""The keyless headings list without a second Milvus search.

Keyless retrieval fuses two rankings: BM25 over the whole chunk and BM25 over its headings only
(a short field, so a question that matches a section's title ranks that section first). Asking
Milvus for both costs two searches, and on Milvus Lite each search has a fixed cost that grows
with the collection (about 25 ms over three versions of all docs, `make bench`). The headings are
a few words per chunk, so they are searched here instead: an inverted index of one docs version's
analysed headings, built once per ingest of that version (one scan of the `bm25_head` field), with
the BM25 Milvus computes (tests/test_headings.py checks the scores against Milvus's own search).

Being here, the headings list can also use word order, which a BM25 search cannot: a heading that
holds two of the question's words in the question's order ("move from kafka to woodpecker" →
"Switch from Kafka to Woodpecker", not "… from Woodpecker to Kafka") scores (1 + PAIR_BOOST x
such pairs) times its BM25 score. Measured with `python -m benchmarks.tune_alldocs` (keyless
recall@3 / MRR; all four all-docs and FAQ sets, gap 0-2 x boost 0.25-3; the ranking saturates
from a boost of 1.5): all docs dev 0.742 / 0.674 -> 0.742 / 0.690, held-out 0.622 / 0.538 ->
0.622 / 0.553, second held-out 0.633 / 0.558 -> 0.633 / 0.596, FAQ paraphrases 0.708 / 0.643 ->
0.708 / 0.654, FAQ dev unchanged; no set lower on either measure.

Pure: no Milvus, no I/O.
"""

from __future__ import annotations

import heapq
import math
from collections import Counter, defaultdict
from collections.abc import Iterable


PAIR_GAP = 2  # words allowed between the two words of a pair (after stop words are dropped)
PAIR_BOOST = 1.5
PAIR_DEPTH = 50  # the pairs re-rank the BM25 top 50 (over every matching heading: dev MRR 0.674, not 0.690)


def ordered_pairs(terms: list[str], gap: int = PAIR_GAP) -> set[tuple[str, str]]:
    """Pairs of different words in order, at most `gap` words apart."""
    return {(t, terms[j]) for i, t in enumerate(terms) for j in range(i + 1, min(len(terms), i + 2 + gap))
            if terms[j] != t}


class HeadingIndex:
    """BM25 over short analysed texts (one per chunk id)."""

    def __init__(self, rows: Iterable[tuple[str, str]]):
        self.ids: list[str] = []
        self.lengths: list[int] = []
        self.pairs: list[frozenset[tuple[str, str]]] = []  # each text's ordered word pairs
        postings: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for chunk_id, text in rows:
            terms = text.split()
            doc = len(self.ids)
            self.ids.append(chunk_id)
            self.lengths.append(len(terms))
            self.pairs.append(frozenset(ordered_pairs(terms)))
            for term, tf in Counter(terms).items():
                postings[term].append((doc, tf))
        self.postings = dict(postings)
        self.avgdl = sum(self.lengths) / len(self.lengths) if self.lengths else 0.0

    def __len__(self) -> int:
        return len(self.ids)

    def idf(self, term: str) -> float:
        df = len(self.postings.get(term, ()))
        return math.log((len(self.ids) - df + 0.5) / (df + 0.5) + 1.0)

    def search(self, analysed_query: str, limit: int, k1: float = 1.2, b: float = 0.75,
               pair_boost: float = PAIR_BOOST) -> list[tuple[str, float]]:
        """The `limit` best (chunk id, score), best first: BM25, where a word the query repeats
        counts twice (as in Milvus's BM25 queries), and the BM25 top PAIR_DEPTH times (1 +
        pair_boost x the query's ordered pairs the text holds); texts that share no word with the
        query are left out."""
        scores: dict[int, float] = defaultdict(float)
        matched: Counter[int] = Counter()
        avgdl = self.avgdl or 1.0
        query = analysed_query.split()
        for term, weight in Counter(query).items():
            docs = self.postings.get(term)
            if not docs:
                continue
            idf = self.idf(term) * weight
            for doc, tf in docs:
                norm = k1 * (1.0 - b + b * self.lengths[doc] / avgdl)
                scores[doc] += idf * tf * (k1 + 1.0) / (tf + norm)
                matched[doc] += 1
        key = lambda item: (item[1], -item[0])  # noqa: E731 - best score first, then index order
        pairs = ordered_pairs(query) if pair_boost else set()
        best = [(doc, score * (1.0 + pair_boost * len(pairs & self.pairs[doc])) if matched[doc] > 1 else score)
                for doc, score in heapq.nlargest(max(limit, PAIR_DEPTH), scores.items(), key=key)]
        best = heapq.nlargest(limit, best, key=key)
        return [(self.ids[doc], score) for doc, score in best]
