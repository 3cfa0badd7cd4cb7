"""The keyless headings signal without a second Milvus search.

Keyless retrieval fuses two rankings: BM25 over the whole chunk and BM25 over its headings only
(a short field, so a question that matches a section's title ranks that section first). Asking
Milvus for both costs two searches, and on Milvus Lite every search has a fixed cost that grows
with the collection (about 20 ms over three versions of all docs). The headings list only has to
re-order what the text list already found: the text field holds the headings too, and re-ranking
its top 30 by headings measured the same recall as Milvus's own headings list on every question
set (`python -m benchmarks.tune_alldocs`). So the headings are scored here, with BM25 over the
headings of the searched version (document frequencies read once per version and ingest).

Pure: no Milvus, no I/O.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class HeadingStats:
    """Document frequencies of the analysed headings of one docs version."""

    docs: int = 0
    avgdl: float = 0.0
    df: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> HeadingStats:
        df: Counter[str] = Counter()
        docs = total = 0
        for text in texts:
            terms = text.split()
            docs += 1
            total += len(terms)
            df.update(set(terms))
        return cls(docs, total / docs if docs else 0.0, dict(df))

    def idf(self, term: str) -> float:
        n = self.df.get(term, 0)
        return math.log((self.docs - n + 0.5) / (n + 0.5) + 1.0)

    def score(self, query: Counter[str], heading: str, k1: float = 1.2, b: float = 0.75) -> float:
        """BM25 of an analysed heading for an analysed query (a repeated query word counts twice,
        as in Milvus's BM25)."""
        terms = heading.split()
        if not terms or not query:
            return 0.0
        tf = Counter(terms)
        norm = k1 * (1.0 - b + b * len(terms) / (self.avgdl or 1.0))
        return sum(weight * self.idf(t) * tf[t] * (k1 + 1.0) / (tf[t] + norm)
                   for t, weight in query.items() if t in tf)


def rank_by_headings(stats: HeadingStats, analysed_query: str, hits: Sequence, heading_of,
                     k1: float = 1.2, b: float = 0.75) -> list[tuple[object, float]]:
    """`hits` re-ranked by the BM25 of their headings (`heading_of(hit)`, analysed), best first;
    hits whose headings share no word with the query are left out, as a search would."""
    query = Counter(analysed_query.split())
    scored = [(h, stats.score(query, heading_of(h), k1, b)) for h in hits]
    return sorted((pair for pair in scored if pair[1] > 0), key=lambda pair: -pair[1])
