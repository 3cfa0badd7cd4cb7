"""Retrieval quality on both corpora (FAQ pages only / all docs) in one run, with tables.

    .venv/bin/python -m benchmarks.tune_alldocs [--no-dense] [--corpus faq|alldocs] [--fusion] [--json OUT]

Corpora (Milvus Lite, one collection each, built with rag_core's own ingest):
  faq      the 2.4 FAQ pages (`en/faq/*.md` of ../shared/data/milvus_docs_2.4.x_en.zip), the default corpus
  alldocs  every page of 3.0 (`en/**/*.md` of ../shared/data/milvus_docs_3.0.x_en.zip)
  faq30    the 3.0 FAQ pages (`en/faq/*.md` of the 3.0 zip: what the default GitHub source indexes
           today), with the FAQ questions whose heading is still there

Question sets (a hit = a retrieved chunk whose text contains the expected heading):
  faq:     ../shared/eval/dev_questions.jsonl, tests/data/paraphrases.jsonl
  alldocs: ../shared/eval/dev_alldocs.jsonl + the questions of ../shared/eval/dev_versions.jsonl
           without a "version" key ("dev"), tests/data/alldocs_heldout.jsonl ("heldout": written
           before tuning, never tuned on), tests/data/alldocs_heldout2.jsonl ("heldout2": 60 more,
           written on 2026-11-30 by someone who had not seen the retrieval code or its results; both
           have since been used to choose settings), tests/data/alldocs_heldout3.jsonl ("heldout3":
           45 more, written the same way later on 2026-11-30, after the last tuning, and not tuned on),
           tests/data/alldocs_heldout4.jsonl ("heldout4": 45 more, written blind in the fourth
           session and measured before anything was tried on it), tests/data/alldocs_heldout5.jsonl
           ("heldout5": 45 more, written blind in the fifth session, measured the same way) and
           tests/data/alldocs_heldout6.jsonl ("heldout6": 45 more, the same way, by another writer),
           tests/data/alldocs_heldout7.jsonl and alldocs_heldout8.jsonl ("heldout7", "heldout8": 45
           each, written blind later in the fifth session to test rag_core.rerank once),
           tests/data/alldocs_heldout9.jsonl and alldocs_heldout10.jsonl ("heldout9", "heldout10":
           45 each, written blind after it was adopted), and heldout11 … heldout14 (45 each, written
           blind in the sixth session; 13 and 14 tested one change, which was not kept), heldout15 and
           heldout16 (45 each, written blind in the seventh session to test late interaction, kept),
           heldout17 and heldout18 (45 each, written blind after it was adopted, measured once),
           heldout19 … heldout24 (45 each, written blind in the eighth session, half the questions
           describing a goal or symptom; 21 and 22 tested the keyless refit, which was kept),
           heldout25 … heldout28 (45 each, the same way in the ninth session) and heldout29 and
           heldout30 (45 each, the same way in the tenth), each pair measured once
  off-topic, both corpora: tests/data/offtopic.jsonl, tests/data/offtopic_adjacent.jsonl,
           tests/data/offtopic_adjacent2.jsonl (40 more, written with heldout2),
           tests/data/offtopic_adjacent3.jsonl (30 more, written with heldout3),
           tests/data/offtopic_adjacent4.jsonl (30 more, written with heldout4),
           tests/data/offtopic_adjacent5.jsonl (30 more, written with heldout5),
           tests/data/offtopic_adjacent6.jsonl (30 more, written with heldout6)

Prints, per corpus: recall@1 / recall@3 / MRR for bm25 (keyless), dense and hybrid (local
all-MiniLM-L6-v2), the confidence split (share of off-topic questions below the threshold, share of
real questions above) and the query latency. With --fusion, also a grid of fusion settings
(reusing the candidate lists) and the confidence signals' separation, for tuning.

Embeddings and built collections are cached in $FAQBOT_TUNE_CACHE (default: a folder in the
system temp dir), keyed by the text and by the rows' content, so a second run takes seconds.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pickle
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rag_core import pipeline as P  # noqa: E402
from rag_core.evaluate import MRR_DEPTH, is_hit  # noqa: E402

SHARED = ROOT.parent / "shared"
DATA = ROOT / "tests" / "data"
CORPORA = {
    "faq": (SHARED / "data" / "milvus_docs_2.4.x_en.zip", "en/faq/*.md"),
    "alldocs": (SHARED / "data" / "milvus_docs_3.0.x_en.zip", "en/**/*.md"),
    "faq30": (SHARED / "data" / "milvus_docs_3.0.x_en.zip", "en/faq/*.md"),
}
def _numbered(stem: str, count: int) -> dict[str, Path]:
    """{"<stem>": DATA/<file>.jsonl, "<stem>2": ..., ...}: the first file of a series has no number."""
    prefix = {"adjacent": "offtopic_adjacent", "heldout": "alldocs_heldout"}[stem]
    return {f"{stem}{n if n > 1 else ''}": DATA / f"{prefix}{n if n > 1 else ''}.jsonl" for n in range(1, count + 1)}


OFFTOPIC = {"offtopic": DATA / "offtopic.jsonl", **_numbered("adjacent", 6)}
HELDOUT = _numbered("heldout", 30)


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _in_corpus(rows: list[dict], corpus: str) -> list[dict]:
    """The questions whose expected heading is a heading of the corpus's pages."""
    import fnmatch
    import re
    import zipfile

    zip_path, glob = CORPORA[corpus]
    with zipfile.ZipFile(zip_path) as zf:
        texts = [zf.read(n).decode("utf-8", "replace") for n in zf.namelist()
                 if fnmatch.fnmatch(n.split("site/", 1)[-1], glob)]
    return [r for r in rows if any(re.search(r"^[ \t]*#+[ \t]+" + re.escape(r["heading"]), t, re.M) for t in texts)]


