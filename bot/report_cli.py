"""`faqbot report [--days N] [--json] [--csv FILE]`: the insights of the App Home in a terminal
(bot/insights.py is imported when the command runs: `faqbot --help` stays quick).

It reads the state database the bot uses (FAQBOT_STATE_DB or FAQBOT_STATE_URL) while the bot runs, and
never opens Milvus. The terminal shows the top gap groups of each period; --json prints the whole report
(bot/insights.py Report.to_json: counts per period and up to 50 gap groups each); --csv FILE writes one
row per gap group and period, for a spreadsheet. Question text stays as asked everywhere (it is data);
only what could act on a terminal or a spreadsheet is neutralised (control characters; a leading = + - @).
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
import time
from pathlib import Path

TERMINAL_GAPS = 10
CSV_FIELDS = ("period_days", "rank", "people", "questions", "not_covered", "down_votes", "question",
              "other_wordings", "threads", "last_asked")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _days(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 3660:
        raise argparse.ArgumentTypeError("a whole number of days from 1 to 3660")
    return int(value)


def add_command(sub) -> None:
    s = sub.add_parser("report", help="questions, outcomes, feedback and knowledge gaps (from the state database)")
    s.add_argument("--days", type=_days, help="one period of N days (default: the last 7 and the last 30 days)")
    s.add_argument("--json", action="store_true", help="the whole report as JSON, for scripts")
    s.add_argument("--csv", metavar="FILE", help="write the knowledge-gap groups to FILE (one row per group and period)")
    s.set_defaults(func=cmd_report)


def cmd_report(args) -> int:
    from .insights import WINDOWS, load_report
    from .jobstore import StateUnavailable
    from .settings import load_bot_settings

    settings = load_bot_settings()
    try:
        store = open_existing(settings)
        try:
            report = load_report(store, days=[args.days] if args.days else WINDOWS)
        finally:
            store.close()
    except StateUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.csv:
        try:
            rows = write_csv(report, args.csv)
        except OSError as exc:
            print(f"error: cannot write {args.csv}: {exc.strerror or exc}", file=sys.stderr)
            return 1
        print(f"{rows} knowledge-gap rows written to {args.csv}", file=sys.stderr)
    _out(json.dumps(report.to_json(), ensure_ascii=False, indent=2) if args.json else format_report(report))
    return 0


def open_existing(settings):
    """The job store the bot uses; a missing SQLite file is an error (the report would create an empty one)."""
    from .jobstore import StateUnavailable, open_store

    state_url = getattr(settings, "state_url", "") or ""
    if not state_url and not Path(settings.state_db).is_file():
        raise StateUnavailable(f"no state database at FAQBOT_STATE_DB={settings.state_db}: set FAQBOT_STATE_DB (or "
                               "FAQBOT_STATE_URL) to the one the bot uses; it is created when the bot first starts")
    return open_store(settings.state_db, state_url)


def _out(text: str) -> None:
    encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
    print(text.encode(encoding, "replace").decode(encoding, "replace"))


def _line(text: str) -> str:
    return " ".join(_CONTROL.sub(" ", text or "").split())


def format_report(report) -> str:
    """The report for a terminal: each period's numbers, then its top gap groups."""
    from .insights import gap_summary

    out = []
    for w in report.windows:
        q = w.questions

        def share(n: int) -> str:
            return f"{n:>6}  {round(100 * n / q):>3}%" if q else f"{n:>6}"

        median = "–" if w.median_s is None else f"{w.median_s:.1f} s"
        out += [f"Last {w.days} days (since {_when(w.since)})",
                f"  Questions              {q:>6}",
                f"  Answered by AI         {share(w.gemini)}",
                f"  Extractive answers     {share(w.extractive)}",
                f"  Not covered            {share(w.not_covered)}",
                f"  Failed                 {share(w.failed)}",
                f"  Votes up / down        {w.up:>6} / {w.down}",
                f"  Median time to answer  {median:>6}", ""]
        if not w.gaps:
            out += ["  No knowledge gaps: every question was answered, no down votes.", ""]
            continue
        out.append("  Top knowledge gaps (questions the docs didn't answer, or that got a down vote):")
        for n, g in enumerate(w.gaps[:TERMINAL_GAPS], 1):
            out.append(f"  {n:>2}. {gap_summary(g, down='down')}: {_line(g.question)}")
            out += [f"      also: {_line(e)}" for e in g.examples[:3]]
            out += [f"      {url}" for url in g.threads[:3]]
            if len(g.threads) > 3:
                out.append(f"      (+{len(g.threads) - 3} more)")
        if len(w.gaps) > TERMINAL_GAPS:
            out.append(f"  … {len(w.gaps) - TERMINAL_GAPS} more groups: faqbot report --json or --csv FILE")
        out.append("")
    return "\n".join(out).rstrip()


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ts))


def _cell(text: str) -> str:
    """A spreadsheet opens a cell that starts with = + - @ as a formula: make it text."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def write_csv(report, path: str) -> int:
    from .insights import iso

    rows = 0
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(CSV_FIELDS)
        for window in report.windows:
            for rank, g in enumerate(window.gaps, 1):
                w.writerow([window.days, rank, g.people, g.questions, g.not_covered, g.down, _cell(g.question),
                            _cell(" | ".join(g.examples)), " ".join(g.threads), iso(g.last_asked)])
                rows += 1
    return rows
