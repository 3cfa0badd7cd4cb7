"""Fit rag_core.rerank's weights on the all-docs question sets, and cross-validate them.

    .venv/bin/python -m benchmarks.fit_rerank [--mode bm25|hybrid] [--sets dev,heldout,...] [--test heldout7=PATH ...]

It builds the all-docs collection the way `benchmarks.tune_alldocs` does (cached; for hybrid with
the local model and tune_alldocs' embedding cache), takes each question's BM25 text and headings
lists (and dense list) as `Pipeline.retrieve` returns them, and turns their tops into feature rows
with `rag_core.rerank.features` (the function the pipeline ranks with). A chunk counts as right
when its text holds the expected heading.

Printed:
- leave-one-set-out: fitted on every set but one, tested on that one; recall@3 / MRR of rank
  fusion (today's RRF) and of the fitted score;
- the weights fitted on all sets (paste them into rag_core.rerank.WEIGHTS, or WEIGHTS_LATE for
  hybrid: the collection tune_alldocs builds with the local model holds rag_core.late's data);
- with --test, the sets named there, scored with those weights.

A pairwise logistic regression (scikit-learn, installed with the dev extra's
sentence-transformers): for each question, each right candidate against each wrong one, both
orders; no intercept; C = 1.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import tune_alldocs as T  # noqa: E402
from rag_core import rerank as R  # noqa: E402
from rag_core import versions as V  # noqa: E402
from rag_core.evaluate import MRR_DEPTH, is_hit  # noqa: E402

# the sets WEIGHTS_HYBRID was fitted on; WEIGHTS_LATE used dev + heldout..heldout14, WEIGHTS dev + heldout..heldout20
SETS = "dev,heldout,heldout2,heldout3,heldout4,heldout5,heldout6"


def question_rows(pipe, questions: list[dict], mode: str = "bm25") -> list[dict]:
    """Per question: candidate ids, feature rows, which are right, and the order without the
    learned score (rank fusion keyless, min-max fusion hybrid)."""
    rrf = replace(pipe.fusion, rerank=())
    out = []
    for q in questions:
        route = pipe.route(q["q"])  # as Pipeline.search: a version the question names routes it
        query = V.without_version(q["q"], route.asked) if route.asked else q["q"]
        cand = pipe.retrieve(query, R.DEPTH, mode, degrade=False, version=route.version)
        dense = [(h.id, h.score) for h in cand.dense] if mode == "hybrid" else None
        ids, rows = R.features(cand.terms, [(h.id, h.score) for h in cand.bm25],
                               [(h.id, h.score) for h in cand.head], pipe.chunk_facts(cand.version),
                               pipe.headings(cand.version).idf, dense=dense, late=pipe.late_scores(cand))
        texts = {h.id: h.text for h in [*cand.bm25, *cand.dense] if h.complete}
        texts.update({i: h.text for i, h in pipe.store.get_hits([i for i in ids if i not in texts]).items()})
        right = [is_hit(texts.get(i, ""), q["heading"]) for i in ids]
        keep, pipe.fusion = pipe.fusion, rrf
        try:
            base = [h.id for h in pipe.fuse(cand, MRR_DEPTH, mode)]
        finally:
            pipe.fusion = keep
        out.append({"ids": ids, "rows": rows, "right": right, "base": base,
                    "hits": {i for i, r in zip(ids, right) if r}})
    return out


def fit(questions: list[dict]) -> list[float]:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    pairs, labels = [], []
    for q in questions:
        rows = np.array(q["rows"], dtype=float)
        for p in (i for i, r in enumerate(q["right"]) if r):
            for n in (i for i, r in enumerate(q["right"]) if not r):
                pairs += [rows[p] - rows[n], rows[n] - rows[p]]
                labels += [1, 0]
    model = LogisticRegression(C=1.0, max_iter=3000, fit_intercept=False).fit(np.array(pairs), np.array(labels))
    return [round(float(w), 2) for w in model.coef_[0]]


def rank_of(order: list[str], q: dict) -> int | None:
    """The rank of the first right chunk (the base order ranks the same candidates)."""
    return next((k for k, i in enumerate(order[:MRR_DEPTH], 1) if i in q["hits"]), None)


def scored(q: dict, weights: list[float]) -> list[str]:
    score = {i: sum(w * x for w, x in zip(weights, row)) for i, row in zip(q["ids"], q["rows"])}
    return sorted(q["ids"], key=lambda i: -score[i])


def line(name: str, base: list, new: list) -> str:
    b, n = T.metrics(base), T.metrics(new)
    return (f"  {name:<12} rank fusion {b['r3']:.3f} / {b['mrr']:.3f}   "
            f"learned {n['r3']:.3f} / {n['mrr']:.3f}  ({len(new)})")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mode", choices=["bm25", "hybrid"], default="bm25",
                    help="keyless, or hybrid with the local model (all-MiniLM-L6-v2)")
    ap.add_argument("--sets", default=SETS, help=f"sets to fit on (default {SETS})")
    ap.add_argument("--test", action="append", default=[], metavar="NAME=PATH",
                    help="a question file to score with the weights fitted on --sets")
    args = ap.parse_args(argv)
    from rag_core.embedders import NoEmbedder
    from rag_core.store import quiet_client_logs

    quiet_client_logs()
    embedder = NoEmbedder() if args.mode == "bm25" else T.local_embedder()
    pipe = T.build("alldocs", embedder)
    pipe.warm_up()
    available = T.question_sets("alldocs")
    names = args.sets.split(",")
    data = {name: question_rows(pipe, available[name], args.mode) for name in names}
    print("leave one set out (recall@3 / MRR):")
    pooled_base, pooled_new = [], []
    for name in names:
        weights = fit([q for other in names if other != name for q in data[other]])
        base = [rank_of(q["base"], q) for q in data[name]]
        new = [rank_of(scored(q, weights), q) for q in data[name]]
        print(line(name, base, new))
        if name.startswith("heldout"):
            pooled_base += base
            pooled_new += new
    if pooled_new:
        print(line("held-out", pooled_base, pooled_new))
    weights = fit([q for name in names for q in data[name]])
    late = args.mode == "hybrid" and pipe.late_on
    in_use = R.WEIGHTS if args.mode == "bm25" else R.WEIGHTS_LATE if late else R.WEIGHTS_HYBRID
    features = R.FEATURES + (R.DENSE_FEATURES if args.mode == "hybrid" else ()) + (R.LATE_FEATURES if late else ())
    print(f"weights on all ({', '.join(features)}):\n  {tuple(weights)}   (in rag_core.rerank: {in_use})")
    tested_base, tested_new = [], []
    for spec in args.test:
        name, path = spec.split("=", 1)
        rows = question_rows(pipe, T._rows(Path(path)), args.mode)
        base, new = [rank_of(q["base"], q) for q in rows], [rank_of(scored(q, weights), q) for q in rows]
        print(line(name, base, new))
        tested_base, tested_new = tested_base + base, tested_new + new
    if len(args.test) > 1:
        print(line("tested", tested_base, tested_new))
    pipe.store.close()
    if hasattr(embedder, "save"):
        embedder.save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