def question_sets(corpus: str) -> dict[str, list[dict]]:
    if corpus in ("faq", "faq30"):
        sets = {"dev": _rows(SHARED / "eval" / "dev_questions.jsonl"), "para": _rows(DATA / "paraphrases.jsonl")}
        return sets if corpus == "faq" else {k: _in_corpus(v, corpus) for k, v in sets.items()}
    dev = _rows(SHARED / "eval" / "dev_alldocs.jsonl")
    dev += [r for r in _rows(SHARED / "eval" / "dev_versions.jsonl") if "version" not in r]
    return {"dev": dev, **{name: _rows(path) for name, path in HELDOUT.items()}}


def cache_dir() -> Path:
    path = Path(os.environ.get("FAQBOT_TUNE_CACHE") or Path(tempfile.gettempdir()) / "faqbot-tune-cache")
    path.mkdir(parents=True, exist_ok=True)
    return path


class DiskCachedEmbedder:
    """Wraps an embedder: each distinct text is embedded once, across runs (a pickle on disk)."""

    def __init__(self, inner, path: Path):
        self.inner, self.name, self.dim, self.calls = inner, inner.name, inner.dim, 0
        self.short_window = getattr(inner, "short_window", False)
        self.path = path
        self._vecs: dict[tuple[str, str], object] = {}
        if path.exists():
            try:
                self._vecs = pickle.loads(path.read_bytes())
            except Exception:
                self._vecs = {}
        self._dirty = False

    @staticmethod
    def _key(kind: str, text: str) -> tuple[str, str]:
        return kind, hashlib.sha1(text.encode()).hexdigest()

    def embed_documents(self, texts):
        todo = [t for t in dict.fromkeys(texts) if self._key("d", t) not in self._vecs]
        if todo:
            self.calls += 1
            for t, v in zip(todo, self.inner.embed_documents(todo)):
                self._vecs[self._key("d", t)] = [float(x) for x in v]
            self._dirty = True
        return [self._vecs[self._key("d", t)] for t in texts]

    def embed_query(self, text):
        key = self._key("q", text)
        if key not in self._vecs:
            self._vecs[key] = [float(x) for x in self.inner.embed_query(text)]
            self._dirty = True
        return self._vecs[key]

    def embed_documents_late(self, texts):  # not cached: build() caches the collection it fills
        self.calls += 1
        return self.inner.embed_documents_late(texts)

    def embed_query_late(self, text, prefix=""):  # cached like embed_query: latencies leave the model out
        key = self._key("ql", prefix + text)
        if key not in self._vecs:
            vec, matrix = self.inner.embed_query_late(text, prefix)
            self._vecs[key] = ([float(x) for x in vec], matrix)
            self._dirty = True
        return self._vecs[key]

    @property
    def late(self) -> bool:
        return bool(getattr(self.inner, "late", False))

    def save(self):
        if self._dirty:
            tmp = self.path.with_suffix(".tmp")
            tmp.write_bytes(pickle.dumps(self._vecs))
            tmp.replace(self.path)
            self._dirty = False


