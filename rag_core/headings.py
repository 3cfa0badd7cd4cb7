"""The keyless headings list without a second Milvus search.

Keyless retrieval fuses two rankings: BM25 over the whole chunk and BM25 over its headings only
(a short field, so a question that matches a section's title ranks that section first). Asking
Milvus for both costs two searches, and on Milvus Lite each search has a fixed cost that grows
with the collection (about 25 ms over three versions of all docs, `make bench`). The headings are
a few words per chunk, so they are searched here instead: an inverted index of one docs version's
analysed headings, built once per ingest of that version (one scan of the `bm25_head` field), with
the BM25 Milvus computes (tests/test_headings.py checks the scores against Milvus's own search).

Pure: no Milvus, no I/O.
"""

from __future__ import annotations

import heapq
import math
from collections import Counter, defaultdict
from collections.abc import Iterable


class HeadingIndex:
    """BM25 over short analysed texts (one per chunk id)."""

    def __init__(self, rows: Iterable[tuple[str, str]]):
        self.ids: list[str] = []
        self.lengths: list[int] = []
        postings: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for chunk_id, text in rows:
            terms = text.split()
            doc = len(self.ids)
            self.ids.append(chunk_id)
            self.lengths.append(len(terms))
            for term, tf in Counter(terms).items():
                postings[term].append((doc, tf))
        self.postings = dict(postings)
        self.avgdl = sum(self.lengths) / len(self.lengths) if self.lengths else 0.0

    def __len__(self) -> int:
        return len(self.ids)

    def idf(self, term: str) -> float:
        df = len(self.postings.get(term, ()))
        return math.log((len(self.ids) - df + 0.5) / (df + 0.5) + 1.0)

    def search(self, analysed_query: str, limit: int, k1: float = 1.2, b: float = 0.75) -> list[tuple[str, float]]:
        """The `limit` best (chunk id, BM25 score), best first; a word the query repeats counts
        twice (as in Milvus's BM25 queries); texts that share no word with the query are left out."""
        scores: dict[int, float] = defaultdict(float)
        avgdl = self.avgdl or 1.0
        for term, weight in Counter(analysed_query.split()).items():
            docs = self.postings.get(term)
            if not docs:
                continue
            idf = self.idf(term) * weight
            for doc, tf in docs:
                norm = k1 * (1.0 - b + b * self.lengths[doc] / avgdl)
                scores[doc] += idf * tf * (k1 + 1.0) / (tf + norm)
        best = heapq.nlargest(limit, scores.items(), key=lambda item: (item[1], -item[0]))
        return [(self.ids[doc], score) for doc, score in best]
