"""What the bot did, for the people who run it: outcomes, feedback, time to answer and knowledge gaps.

Pure functions over the job store's `insights_rows()` (the App Home and `faqbot report` show the same
Report): `classify_outcome` decides what an answer counts as when it is saved; `build_report` counts the
questions of each window (7 and 30 days by default) and groups its knowledge gaps — "not covered" or 👎
questions — with bot/gaps.py.
"""

from __future__ import annotations

import re
import statistics
import time
from dataclasses import asdict, dataclass
from typing import Iterable, Sequence

from rag_core.answer import NOT_COVERED

from . import gaps as _gaps
from .meta import workspace_url
from .jobstore import Outcome

DAY_S = 86400
WINDOWS = (7, 30)
MAX_GAPS = 50  # groups per window in a report (the Home shows fewer)
MAX_GAP_QUESTIONS = 5000  # the newest "not covered" / 👎 questions of a window that are grouped
MAX_THREADS = 10  # links per group, newest first
MAX_EXAMPLES = 5  # other wordings per group

# ---- what an answer counts as ----------------------------------------------------------------------

_DOCS = r"(?:the\s+)?(?:milvus\s+)?(?:docs?|documentation|passages?|sources?|context)"
# "… I have", "… provided", "… you gave me": what may stand between the docs and "don't cover"
_WHICH = r"(?:\s+(?:i\s+have|i\s+was\s+given|you\s+gave\s+me|provided|available|here|above|i\s+found|i\s+searched))?"
_NEG = r"(?:don't|do\s+not|doesn't|does\s+not|didn't|did\s+not|can't|cannot)"
_VERB = r"(?:seem\s+to\s+|appear\s+to\s+)?(?:cover|answer|address|mention|describe|explain|discuss|contain|include)"
_NOT_COVERED = [re.compile(p) for p in (
    rf"\b{_DOCS}{_WHICH}\s+{_NEG}\s+{_VERB}\b",  # "The Milvus docs I have don't cover this."
    rf"\b(?:isn't|is\s+not|aren't|are\s+not|wasn't|not)\s+(?:covered|answered|addressed|mentioned|described|"
    rf"documented)\s+(?:\w+\s+){{0,2}}?(?:in|by)\s+{_DOCS}\b",  # "This isn't covered in the docs."
    rf"\b(?:no\s+(?:information|info|mention|details?|passages?|answer|explanation|guidance)|nothing)\b"
    rf"[^.]{{0,40}}\b(?:in|from)\s+{_DOCS}\b",  # "There is no information about it in the passages"
    rf"\bi\s+(?:couldn't|could\s+not|can't|cannot|didn't|did\s+not)\s+find\b[^.]{{0,60}}\b{_DOCS}\b",
    r"\bi\s+found\s+no\s+passage",
)]
_HEAD_CHARS = 240  # an extractive answer says it first; later text is a docs passage quoted as is


def _plain(text: str) -> str:
    text = (text or "").lower().replace("\u2019", "'").replace("\u2018", "'")
    return " ".join(re.sub(r"[*_`~>]", " ", text).split())


def says_not_covered(answer_text: str, head_only: bool = False) -> bool:
    """True if the answer says the docs don't cover the question (the wording rag_core/answer.py asks
    Gemini for, NOT_COVERED, and its usual variations)."""
    text = _plain(answer_text)
    if head_only:
        text = text[:_HEAD_CHARS]
    return _plain(NOT_COVERED).rstrip(".") in text or any(p.search(text) for p in _NOT_COVERED)


def classify_outcome(mode: str, confident: bool, answer_text: str) -> Outcome:
    """not_covered when retrieval was not confident or the answer says the docs don't cover it (so keyless
    bots report gaps too); else gemini or extractive, by who wrote the answer."""
    if not confident or says_not_covered(answer_text, head_only=mode != "gemini"):
        return Outcome.NOT_COVERED
    return Outcome.GEMINI if mode == "gemini" else Outcome.EXTRACTIVE


# ---- the report ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Gap:
    question: str  # the group's representative question, as asked
    questions: int
    people: int  # distinct askers
    not_covered: int  # questions answered "not covered"
    down: int  # 👎 votes on the group's answers
    threads: tuple[str, ...]  # Slack links, newest first (none for DMs)
    examples: tuple[str, ...]  # other wordings, newest first
    last_asked: float


@dataclass(frozen=True)
class Window:
    days: int
    since: float
    questions: int
    gemini: int
    extractive: int
    not_covered: int
    failed: int
    up: int
    down: int
    median_s: float | None  # median time to answer (answered questions)
    gaps: tuple[Gap, ...]


@dataclass(frozen=True)
class Report:
    now: float
    windows: tuple[Window, ...]

    def window(self, days: int) -> Window | None:
        return next((w for w in self.windows if w.days == days), None)

    def to_json(self) -> dict:
        return {"generated": iso(self.now), "windows": [_window_json(w) for w in self.windows]}


def build_report(rows: Sequence[dict], now: float | None = None, days: Iterable[int] = WINDOWS,
                 workspace_url: str = "") -> Report:
    """The report of each window of `days` ending at `now`, from insights_rows() of the widest one."""
    now = time.time() if now is None else now
    rows = [_normal(r) for r in rows]
    windows = []
    for d in sorted(set(int(d) for d in days)):
        since = now - d * DAY_S
        windows.append(_window(d, since, [r for r in rows if since <= r["created"] <= now], workspace_url))
    return Report(now=now, windows=tuple(windows))


