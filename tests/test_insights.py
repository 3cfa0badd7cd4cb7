"""bot/insights.py and bot/gaps.py: what an answer counts as, the report's numbers and its gap groups."""

from __future__ import annotations

import pytest

from bot.gaps import group_questions, representative, terms
from bot.insights import (DAY_S, build_report, classify_outcome, gap_summary, says_not_covered,
                          thread_link)
from bot.jobstore import Outcome
from rag_core.answer import NOT_COVERED, extractive_answer
from rag_core.store import Hit

NOW = 1_780_000_000.0


def row(n, question="q", outcome="gemini", days_ago=1.0, user=None, latency=2.0, up=0, down=0, channel="C0HELP",
        mode="gemini"):
    created = NOW - days_ago * DAY_S
    return {"job_id": n, "question": question, "outcome": outcome, "mode": mode, "latency_s": latency,
            "channel": channel, "thread_ts": f"{created:.6f}", "user": user or f"U{n:03d}", "created": created,
            "up": up, "down": down}


# ---- what an answer counts as --------------------------------------------------------------------

NOT_COVERED_WORDINGS = [
    NOT_COVERED,
    "The Milvus docs I have don’t cover this. The closest passage is [1].",  # a typographic apostrophe
    "**The Milvus docs I have do not cover this.**",
    "Sorry — the Milvus docs I have don't cover upgrading between these versions; [1] is about 2.4.",
    "The provided passages don't answer this question.",
    "This isn't covered in the Milvus documentation.",
    "I couldn't find anything about this in the docs.",
    "There is no information about GPUs in the passages.",
    "The documentation doesn't mention Windows support.",
    "The docs do not seem to cover upgrades from 2.5 to 2.6.",
]
ANSWERS = [
    "Use `create_index` on the vector field [1].",
    "Milvus doesn't support Windows natively; run it in Docker [1].",
    "The documentation says Milvus does not include a Windows installer [2].",
    "No, Milvus Lite does not run on Windows [1].",
    "There is no limit on collections in the docs sense; see [1].",
]


@pytest.mark.parametrize("text", NOT_COVERED_WORDINGS)
def test_an_answer_that_says_the_docs_dont_cover_it_is_not_covered(text):
    assert says_not_covered(text)
    assert classify_outcome("gemini", True, text) == Outcome.NOT_COVERED


@pytest.mark.parametrize("text", ANSWERS)
def test_an_answer_is_an_answer(text):
    assert not says_not_covered(text)
    assert classify_outcome("gemini", True, text) == Outcome.GEMINI
    assert classify_outcome("extractive", True, text) == Outcome.EXTRACTIVE


def test_unconfident_retrieval_is_not_covered_whoever_answered():
    assert classify_outcome("gemini", False, ANSWERS[0]) == Outcome.NOT_COVERED
    assert classify_outcome("extractive", False, "*Heading*\n\nsome passage") == Outcome.NOT_COVERED


def test_the_extractive_fallbacks_own_wording_is_recognised_and_a_quoted_passage_is_not():
    hit = Hit(id="1", text="Upgrade with Helm.", title="Upgrade", heading="Helm", source="a.md",
              url="https://milvus.io/docs/upgrade.md", score=1.0)
    assert classify_outcome("extractive", True, extractive_answer("q", [], False)) == Outcome.NOT_COVERED
    unsure = extractive_answer("q", [hit], confident=False)
    assert says_not_covered(unsure, head_only=True)
    # a confident extractive answer quotes the docs as they are; "this guide doesn't cover…" there is no gap
    quoted = "*Deploy*\n\n" + "Deploy on Kubernetes with the operator. " * 8 + "This page does not cover Helm."
    assert classify_outcome("extractive", True, quoted) == Outcome.EXTRACTIVE


# ---- the report's numbers ---------------------------------------------------------------------------

def test_build_report_counts_each_window():
    rows = [row(1, outcome="gemini", latency=1.0, up=2), row(2, outcome="extractive", latency=3.0, down=1),
            row(3, outcome="not_covered", latency=5.0), row(4, outcome="failed", latency=None),
            row(5, outcome="gemini", days_ago=20, latency=9.0, up=1), row(6, outcome="failed", days_ago=40)]
    report = build_report(rows, NOW)
    week, month = report.window(7), report.window(30)
    assert (week.questions, week.gemini, week.extractive, week.not_covered, week.failed) == (4, 1, 1, 1, 1)
    assert (week.up, week.down, week.median_s) == (2, 1, 3.0)
    assert (month.questions, month.gemini, month.up, month.median_s) == (5, 2, 3, 4.0)
    assert report.window(1) is None
    assert [w.days for w in build_report(rows, NOW, days=[30, 7, 7]).windows] == [7, 30]


def test_an_empty_period_has_no_median_and_no_gaps():
    w = build_report([], NOW).window(7)
    assert (w.questions, w.median_s, w.gaps) == (0, None, ())


def test_answers_saved_before_outcomes_were_recorded_count_by_their_mode():
    rows = [row(1, outcome="", mode="gemini"), row(2, outcome=None, mode="extractive")]
    w = build_report(rows, NOW).window(7)
    assert (w.gemini, w.extractive) == (1, 1)


