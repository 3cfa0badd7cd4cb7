"""Could keyless search be ONE Milvus search? Recall with headings folded into the text field.

Keyless retrieval runs two BM25 searches (chunk text, headings) and fuses them with weighted
RRF, which makes `search()` about two raw searches long (bench_retrieval). The cheapest single-
search alternative keeps the headings as separate terms in the same field: each heading token
is added again with an `h_` prefix (its own IDF, like a field of its own) and the query asks for
both forms, `h_` terms repeated W times (Milvus Lite's BM25 weights query terms by count).

Prints recall@1/@3/MRR on the dev and paraphrase sets and the best confidence split
(on-topic above / off-topic below) for the shipped two-list search and for the variants.

    python -m benchmarks.one_bm25_field
"""

from __future__ import annotations

from benchmarks import common as c
from rag_core import analysis
from rag_core import pipeline as P
from rag_core.evaluate import evaluate, load_offtopic, load_questions

DEV = c.ROOT.parent / "shared" / "eval" / "dev_questions.jsonl"
PARA = c.ROOT / "tests" / "data" / "paraphrases.jsonl"
OFFTOPIC = c.ROOT / "tests" / "data" / "offtopic.jsonl"
VARIANTS = [(1, 1), (1, 2), (2, 1), (1, 3)]  # (heading copies in the document, h_ weight in the query)


def _prefixed(text: str) -> str:
    return " ".join("h_" + t for t in text.split())


def _one_field(copies: int, weight: int):
    shipped_text = P.bm25_text

    def bm25_text(chunk, recipe=None):
        return shipped_text(chunk, recipe) + (" " + _prefixed(P.bm25_head(chunk))) * copies

    def retrieve(self, question, n, mode=None, degrade=True):
        a = analysis.analyse(question)
        q = a + (" " + _prefixed(a)) * weight if a.strip() else a
        return P.Candidates("bm25", self.store.search_bm25(q, n), [], [])

    return bm25_text, retrieve


def _run(label: str, sets: dict, offtopic: list[str]) -> dict:
    row = {}
    with c.tmpdir() as tmp:
        p = c.pipeline(tmp)
        p.ingest()
        p.store.close()
        p = c.pipeline(tmp)  # a fresh client sees sealed, indexed segments (as the bot does)
        for name, qs in sets.items():
            m = evaluate(p, qs, ["bm25"])["modes"]["bm25"]
            row[name] = (m["recall@1"], m["recall@3"], m["mrr"])
        signal = lambda q: P.confidence_signals(q, p.retrieve(q, 15))["bm25_cov"]  # noqa: E731
        on, off = [signal(x["q"]) for x in sets["dev"]], [signal(q) for q in offtopic]
        best = max((sum(o >= t for o in on) / len(on) + sum(f < t for f in off) / len(off), t)
                   for t in sorted(set(on + off)))[1]
        row["confidence"] = (sum(o >= best for o in on) / len(on), sum(f < best for f in off) / len(off), best)
        p.store.close()
    d, pa, (above, below, t) = row["dev"], row["para"], row["confidence"]
    print(f"{label:<44} dev {d[0]:.3f}/{d[1]:.3f}/{d[2]:.3f}   para {pa[0]:.3f}/{pa[1]:.3f}/{pa[2]:.3f}   "
          f"confidence: dev above {above:.3f}, off-topic below {below:.3f} (at {t:.2f})", flush=True)
    return row


def main() -> None:
    c.clean_env()
    sets = {"dev": load_questions(str(DEV)), "para": load_questions(str(PARA))}
    offtopic = load_offtopic(str(OFFTOPIC))
    print("recall@1/recall@3/MRR, keyless (BM25 only), FAQ pages")
    _run("shipped: two searches, weighted RRF 1:0.5", sets, offtopic)
    shipped = P.bm25_text, P.Pipeline.retrieve
    try:
        for copies, weight in VARIANTS:
            P.bm25_text, P.Pipeline.retrieve = _one_field(copies, weight)
            _run(f"one search: h_ headings x{copies}, query weight {weight}", sets, offtopic)
    finally:
        P.bm25_text, P.Pipeline.retrieve = shipped


if __name__ == "__main__":
    main()