def local_embedder() -> DiskCachedEmbedder:
    """all-MiniLM-L6-v2 offline, each distinct text embedded once across runs."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from rag_core.config import load
    from rag_core.embedders import SentenceTransformerEmbedder

    inner = SentenceTransformerEmbedder(load(MILVUS_URI="unused.db", FAQBOT_EMBEDDER="sentence-transformers"))
    return DiskCachedEmbedder(inner, cache_dir() / f"emb-{hashlib.sha1(inner.name.encode()).hexdigest()[:8]}.pkl")


def rows_fingerprint(pipe: P.Pipeline) -> str:
    """What a collection holds: every row's stored texts plus the embedded text (not the vector)."""
    from rag_core.chunking import chunk_documents
    from rag_core.sources import load_documents

    s = pipe.settings
    chunks = chunk_documents(load_documents(s.docs_source, s.docs_glob, s.cache_dir))
    if pipe.drop_boilerplate:
        chunks = [c for c in chunks if P.indexable(c)]
    from rag_core.store import SCHEMA_VERSION

    late = P.late.FORMAT if getattr(pipe.embedder, "late", False) else ""
    h = hashlib.sha1(f"{pipe.embedder.name}|{P.BM25Params()}|{pipe.store.__class__.__module__}|{SCHEMA_VERSION}|{late}".encode())
    for c in chunks:
        h.update(f"{c.id}\x00{P.bm25_text(c, pipe.bm25_recipe)}\x00{P.bm25_head(c)}\x00{c.url}".encode())
        if pipe.embedder.dim:
            h.update("\x00".join(P.embedding_pieces(c, pipe.embed_recipe) if pipe.piecewise
                                 else [P.embedding_text(c, pipe.embed_recipe)]).encode())
    return h.hexdigest()[:16]


def build(corpus: str, embedder, **pipe_kwargs) -> P.Pipeline:
    """An ingested pipeline for `corpus`, reusing a cached Milvus Lite file with the same rows."""
    from rag_core.config import load

    zip_path, glob = CORPORA[corpus]
    cache = cache_dir()
    probe = P.Pipeline(load(MILVUS_URI=str(cache / "probe.db"), FAQBOT_DOCS_SOURCE=str(zip_path),
                            FAQBOT_DOCS_GLOB=glob, FAQBOT_CACHE_DIR=str(cache / "src"), FAQBOT_EMBEDDER="none"),
                       embedder=embedder, **pipe_kwargs)
    fp = rows_fingerprint(probe)
    db = cache / f"{corpus}-{fp}.db"
    settings = probe.settings.model_copy(update={"milvus_uri": str(db), "milvus_collection": "tune"})
    pipe = P.Pipeline(settings, embedder=embedder, **pipe_kwargs)
    if not (db.exists() and pipe.store.exists() and pipe.store.count() > 0):
        t0 = time.perf_counter()
        rep = pipe.ingest(recreate=True)
        print(f"  ingested {corpus}: {rep.summary()} ({time.perf_counter() - t0:.0f} s)", flush=True)
    else:
        print(f"  reusing {db.name} ({pipe.store.count()} chunks)", flush=True)
    if hasattr(embedder, "save"):
        embedder.save()
    return pipe


def rank_of(hits, heading) -> int | None:
    return next((i for i, h in enumerate(hits[:MRR_DEPTH], 1) if is_hit(h.text, heading)), None)


def metrics(ranks: list[int | None]) -> dict:
    n = len(ranks) or 1
    return {"r1": sum(r == 1 for r in ranks) / n, "r3": sum(r is not None and r <= 3 for r in ranks) / n,
            "mrr": sum(1 / r for r in ranks if r) / n}


def evaluate_corpus(pipe: P.Pipeline, sets: dict, offtopic: dict, modes: list[str]) -> dict:
    """What Pipeline.search returns, exactly as the bot runs it."""
    out: dict = {"sets": {}, "confidence": {}, "latency_ms": {}}
    for mode in modes:
        times = []
        for name, qs in sets.items():
            ranks, above = [], 0
            for q in qs:
                res = pipe.search(q["q"], top_k=MRR_DEPTH, mode=mode, degrade=False)
                times.append(res.ms)
                ranks.append(rank_of(res.hits, q["heading"]))
                above += res.confident
            out["sets"].setdefault(name, {})[mode] = {**metrics(ranks), "above": above / len(qs),
                                                      "ranks": ranks}
        conf = {}
        for name, qs in offtopic.items():
            below = [not pipe.search(q, mode=mode, degrade=False).confident for q in qs]
            conf[name] = sum(below) / len(below)
        conf.update({f"{name} above": out["sets"][name][mode]["above"] for name in sets})
        out["confidence"][mode] = conf
        out["latency_ms"][mode] = {"p50": statistics.median(times), "p95": sorted(times)[int(0.95 * len(times))]}
    return out


