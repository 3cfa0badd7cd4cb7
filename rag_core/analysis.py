"""Text analysis for BM25, done client-side so every Milvus deployment agrees.

Milvus Lite accepts a `stemmer` filter but does not apply it (`run` does not
match `running`), so we stem with Snowball here and give Milvus pre-analysed
text whose tokens its `standard` tokenizer keeps as they are. The same
function is applied to documents and questions.
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache

_WORD = re.compile(r"[^\W_]+(?:[._][^\W_]+)*", re.U)

STOP_WORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it
    its itself just me more most my myself no nor not now of off on once only or other our ours
    ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself yourselves
    shall may might must get got also im ive dont doesnt cant isnt please thanks hi hello hey""".split()
)


_local = threading.local()


def _stemmer():
    """One Snowball stemmer per thread: a stemmer keeps the word it is working on in itself,
    so a shared one garbles words (or raises IndexError) when answer workers stem at once."""
    stemmer = getattr(_local, "stemmer", None)
    if stemmer is None:
        import snowballstemmer

        stemmer = _local.stemmer = snowballstemmer.stemmer("english")
    return stemmer


@lru_cache(maxsize=50_000)
def _stem(word: str) -> str:
    return _stemmer().stemWord(word)


def tokens(text: str) -> list[str]:
    """Lower-cased, stop-word-free, stemmed tokens. Dotted/underscored names
    (`index_type`, `v2.4`) give the whole name and its parts."""
    out: list[str] = []
    for match in _WORD.finditer(text.lower()):
        word = match.group(0)
        parts = re.split(r"[._]", word)
        for w in ([word] if len(parts) == 1 else [word.replace(".", "_"), *parts]):
            w = w.replace("'", "")
            if w and w not in STOP_WORDS:
                out.append(_stem(w))
    return out


@lru_cache(maxsize=4096)
def token_set(text: str) -> frozenset[str]:
    """The distinct tokens of a text; cached, because the confidence signals read the top hit's
    whole text for every question and the same chunks come back again and again (on the 66 FAQ
    chunks this was two thirds of the time keyless search spends outside Milvus)."""
    return frozenset(tokens(text))


def analyse(text: str) -> str:
    """The text stored in (and queried against) the BM25 field."""
    return " ".join(tokens(text))
