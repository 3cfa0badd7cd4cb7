"""Tests for bot.blocks: safe Slack Block Kit rendering."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.blocks import (
    answer_blocks,
    error_text,
    escape,
    fallback_text,
    link,
    md_to_mrkdwn,
    split_text,
    usage_blocks,
)

LINK_RE = re.compile(r"<https?://[^\s<>|]+\|[^<>|]*>")
MENTIONS = [
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<!subteam^S1|x>",
    "<@U123>",
    "<@U123|bob>",
    "<#C1>",
    "<#C1|general>",
    "<!date^1392734382^{date}|x>",
]
BROADCASTS = ["@channel", "@here", "@everyone", "@Channel", "@HERE"]
LIVE = ("<!", "<@", "<#", "<!subteam")


def no_stray_angles(s: str) -> bool:
    """True if every '<'/'>' in s belongs to a link of the form we emit."""
    rest = LINK_RE.sub("", s)
    return "<" not in rest and ">" not in rest


def visible(s: str) -> str:
    """s with each emitted link replaced by its label (the URL part is not rendered text)."""
    return LINK_RE.sub(lambda m: m.group(0).split("|", 1)[1][:-1], s)


def section_texts(blocks):
    return [b["text"]["text"] for b in blocks if b["type"] == "section"]


def all_texts(obj):
    """Every rendered text string inside blocks (not button values)."""
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == "text" and isinstance(v, str):
                out.append(v)
            elif k != "value":
                out.extend(all_texts(v))
    elif isinstance(obj, list):
        for v in obj:
            out.extend(all_texts(v))
    return out


def buttons(blocks):
    """Every clickable thing: (action_id, value, text) of feedback buttons and plain buttons."""
    out = []
    for b in blocks:
        for e in b.get("elements", []) if b["type"] in ("actions", "context_actions") else []:
            if e["type"] == "feedback_buttons":
                out += [{"action_id": e["action_id"], "value": e[k]["value"], "text": e[k]["text"]}
                        for k in ("positive_button", "negative_button")]
            else:
                out.append(e)
    return out


# ---------------------------------------------------------------------------
# Examples
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("m", MENTIONS)
def test_escape_neutralises_mentions(m):
    out = escape(f"hi {m} there")
    assert "<" not in out and ">" not in out
    assert "&lt;" in out


@pytest.mark.parametrize("m", MENTIONS)
def test_md_and_blocks_neutralise_mentions(m):
    md = f"**Note** {m} and [x]({m}) and `{m}`\n```\n{m}\n```\n- {m}\n# {m}"
    out = md_to_mrkdwn(md)
    for live in LIVE:
        assert live not in out
    assert no_stray_angles(out)
    blocks = answer_blocks(md, [{"url": "https://milvus.io/docs/a.md", "title": m, "heading": m}],
                           answer_id="ans-1", note=m)
    dumped = json.dumps(blocks)
    for live in LIVE:
        assert live not in dumped
    for t in all_texts(blocks):
        assert no_stray_angles(t)


@pytest.mark.parametrize("b", BROADCASTS)
def test_broadcasts_defused(b):
    for out in (escape(f"ping {b} now"), md_to_mrkdwn(f"ping **{b}** now"), fallback_text(f"ping {b}")):
        assert b not in out
        assert "@\u200b" in out
    blocks = answer_blocks(f"ping {b}", [], answer_id="x", note=b)
    assert b not in json.dumps(blocks, ensure_ascii=False)


def test_escape_basics():
    assert escape("a & b < c > d") == "a &amp; b &lt; c &gt; d"
    assert escape("") == ""
    assert escape("@channel") == "@\u200bchannel"


def test_link_basic_and_unsafe():
    assert link("https://milvus.io/docs/x.md#a", "Milvus") == "<https://milvus.io/docs/x.md#a|Milvus>"
    out = link("https://x.com/a b|c<d>?q=1&r=2", "T|x>y <!here>")
    assert LINK_RE.fullmatch(out), out
    assert "%20" in out and "&amp;" in out
    for bad in ("javascript:alert(1)", "slack://open", "mailto:a@b.c", "ftp://x", "", "https://",
                "https://milvus.io@evil.example/x", " JavaScript:alert(1)", "data:text/html,x"):
        out = link(bad, "label <!here>")
        assert out == "label &lt;!here&gt;"
    assert link("HTTPS://Example.com/", "") .startswith("<https://Example.com/|")


def test_markdown_links():
    out = md_to_mrkdwn("See [Milvus](https://milvus.io/docs/x.md#a).")
    assert "<https://milvus.io/docs/x.md#a|Milvus>" in out
    out = md_to_mrkdwn("[click](javascript:alert(1)) [m](mailto:a@b.c) [s](slack://x)")
    assert "javascript" not in out and "mailto" not in out and "slack:" not in out
    assert "click" in out and "<" not in out
    out = md_to_mrkdwn("go to <https://milvus.io|Milvus> or https://milvus.io/docs/a_b.md.")
    assert "<https://milvus.io|Milvus>" in out
    assert "<https://milvus.io/docs/a_b.md|https://milvus.io/docs/a_b.md>." in out


def test_formatting_conversion():
    md = "# Heading **one**\n## Sub\n**bold** and __bold2__ and *it* and _it2_ and ~~gone~~\n- a\n* b\n+ c\n  - nested"
    out = md_to_mrkdwn(md).split("\n")
    assert out[0] == "*Heading one*"
    assert out[1] == "*Sub*"
    assert out[2] == "*bold* and *bold2* and _it_ and _it2_ and ~gone~"
    assert out[3:6] == ["• a", "• b", "• c"]
    assert out[6].strip() == "◦ nested"


def test_code_fences_preserved():
    md = "Text **x**\n```python\nclient = MilvusClient('a.db')  # **not bold** <b> & _x_\n- not a bullet\n```\nafter `a<b> & *c*` done"
    out = md_to_mrkdwn(md)
    assert "```\nclient = MilvusClient('a.db')  # **not bold** &lt;b&gt; &amp; _x_\n- not a bullet\n```" in out
    assert "`a&lt;b&gt; &amp; *c*`" in out
    assert out.startswith("Text *x*")
    # unclosed fence is closed
    out = md_to_mrkdwn("```\ncode <x>")
    assert out == "```\ncode &lt;x&gt;\n```"


def test_split_text_prefers_paragraphs_and_reopens_fences():
    paras = ["word " * 100 for _ in range(5)]
    text = "\n\n".join(p.strip() for p in paras)
    pieces = split_text(text, 1200)
    assert all(len(p) <= 1200 for p in pieces)
    assert all(p.endswith("word") for p in pieces)
    code = "```\n" + "\n".join(f"line {i}" for i in range(400)) + "\n```"
    pieces = split_text("intro\n\n" + code + "\n\noutro", 500)
    assert len(pieces) > 3
    for p in pieces:
        assert len(p) <= 500
        assert p.count("```") % 2 == 0, p
    link_text = "x " * 10 + link("https://milvus.io/" + "a" * 60, "label") + " y"
    for limit in range(95, 130):
        for p in split_text(link_text, limit):
            assert no_stray_angles(p)


def test_split_text_entities_not_split():
    text = "&amp;" * 200
    for p in split_text(text, 33):
        assert re.fullmatch(r"(?:&amp;)+", p), p


def test_answer_blocks_structure():
    sources = [
        {"url": "https://milvus.io/docs/a.md", "title": "A", "heading": "Intro"},
        {"url": "https://milvus.io/docs/a.md", "title": "A dup"},
        {"url": "javascript:alert(1)", "title": "bad"},
    ] + [{"url": f"https://milvus.io/docs/{i}.md", "title": f"T{i}"} for i in range(10)]
    blocks = answer_blocks("Answer", sources, answer_id="id-9", note="AI answer unavailable — showing the closest doc passage")
    assert [b["type"] for b in blocks] == ["section", "context", "context", "context_actions", "actions"]
    assert blocks[1]["elements"][0]["text"] == "AI answer unavailable — showing the closest doc passage"
    src = blocks[2]["elements"][0]["text"]
    assert src.startswith("Sources: <https://milvus.io/docs/a.md|A › Intro> · ")
    assert src.count("<https://") == 5 and "javascript" not in src and "A dup" not in src
    btns = buttons(blocks)
    assert [b["action_id"] for b in btns] == ["feedback", "feedback", "escalate"]  # Slack's native feedback
    assert [b["text"]["text"] for b in btns] == ["Helpful", "Not helpful", "Still need help"]
    assert [b["value"] for b in btns] == ["up:id-9", "down:id-9", "id-9"]
    no_esc = answer_blocks("Answer", [], answer_id="z", escalation=False)
    assert [b["value"] for b in buttons(no_esc)] == ["up:z", "down:z"]
    assert [b["type"] for b in no_esc] == ["section", "context_actions"]


def test_answer_blocks_truncates_long_answer():
    md = "\n\n".join(f"Paragraph {i} " + "lorem ipsum " * 50 for i in range(200))
    blocks = answer_blocks(md, [], answer_id="a")
    texts = section_texts(blocks)
    assert len(blocks) <= 50
    assert sum(map(len, texts)) < 12000
    assert all(len(t) <= 3000 for t in texts)
    assert texts[-1].endswith("…")
    assert any(b["type"] == "context" and "answer truncated" in b["elements"][0]["text"] for b in blocks)


def test_answer_blocks_empty_and_bad_id():
    blocks = answer_blocks("", [], answer_id="a")
    assert section_texts(blocks) and section_texts(blocks)[0].strip()
    with pytest.raises(ValueError):
        answer_blocks("x", [], answer_id="")


def test_fallback_text():
    out = fallback_text("# Title\n**bold** see [docs](https://milvus.io) <!channel> @here\n```\ncode\n```")
    assert out == "Title bold see docs &lt;!channel&gt; @\u200bhere code"
    long = fallback_text("a & b " * 2000, limit=100)
    assert len(long) <= 100 and long.endswith("…")
    assert not re.search(r"&[a-z]*…$", long)


def test_usage_and_errors():
    blocks = usage_blocks("/milvus")
    dumped = json.dumps(blocks)
    assert "/milvus" in dumped and "mention" in dumped.lower() and "direct message" in dumped.lower()
    assert "<" not in usage_blocks("/x <!channel>")[0]["text"]["text"]
    kinds = ["milvus", "gemini", "slack", "busy", "rate_limited", "too_long", "internal", "restarted", "empty"]
    msgs = [error_text(k) for k in kinds]
    assert len(set(msgs)) == len(kinds)
    for m in msgs:
        assert m and len(m) < 200 and "Traceback" not in m and "<" not in m
        assert m.count(".") <= 1
    assert error_text("nope") == error_text("internal")


# ---------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------

FRAGMENTS = MENTIONS + BROADCASTS + [
    "<", ">", "&", "&amp;", "&lt;", "|", "*", "**", "_", "__", "~~", "`", "```", "```python\n",
    "\n", "\n\n", " ", "\t", "# ", "- ", "* ", "> ", "[", "]", "(", ")",
    "[Milvus](https://milvus.io/docs/x.md#a)", "[x](javascript:alert(1))", "[y](https://a.b/c d|e<f>)",
    "https://milvus.io/docs/a_b.md", "<https://milvus.io|M>", "<https://x.io>", "<br>",
    "👍", "🇺🇸", "👨‍👩‍👧", "é", "e\u0301", "\u200d", "שלום", "مرحبا", "\u202e", "\u0000",
    "word", "Milvus", "collection",
]
fragment = st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=20))
rich_text = st.one_of(
    st.lists(fragment, max_size=60).map("".join),
    st.text(max_size=300),
)
long_text = st.tuples(st.lists(fragment, min_size=1, max_size=30).map("".join),
                      st.integers(1, 2000)).map(lambda t: (t[0] * t[1])[:40_000])
any_text = st.one_of(rich_text, rich_text, long_text)

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(any_text)
def test_prop_escape_no_angles(s):
    out = escape(s)
    assert "<" not in out and ">" not in out
    assert not re.search(r"@(channel|here|everyone)", out, re.IGNORECASE)


@FAST
@given(any_text)
def test_prop_md_to_mrkdwn_only_our_links(s):
    out = md_to_mrkdwn(s)
    assert no_stray_angles(out)
    for live in LIVE:
        assert live not in out
    assert not re.search(r"@(channel|here|everyone)", visible(out), re.IGNORECASE)


def _norm(s: str) -> str:
    return re.sub(r"\s+", "", s.replace("```", ""))


@FAST
@given(any_text, st.integers(20, 500))
def test_prop_split_text(s, limit):
    pieces = split_text(s, limit)
    for p in pieces:
        assert 0 < len(p) <= limit
        assert p.strip()
    assert _norm("\n".join(pieces)) == _norm(s)


@FAST
@given(any_text, st.integers(40, 600))
def test_prop_split_mrkdwn_keeps_atoms_and_fences(s, limit):
    text = md_to_mrkdwn(s)
    pieces = split_text(text, limit)
    atoms = LINK_RE.findall(text) and [m.group(0) for m in LINK_RE.finditer(text)]
    if all(len(a) <= limit - 8 for a in atoms or []):
        for p in pieces:
            assert no_stray_angles(p), p
            assert not re.search(r"&(?!amp;|lt;|gt;)", p), p
            assert p.count("```") % 2 == 0, p
    assert _norm("\n".join(pieces)) == _norm(text)


sources_st = st.lists(
    st.fixed_dictionaries({
        "url": st.one_of(st.sampled_from(["https://milvus.io/docs/a.md", "https://milvus.io/docs/b.md#x",
                                          "javascript:alert(1)", "https://x.io/<!here>|y"]), st.text(max_size=30)),
        "title": rich_text,
        "heading": rich_text,
    }),
    max_size=8,
)


@FAST
@given(any_text, sources_st, st.text(min_size=1, max_size=60), st.one_of(st.none(), rich_text), st.booleans())
def test_prop_answer_blocks(md, sources, answer_id, note, escalation):
    blocks = answer_blocks(md, sources, answer_id=answer_id, note=note, escalation=escalation)
    json.dumps(blocks)
    assert len(blocks) <= 50
    texts = section_texts(blocks)
    assert texts and all(0 < len(t) <= 3000 for t in texts)
    assert sum(map(len, texts)) < 12000
    btns = buttons(blocks)
    assert len(btns) == (3 if escalation else 2)
    assert [b["value"] for b in btns] == [f"up:{answer_id}", f"down:{answer_id}"] + ([answer_id] if escalation else [])
    for t in all_texts(blocks):
        assert no_stray_angles(t)
        assert len(t) <= 3000
    assert blocks[-1]["type"] == ("actions" if escalation else "context_actions")


@FAST
@given(any_text, st.integers(2, 3000))
def test_prop_fallback_text(md, limit):
    out = fallback_text(md, limit)
    assert len(out) <= limit
    assert "<" not in out and ">" not in out