def print_report(corpus: str, res: dict, modes: list[str]) -> None:
    print(f"\n| set ({corpus}) | mode | recall@1 | recall@3 | MRR |")
    print("|---|---|---|---|---|")
    label = {"bm25": "keyless bm25", "dense": "local dense", "hybrid": "local hybrid"}
    for name, per_mode in res["sets"].items():
        n = len(per_mode[modes[0]]["ranks"])
        for mode in modes:
            m = per_mode[mode]
            print(f"| {name} ({n}) | {label[mode]} | {m['r1']:.3f} | {m['r3']:.3f} | {m['mrr']:.3f} |")
    pooled = [name for name in res["sets"] if name.startswith("heldout")]
    if len(pooled) > 1:
        for mode in modes:
            ranks = [r for name in pooled for r in res["sets"][name][mode]["ranks"]]
            m = metrics(ranks)
            print(f"| **all held-out ({len(ranks)})** | {label[mode]} | {m['r1']:.3f} | {m['r3']:.3f} | {m['mrr']:.3f} |")
    print(f"\nconfidence split ({corpus}): share of off-topic questions below the threshold, of real ones above")
    for mode in modes:
        if mode == "dense":
            continue
        c = res["confidence"][mode]
        print(f"  {label[mode]:<13} " + "  ".join(f"{k}: {v:.3f}" for k, v in c.items()))
    print("latency (ms, Pipeline.search incl. query embedding): " + ", ".join(
        f"{m} p50 {v['p50']:.1f} p95 {v['p95']:.1f}" for m, v in res["latency_ms"].items()))


def print_misses(pipe, sets, mode="hybrid"):
    for name, qs in sets.items():
        for q in qs:
            res = pipe.search(q["q"], top_k=MRR_DEPTH, mode=mode, degrade=False)
            r = rank_of(res.hits, q["heading"])
            if r is None or r > 3:
                got = [f"{h.source.split('/')[-1]}#{h.heading[:40]}" for h in res.hits[:3]]
                print(f"  miss [{name}/{mode}] rank={r} {q['q'][:70]!r} want {q['file']}#{q['heading'][:40]} got {got}")


# ---- tuning helpers (--fusion) -------------------------------------------------------------
def candidate_lists(pipe, qs, mode):
    keep = pipe.fusion
    pipe.fusion = replace(keep, heading_weight=max(keep.heading_weight, 1.0), hybrid="rrf")
    try:
        return [pipe.retrieve(q["q"], 50, mode, degrade=False) for q in qs]
    finally:
        pipe.fusion = keep


def fusion_grid(pipes: dict, sets: dict, dense: bool) -> None:
    """Recall@3 / MRR of fusion variants on every set of both corpora (candidate lists reused)."""
    mode = "hybrid" if dense else "bm25"
    lists = {(c, s): candidate_lists(pipes[c], qs, mode) for c in pipes for s, qs in sets[c].items()}
    variants = []
    for k in (2, 5, 10, 20, 60):
        for wh in (0, 0.25, 0.5, 1.0):
            for wd in ((0.5, 1, 1.5, 2, 3) if dense else (1,)):
                variants.append(P.Fusion(rrf_k=k, heading_weight=wh, dense_weight=wd, hybrid="rrf"))
    if dense:
        for share in (0.4, 0.5, 0.6, 0.7, 0.8):
            for depth in (5, 10, 20):
                for floor in (0.0, 0.1):
                    for head in (0.0, 0.1, 0.2, 0.3):
                        if share + head < 1:
                            variants.append(P.Fusion(hybrid="minmax", dense_share=share, depth=depth,
                                                     dense_floor=floor, head_share=head))
    rows = []
    for f in variants:
        cells = {}
        for (c, s), cands in lists.items():
            pipe = pipes[c]
            pipe.fusion = f
            ranks = [rank_of(pipe.fuse(cand, MRR_DEPTH, mode), q["heading"]) for q, cand in zip(sets[c][s], cands)]
            cells[f"{c}/{s}"] = metrics(ranks)
        rows.append((f, cells))
    for pipe in pipes.values():
        pipe._fusion = None  # back to the automatic choice (embedder and corpus size)
    keys = list(rows[0][1])
    rows.sort(key=lambda r: -sum(v["r3"] + v["mrr"] for k, v in r[1].items() if "heldout" not in k))
    print(f"\nFusion grid, {mode} (sorted by recall@3 + MRR summed over the non-held-out sets)")
    print(f"{'fusion':<44} " + " ".join(f"{k:>18}" for k in keys))
    defaults = {P.fusion_for(p.embedder.name, p.corpus_size()): c for c, p in pipes.items()}
    shown = rows[:15] + [r for r in rows if r[0].hybrid == "rrf"][:5] + [r for r in rows if r[0] in defaults]
    for f, cells in shown:
        label = (f"rrf k={f.rrf_k} head={f.heading_weight} dense={f.dense_weight}" if f.hybrid == "rrf"
                 else f"minmax dense={f.dense_share} head={f.head_share} depth={f.depth} floor={f.dense_floor}")
        label += f" <default ({defaults[f]})" if f in defaults else ""
        print(f"{label:<44} " + " ".join(f"{cells[k]['r3']:.3f}/{cells[k]['mrr']:.3f}".rjust(18) for k in keys))


