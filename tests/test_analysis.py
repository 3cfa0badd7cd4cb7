"""BM25 text analysis: stemming, stop words, and thread safety (answer workers run it at once)."""

import sys
from concurrent.futures import ThreadPoolExecutor

from hypothesis import given, strategies as st

from rag_core import analysis


def test_stems_and_stop_words():
    assert analysis.tokens("Where does Milvus store data?") == ["milvus", "store", "data"]
    assert analysis.analyse("running runs") == analysis.analyse("run run")
    assert {"index", "type"} <= set(analysis.tokens("set index_type please"))  # the name and its parts


def test_concurrent_stemming_matches_sequential():
    words = [f"{stem}{suffix}" for stem in ("generat", "connect", "organiz", "relat", "condition", "happi",
                                            "electric", "hope", "formal", "sensit")
             for suffix in ("ional", "ization", "ingly", "fulness", "iveness", "ically", "ements", "ers")]
    texts = [" ".join(words[i:] + words[:i]) for i in range(len(words))]
    expected = [analysis.tokens(t) for t in texts]
    analysis._stem.cache_clear()  # make every thread really stem
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    try:
        with ThreadPoolExecutor(16) as pool:
            for _ in range(5):
                analysis._stem.cache_clear()
                assert list(pool.map(analysis.tokens, texts)) == expected
    finally:
        sys.setswitchinterval(old)


@given(st.text(max_size=200))
def test_analyse_never_fails(text):
    out = analysis.analyse(text)
    assert out == out.lower()
