"""Retrieval evaluation: recall@1, recall@k and MRR per search mode."""

from __future__ import annotations

import json
import re
from pathlib import Path

from .sources import SourceError

MRR_DEPTH = 10


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def _jsonl(path: str, required: tuple[str, ...]) -> list[dict]:
    """Rows of a JSONL file that each have the `required` keys; one clear error otherwise."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise SourceError(f"cannot read questions file {path}: {exc.strerror}") from None
    rows = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            rows.append({key: str(row[key]) for key in required} | {"file": str(row.get("file", ""))}
                        | ({"version": str(row["version"])} if row.get("version") else {}))
        except (ValueError, KeyError, TypeError):
            keys = " and ".join(f'"{k}"' for k in required)
            raise SourceError(f"{path}:{n}: expected a JSON object with {keys}") from None
    if not rows:
        raise SourceError(f"{path} has no questions")
    return rows


def load_questions(path: str) -> list[dict]:
    """Evaluation questions: one {"q", "file", "heading"} per line, optionally "version" (a hit must
    then come from that docs version)."""
    return _jsonl(path, ("q", "heading"))


def load_offtopic(path: str) -> list[str]:
    """Questions the docs do not cover: one {"q": ...} per line."""
    return [row["q"] for row in _jsonl(path, ("q",))]


def is_hit(text: str, heading: str) -> bool:
    return _norm(heading) in _norm(text)


def evaluate(pipe, questions: list[dict], modes: list[str], top_k: int = 3,
             offtopic: list[str] | None = None, version: str | None = None) -> dict:
    """Recall and MRR per mode; with `offtopic`, also how well `SearchResult.confident`
    separates those questions (should fall below the threshold) from `questions`.
    `version` searches that docs version only; otherwise each question is routed as the bot
    routes it, and a question with a "version" counts a hit only from that version (the share of
    its top-k results from that version is reported as `version_precision`)."""
    report = {"questions": len(questions), "top_k": top_k, "modes": {}}
    for mode in modes:
        r1 = rk = rr = 0.0
        above = 0
        misses = []
        from_version = versioned = 0
        for item in questions:
            res = pipe.search(item["q"], top_k=max(top_k, MRR_DEPTH), mode=mode, degrade=False, version=version)
            above += res.confident
            want = item.get("version")
            if want:
                versioned += len(res.hits[:top_k])
                from_version += sum(h.version == want for h in res.hits[:top_k])
            rank = next((i for i, h in enumerate(res.hits, 1)
                         if is_hit(h.text, item["heading"]) and (not want or h.version == want)), None)
            r1 += rank == 1
            rk += rank is not None and rank <= top_k
            rr += 1.0 / rank if rank else 0.0
            if rank is None or rank > top_k:
                misses.append({"q": item["q"], "heading": item["heading"], "rank": rank,
                               "got": [h.heading for h in res.hits[:top_k]]})
        n = len(questions)
        report["modes"][mode] = {"recall@1": round(r1 / n, 4), f"recall@{top_k}": round(rk / n, 4),
                                 "mrr": round(rr / n, 4), "misses": misses}
        if versioned:
            report["modes"][mode]["version_precision"] = round(from_version / versioned, 4)
        if offtopic is not None:
            confident_off = [q for q in offtopic
                             if pipe.search(q, mode=mode, degrade=False, version=version).confident]
            report["modes"][mode]["confidence"] = {
                "offtopic": len(offtopic),
                "offtopic_below": round(1 - len(confident_off) / len(offtopic), 4),
                "ontopic_above": round(above / n, 4),
                "offtopic_confident": confident_off,
            }
    return report


def format_table(report: dict) -> str:
    k = report["top_k"]
    lines = [f"{report['questions']} questions, top_k={k}",
             f"{'mode':<8} {'recall@1':>9} {f'recall@{k}':>9} {'MRR':>7}"]
    for mode, m in report["modes"].items():
        lines.append(f"{mode:<8} {m['recall@1']:>9.3f} {m[f'recall@{k}']:>9.3f} {m['mrr']:>7.3f}")
    for mode, m in report["modes"].items():
        if "version_precision" in m:
            lines.append(f"version [{mode}]: {m['version_precision']:.3f} of the top-{k} results of questions with "
                         "a \"version\" come from that version")
    for mode, m in report["modes"].items():
        c = m.get("confidence")
        if c:
            lines.append(f"confidence [{mode}]: {c['offtopic_below']:.3f} of {c['offtopic']} off-topic questions "
                         f"below the threshold, {c['ontopic_above']:.3f} of on-topic questions above")
    for mode, m in report["modes"].items():
        for miss in m["misses"]:
            lines.append(f"miss [{mode}] {miss['q']!r} (rank {miss['rank']}) -> {miss['got']}")
    return "\n".join(lines)
