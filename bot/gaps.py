"""Knowledge gaps: questions grouped by what they ask ("7 people asked about upgrading from 2.5 to 2.6").

Lexical and deterministic — no Milvus, no embeddings, no network: each question becomes a set of stemmed,
stop-word-free terms (rag_core.analysis, as BM25 sees them) in which every version number is one term
(`v2.5`, `2.5.x`, `2.5.4` → `v2.5`), weighted by IDF over the period's questions and L2-normalised.
Questions are taken oldest first; each joins the group whose centroid is most similar (cosine ≥
THRESHOLD), or starts one. The same questions always make the same groups.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from functools import lru_cache
from typing import Sequence

from rag_core.analysis import tokens as _stemmed

THRESHOLD = 0.35  # chosen on tests/test_gaps.py's paraphrases: the upgrade questions group, the others don't
LOOKUP_TERMS = 8  # candidate groups come from a question's 8 rarest words (keeps a month of gaps fast)
# stemmed words that say nothing about the topic of a question to a Milvus docs bot
FILLER = frozenset("milvus anyon someon know way possibl need want tell help question wonder tri use thing "
                   "guy team best correct right exact actual realli".split())

_VERSION = re.compile(r"(?<![\w.])[vV]?(\d{1,2})\.(\d{1,2})(?:\.(?:\d{1,3}|[xX]))?(?!\.?\w)")
_IS_VERSION = re.compile(r"v\d+\.\d+(?:\+v\d+\.\d+)*")
_SLACK_MARKUP = re.compile(r"<([@#!][^>|]*)(?:\|([^>]*))?>|<(https?://[^>|]*)(?:\|([^>]*))?>")


def _unmarkup(m: re.Match) -> str:
    return m.group(2) or m.group(4) or " "  # a channel or link label stays, mentions and bare URLs go


@lru_cache(maxsize=65536)  # a report computes each question's terms for each period (and a Home per open)
def terms(question: str) -> tuple[str, ...]:
    """The terms a question is compared by: versions as vMAJOR.MINOR, the rest stemmed, without filler."""
    text = _SLACK_MARKUP.sub(_unmarkup, question or "")
    versions = sorted({f"v{int(major)}.{int(minor)}" for major, minor in _VERSION.findall(text)})
    words = [t for t in _stemmed(_VERSION.sub(" ", text)) if len(t) > 1 and t not in FILLER and not t.isdigit()]
    # the versions together are one more term: "2.5 to 2.6" is more alike to "2.5.x → 2.6.x" than 2.5 and 2.6 alone
    return tuple(dict.fromkeys(words + versions + (["+".join(versions)] if len(versions) > 1 else [])))


def _vectors(term_sets: list[set[str]], corpus_sets: list[set[str]]) -> list[dict[str, float]]:
    df = Counter(t for s in corpus_sets for t in s)
    n = len(corpus_sets)
    out = []
    for s in term_sets:
        v = {t: math.log((1 + n) / (1 + df[t])) + 1.0 for t in s}
        norm = math.sqrt(sum(w * w for w in v.values())) or 1.0
        out.append({t: w / norm for t, w in v.items()})
    return out


def _versions(vector: dict[str, float]) -> frozenset[str]:
    return frozenset(t for t in vector if _IS_VERSION.fullmatch(t))


def group_questions(texts: Sequence[str], corpus: Sequence[str] | None = None,
                    threshold: float = THRESHOLD) -> list[list[int]]:
    """Groups of indices into `texts` (given oldest first), each in input order, groups in order of their
    first question. `corpus` (e.g. every question of the period) weighs the terms; default `texts`.
    A question joins a group only if it shares a word (not just a version) with it and names the same
    versions, if both name any: "upgrade 2.4 to 2.5" and "is 2.6 faster than 2.5" are other gaps than
    "upgrade 2.5 to 2.6"."""
    term_sets = [set(terms(t)) for t in texts]
    vectors = _vectors(term_sets, term_sets if corpus is None else [set(terms(t)) for t in corpus])
    groups: list[list[int]] = []
    centroids: list[dict[str, float]] = []
    norms: list[float] = []
    versions: list[frozenset[str]] = []
    by_term: dict[str, list[int]] = defaultdict(list)
    by_text: dict[str, int] = {}  # questions without terms ("??") group by their text
    for i, v in enumerate(vectors):
        if not v:
            key = " ".join((texts[i] or "").lower().split())
            if key not in by_text:
                by_text[key] = len(groups)
                groups.append([])
                centroids.append({})
                norms.append(0.0)
                versions.append(frozenset())
            groups[by_text[key]].append(i)
            continue
        mine = _versions(v)
        words = [t for t in sorted(v, key=lambda t: (-v[t], t)) if t not in mine]
        best, best_sim = -1, 0.0
        for g in sorted({g for t in words[:LOOKUP_TERMS] for g in by_term[t]}):
            if mine and versions[g] and mine != versions[g]:
                continue
            c = centroids[g]
            sim = sum(w * c.get(t, 0.0) for t, w in v.items()) / norms[g]
            if sim > best_sim:
                best, best_sim = g, sim
        if best_sim < threshold:
            best = len(groups)
            groups.append([])
            centroids.append({})
            norms.append(0.0)
            versions.append(frozenset())
        groups[best].append(i)
        versions[best] = versions[best] or mine
        c = centroids[best]
        for t, w in v.items():
            if t not in c and t not in mine:
                by_term[t].append(best)  # looked up by words only: a shared version alone is no topic
            c[t] = c.get(t, 0.0) + w
        norms[best] = math.sqrt(sum(w * w for w in c.values()))
    return groups


def representative(group: Sequence[int], texts: Sequence[str]) -> int:
    """The member that shares most of its terms with the rest of the group; the earliest on a tie."""
    term_sets = {i: set(terms(texts[i])) for i in group}
    counts = Counter(t for s in term_sets.values() for t in s)
    return max(group, key=lambda i: (sum(counts[t] for t in term_sets[i]) / math.sqrt(len(term_sets[i]) or 1),
                                     -group.index(i)))