def test_report_json_shape():
    rows = [row(1, "How do I upgrade from 2.5 to 2.6?", "not_covered", user="U1"),
            row(2, "upgrading 2.5.x to 2.6.x?", "gemini", user="U2", down=1)]
    out = build_report(rows, NOW, workspace_url="https://acme.slack.com/").to_json()
    assert out["generated"].endswith("Z") and [w["days"] for w in out["windows"]] == [7, 30]
    week = out["windows"][0]
    assert set(week) == {"days", "since", "questions", "gemini", "extractive", "not_covered", "failed", "up", "down",
                         "median_time_to_answer_s", "gaps"}
    (gap,) = week["gaps"]
    assert set(gap) == {"question", "questions", "people", "not_covered", "down", "threads", "examples", "last_asked"}
    assert (gap["questions"], gap["people"], gap["not_covered"], gap["down"]) == (2, 2, 1, 1)
    assert all(t.startswith("https://acme.slack.com/archives/C0HELP/p") for t in gap["threads"])


# ---- gap groups ---------------------------------------------------------------------------------------

UPGRADE = ["How do I upgrade Milvus from 2.5 to 2.6?",
           "What's the upgrade path from v2.5.x to v2.6.x on Kubernetes?",
           "Upgrading our cluster 2.5 -> 2.6: any breaking changes to watch for?",
           "Is there a guide for upgrading Milvus 2.5.4 to 2.6.0 with Helm?",
           "Upgrade 2.5→2.6: do I need to migrate my data?"]
OTHERS = ["How do I upgrade from 2.4 to 2.5?",  # other versions: another gap
          "Is 2.6 faster than 2.5?",  # the same versions, nothing else in common
          "How do I upgrade pymilvus?",
          "How much GPU memory does a CAGRA index need?",
          "How do I back up a collection to S3?"]


def test_versions_are_one_term_however_they_are_written():
    for text in ("upgrade 2.5 to 2.6", "upgrade v2.5.x to v2.6.x", "upgrade 2.5.4 to 2.6.0.", "upgrade 2.5→2.6?"):
        assert set(terms(text)) == {"upgrad", "v2.5", "v2.6", "v2.5+v2.6"}, text
    assert set(terms("<@U123> what's new in <#C1|general> 2.6? <https://x.io|docs>")) == {"new", "general", "doc",
                                                                                         "v2.6"}


def test_paraphrases_group_and_other_questions_do_not():
    groups = group_questions(UPGRADE + OTHERS)
    assert groups[0] == [0, 1, 2, 3, 4]
    assert sorted(len(g) for g in groups) == [1, 1, 1, 1, 1, 5]


def test_grouping_is_deterministic_and_in_input_order():
    texts = UPGRADE + OTHERS + UPGRADE[:2]
    assert group_questions(texts) == group_questions(list(texts)) == group_questions(texts, corpus=texts)
    assert group_questions(texts)[0] == [0, 1, 2, 3, 4, 10, 11]
    assert representative([0, 1, 2, 3, 4], UPGRADE) == 0  # the one that is all the group shares


def test_questions_without_words_group_by_their_text():
    assert group_questions(["???", "?? ?", "???", "2.6"]) == [[0, 2], [1], [3]]
    assert group_questions([]) == []


def test_gaps_are_not_covered_or_down_voted_questions_most_people_first():
    rows = [row(n, q, "not_covered", user=f"U{n % 4}") for n, q in enumerate(UPGRADE)]
    rows += [row(10, OTHERS[3], "gemini", user="U7", down=1), row(11, "CAGRA index GPU memory usage?", "gemini",
                                                                 user="U8", down=2, up=1),
             row(12, OTHERS[4], "gemini", up=3), row(13, OTHERS[2], "failed")]
    gaps = build_report(rows, NOW).window(7).gaps
    assert [(g.people, g.questions, g.not_covered, g.down) for g in gaps] == [(4, 5, 5, 0), (2, 2, 0, 3)]
    assert gaps[0].question == UPGRADE[0] and set(gaps[0].examples) == set(UPGRADE[1:])
    assert gap_summary(gaps[1]) == "2 people asked 2 times (3 👎)"
    assert gap_summary(gaps[0], down="down") == "4 people asked 5 times (5 not covered)"


def test_thread_links():
    assert thread_link("https://acme.slack.com/", "C0123", "1700000000.123456") == \
        "https://acme.slack.com/archives/C0123/p1700000000123456"
    assert thread_link("", "G0123", "1700000000.1234") == "https://slack.com/archives/G0123/p1700000000123400"
    assert thread_link("javascript:alert(1)//", "C0123", "1700000000.123456").startswith("https://slack.com/")
    for channel, ts in (("D0123", "1700000000.123456"), ("C0123", None), ("C0/../x", "1.2"), ("C01", "1.2|x")):
        assert thread_link("https://acme.slack.com/", channel, ts) is None  # a DM nobody else can open; junk