def _normal(row: dict) -> dict:
    """Outcomes as Outcome values (an answer saved before outcomes were recorded counts by its mode)."""
    outcome = row.get("outcome") or ""
    if outcome not in Outcome.__members__.values():
        outcome = Outcome.GEMINI if row.get("mode") == "gemini" else Outcome.EXTRACTIVE
    return {**row, "outcome": str(outcome), "question": str(row.get("question") or ""),
            "up": int(row.get("up") or 0), "down": int(row.get("down") or 0), "created": float(row["created"])}


def _window(days: int, since: float, rows: list[dict], workspace_url: str) -> Window:
    by = {o: sum(r["outcome"] == o for r in rows) for o in Outcome}
    latencies = [r["latency_s"] for r in rows if r["outcome"] != Outcome.FAILED and r.get("latency_s") is not None]
    return Window(days=days, since=since, questions=len(rows), gemini=by[Outcome.GEMINI],
                  extractive=by[Outcome.EXTRACTIVE], not_covered=by[Outcome.NOT_COVERED], failed=by[Outcome.FAILED],
                  up=sum(r["up"] for r in rows), down=sum(r["down"] for r in rows),
                  median_s=float(statistics.median(latencies)) if latencies else None,
                  gaps=knowledge_gaps(rows, workspace_url))


def knowledge_gaps(rows: list[dict], workspace_url: str = "") -> tuple[Gap, ...]:
    """"Not covered" or 👎 questions grouped by similarity; most people first, then most questions."""
    asked = [r for r in rows if r["outcome"] == Outcome.NOT_COVERED or r["down"] > 0][-MAX_GAP_QUESTIONS:]
    texts = [r["question"] for r in asked]
    out = []
    for group in _gaps.group_questions(texts, corpus=[r["question"] for r in rows]):
        members = [asked[i] for i in group]
        newest = sorted(members, key=lambda r: -r["created"])
        shown = texts[_gaps.representative(group, texts)]
        others = dict.fromkeys(r["question"] for r in newest if r["question"] != shown)
        links = dict.fromkeys(filter(None, (thread_link(workspace_url, r.get("channel"), r.get("thread_ts"))
                                            for r in newest)))
        out.append(Gap(question=shown, questions=len(members), people=len({r.get("user") or "?" for r in members}),
                       not_covered=sum(r["outcome"] == Outcome.NOT_COVERED for r in members),
                       down=sum(r["down"] for r in members), threads=tuple(links)[:MAX_THREADS],
                       examples=tuple(others)[:MAX_EXAMPLES], last_asked=newest[0]["created"]))
    out.sort(key=lambda g: (-g.people, -g.questions, -g.last_asked, g.question))
    return tuple(out[:MAX_GAPS])


_CHANNEL = re.compile(r"[CG][A-Z0-9]{1,30}")
_TS = re.compile(r"\d{9,11}\.\d{1,6}")


def thread_link(workspace_url: str, channel: str | None, thread_ts: str | None) -> str | None:
    """https://<workspace>.slack.com/archives/<channel>/p<ts without the dot> (slack.com when the workspace
    URL is not known); None for a DM (nobody else could open it) or anything not shaped like Slack's IDs."""
    if not (channel and thread_ts and _CHANNEL.fullmatch(channel) and _TS.fullmatch(thread_ts)):
        return None
    base = workspace_url if workspace_url.startswith("https://") and workspace_url.endswith("/") else "https://slack.com/"
    seconds, micros = thread_ts.split(".")
    return f"{base}archives/{channel}/p{seconds}{micros.ljust(6, '0')}"


def gap_summary(g: Gap, down: str = "👎") -> str:
    """"5 people asked 6 times (5 not covered, 1 👎)" """
    asked = "once" if g.questions == 1 else f"{g.questions} times"
    why = ", ".join(x for x in (f"{g.not_covered} not covered" if g.not_covered else "",
                                f"{g.down} {down}" if g.down else "") if x)
    return f"{g.people} {'person' if g.people == 1 else 'people'} asked {asked}" + (f" ({why})" if why else "")


# ---- JSON ------------------------------------------------------------------------------------------

def iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _window_json(w: Window) -> dict:
    out = {k: v for k, v in asdict(w).items() if k not in ("gaps", "median_s")}
    out["since"] = iso(w.since)
    out["median_time_to_answer_s"] = round(w.median_s, 2) if w.median_s is not None else None
    out["gaps"] = [{**asdict(g), "threads": list(g.threads), "examples": list(g.examples),
                    "last_asked": iso(g.last_asked)} for g in w.gaps]
    return out


# ---- from the store ----------------------------------------------------------------------------------

def load_report(store, days: Iterable[int] = WINDOWS, now: float | None = None) -> Report:
    """The report of each window from the job store (insights_rows and the workspace URL: no Milvus)."""
    now = time.time() if now is None else now
    days = sorted(set(int(d) for d in days))
    return build_report(store.insights_rows(now - days[-1] * DAY_S), now, days, workspace_url(store))
