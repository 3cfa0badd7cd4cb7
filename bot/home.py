"""The App Home tab (views.publish): how to ask and the indexed docs versions for everyone; for
FAQBOT_ADMINS the last 7 and 30 days — outcomes, 👍/👎, median time to answer, top knowledge gaps.

`home_view` is pure and stays within Block Kit's limits whatever the data (LIMITS; every text clipped to
a budget, question text escaped with blocks.escape, links built by blocks.link). `home_for` reads what
it needs from the job store only: never Milvus, never Slack.
"""

from __future__ import annotations

import time
from typing import Sequence

from slack_sdk.models.blocks import ContextBlock, DividerBlock, HeaderBlock, MarkdownTextObject, SectionBlock
from slack_sdk.models.views import View

from rag_core.versions import marks as version_marks

from . import meta
from .blocks import escape, link
from .insights import Gap, Report, Window, gap_summary, load_report
from .posting import USER_ID

# Slack's limits for a Home tab (docs.slack.dev: Home tab views; Block Kit blocks)
LIMITS = {"blocks": 100, "header": 150, "section": 3000, "fields": 10, "field": 2000, "context_elements": 10,
          "context_text": 3000}
HOME_GAPS = 5  # groups per window
HOME_LINKS = 5  # thread links per group
QUESTION_CHARS = 300  # of a representative question (escaping may make it up to 5x longer)
MAX_VERSIONS = 12
HOME_WINDOWS = 3  # periods shown (a report has two: 7 and 30 days); ≤ 10 blocks each


def _md(text: str) -> MarkdownTextObject:
    return MarkdownTextObject(text=text, verbatim=True)  # verbatim: Slack links nothing on its own


def clip(text, limit: int) -> str:
    """One line of at most `limit` characters (before escaping)."""
    text = " ".join(str(text or "").split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def how_to_ask(bot_user_id: str | None = None) -> str:
    me = f"<@{bot_user_id}>" if bot_user_id and USER_ID.fullmatch(bot_user_id) else "me"
    return ("*Ask me about Milvus* — I answer from the official Milvus docs, in a thread, with links to my "
            "sources.\n"
            f"• Mention {me} in a channel I'm in: _how do I create a collection?_\n"
            "• Type `/milvus your question` in any channel\n"
            "• Send me a direct message, or write in the *Messages* tab above\n"
            "Rate an answer with 👍 or 👎: the questions the docs don't answer go to the doc writers.")


def versions_text(versions: Sequence[dict]) -> str:
    if not versions:
        return "*Indexed docs*\n_No docs versions are indexed yet._"
    lines = []
    for v in versions[:MAX_VERSIONS]:
        marks = version_marks(v)
        facts = [f"{v['chunks']:,} chunks" if type(v.get("chunks")) is int else "",
                 f"refreshed {escape(clip(v['refreshed'], 40))}" if v.get("refreshed") else ""]
        lines.append(f"• *{escape(clip(v.get('version'), 40))}*" + (f" ({', '.join(marks)})" if marks else "")
                     + "".join(f" · {f}" for f in facts if f))
    more = len(versions) - MAX_VERSIONS
    return "*Indexed docs*\n" + "\n".join(lines) + (f"\n…and {more} more" if more > 0 else "")


def _share(n: int, total: int) -> str:
    return f"{n} ({round(100 * n / total)}%)" if total else str(n)


def _seconds(s: float | None) -> str:
    if s is None:
        return "–"
    return f"{s:.1f} s" if s < 120 else f"{s / 60:.1f} min"


def window_blocks(w: Window) -> list:
    q = w.questions
    fields = [("Questions", str(q)), ("Answered by AI", _share(w.gemini, q)),
              ("Extractive answers", _share(w.extractive, q)), ("Not covered", _share(w.not_covered, q)),
              ("Failed", _share(w.failed, q)), ("👍 / 👎", f"{w.up} / {w.down}"),
              ("Median time to answer", _seconds(w.median_s))]
    out = [HeaderBlock(text=clip(f"Last {w.days} days", LIMITS["header"])),
           SectionBlock(fields=[_md(f"*{name}*\n{value}") for name, value in fields])]
    if not w.gaps:
        return out + [ContextBlock(elements=[_md("No knowledge gaps: every question was answered, no 👎.")])]
    out.append(SectionBlock(text=_md("*Top knowledge gaps* — questions the docs didn't answer, or that got 👎")))
    return out + [SectionBlock(text=_md(gap_text(g))) for g in w.gaps[:HOME_GAPS]]


def gap_text(g: Gap) -> str:
    threads = [link(url, f"thread {n}") for n, url in enumerate(g.threads[:HOME_LINKS], 1)]
    return (f"*{gap_summary(g)}*: “{escape(clip(g.question, QUESTION_CHARS))}”"
            + ("\n" + " · ".join(threads) if threads else ""))


def home_view(*, versions: Sequence[dict] = (), report: Report | None = None,
              bot_user_id: str | None = None) -> dict:
    """The Home tab as views.publish takes it; numbers and gaps only when a `report` is given (admins)."""
    blocks = [HeaderBlock(text="Milvus docs Q&A"), SectionBlock(text=_md(how_to_ask(bot_user_id))),
              SectionBlock(text=_md(versions_text(versions)))]
    if report is not None:
        for w in report.windows[:HOME_WINDOWS]:
            blocks += [DividerBlock(), *window_blocks(w)]
        when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(report.now))
        blocks.append(ContextBlock(elements=[_md(f"Shown to FAQBOT_ADMINS only · refreshed {when}, when you opened "
                                                 "this tab · `faqbot report` lists every group")]))
    return View(type="home", blocks=blocks).to_dict()  # slack_sdk checks block counts and lengths too


def home_for(store, user_id: str, admin_ids, *, bot_user_id: str | None = None, now: float | None = None) -> dict:
    """The view for `user_id`, from the job store (admins get the numbers)."""
    report = load_report(store, now=now) if user_id in admin_ids else None
    return home_view(versions=meta.docs_versions(store), report=report, bot_user_id=bot_user_id)


def limit_problems(view: dict) -> list[str]:
    """Where `view` breaks Slack's limits for a Home tab ([] = none)."""
    blocks = view.get("blocks") or []
    problems = [] if 0 < len(blocks) <= LIMITS["blocks"] else [f"{len(blocks)} blocks"]
    for n, b in enumerate(blocks):
        kind = b.get("type")
        if kind == "header" and not (0 < len(b["text"]["text"]) <= LIMITS["header"]):
            problems.append(f"block {n}: header of {len(b['text']['text'])} characters")
        if kind == "section":
            if len((b.get("text") or {}).get("text", "")) > LIMITS["section"]:
                problems.append(f"block {n}: section text of {len(b['text']['text'])} characters")
            fields = b.get("fields") or []
            if len(fields) > LIMITS["fields"] or any(len(f["text"]) > LIMITS["field"] for f in fields):
                problems.append(f"block {n}: fields too many or too long")
            if not b.get("text") and not fields:
                problems.append(f"block {n}: section without text")
        if kind == "context":
            elements = b.get("elements") or []
            if not 0 < len(elements) <= LIMITS["context_elements"] or any(
                    len(e.get("text", "")) > LIMITS["context_text"] for e in elements):
                problems.append(f"block {n}: context elements too many or too long")
    return problems