def signal_table(pipes: dict, sets: dict, offtopic: dict, dense: bool) -> None:
    """Each confidence signal's value distribution: on-topic (dev) vs off-topic, per corpus."""
    mode = "hybrid" if dense else "bm25"
    for c, pipe in pipes.items():
        sig = {}
        for name, qs in [*sets[c].items(), *((k, [{"q": q} for q in v]) for k, v in offtopic.items())]:
            sig[name] = []
            for q in qs:
                cand = pipe.retrieve(q["q"], pipe.fusion.candidates, mode, degrade=False)
                sig[name].append(pipe.signals(q["q"], cand))
        print(f"\nsignals on {c} ({mode}): percentiles p10/p50/p90")
        for key in sig["dev"][0]:
            cells = []
            for name, vals in sig.items():
                v = sorted(s[key] for s in vals)
                cells.append(f"{name} {v[len(v) // 10]:.2f}/{v[len(v) // 2]:.2f}/{v[9 * len(v) // 10]:.2f}")
            print(f"  {key:<14} " + "  ".join(cells))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-dense", action="store_true", help="keyless (bm25) only")
    ap.add_argument("--corpus", choices=list(CORPORA), action="append", help="default: all")
    ap.add_argument("--fusion", action="store_true", help="also print the fusion grid and signal percentiles")
    ap.add_argument("--misses", action="store_true", help="list the questions missing the top 3")
    ap.add_argument("--json", help="also write all numbers to this file")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    from rag_core.embedders import NoEmbedder
    from rag_core.store import quiet_client_logs

    quiet_client_logs()
    embedder = NoEmbedder()
    if not args.no_dense:
        try:
            embedder = local_embedder()
        except Exception as exc:  # the optional extra is missing
            print(f"(no local model: {exc}; keyless columns only)")
    modes = ["bm25", "dense", "hybrid"] if embedder.dim else ["bm25"]
    offtopic = {k: [r["q"] for r in _rows(p)] for k, p in OFFTOPIC.items()}
    corpora = args.corpus or list(CORPORA)
    out, pipes, sets = {"embedder": embedder.name}, {}, {}
    for corpus in corpora:
        print(f"{corpus}: {CORPORA[corpus][0].name} {CORPORA[corpus][1]}", flush=True)
        pipe = build(corpus, embedder)
        pipes[corpus], sets[corpus] = pipe, question_sets(corpus)
        pipe.warm_up()
        res = evaluate_corpus(pipe, sets[corpus], offtopic, modes)
        print_report(corpus, res, modes)
        if args.misses:
            for mode in modes:
                print_misses(pipe, sets[corpus], mode)
        out[corpus] = res
    if args.fusion:
        fusion_grid(pipes, sets, bool(embedder.dim))
        signal_table(pipes, sets, offtopic, bool(embedder.dim))
        if embedder.dim:
            signal_table(pipes, sets, offtopic, False)
    if hasattr(embedder, "save"):
        embedder.save()
    for pipe in pipes.values():
        pipe.store.close()
    print(f"\n{time.perf_counter() - t0:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
