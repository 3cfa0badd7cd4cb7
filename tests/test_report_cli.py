"""`faqbot report` over a scripted sample week (testkit/sample_week.py), and the admin Home view of the same
state DB: the same counts and the same top gap groups; a non-admin sees no numbers."""

from __future__ import annotations

import csv
import json
import re
import subprocess
from pathlib import Path
import sys

import pytest

import faqbot
from bot.blocks import escape
from bot.home import HOME_GAPS, home_for
from bot.jobstore.sqlite import SQLiteJobStore
from testkit import sample_week

FIELDS = {"Questions": "questions", "Answered by AI": "gemini", "Extractive answers": "extractive",
          "Not covered": "not_covered", "Failed": "failed"}


@pytest.fixture
def week_db(tmp_path, monkeypatch):
    path = tmp_path / "state.db"
    store = SQLiteJobStore(path)
    sample_week.fill(store)
    store.close()
    monkeypatch.setenv("FAQBOT_STATE_DB", str(path))
    return path


def report_json(capsys, *args) -> dict:
    assert faqbot.main(["report", "--json", *args]) == 0
    return json.loads(capsys.readouterr().out)


def home_windows(view: dict) -> dict[int, dict]:
    """What the Home view shows for each period: its numbers and its gap lines."""
    out, current = {}, None
    for b in view["blocks"]:
        if b["type"] == "header" and b["text"]["text"].startswith("Last "):
            current = out.setdefault(int(b["text"]["text"].split()[1]), {"gaps": []})
        elif current is not None and b.get("fields"):
            for f in b["fields"]:
                name, value = f["text"].split("\n")
                current[name.strip("*")] = value
        elif current is not None and b["type"] == "section" and b["text"]["text"].startswith("*") \
                and "asked" in b["text"]["text"]:
            current["gaps"].append(b["text"]["text"])
    return out


def test_report_json_and_the_admin_home_show_the_same_week(week_db, capsys):
    report = report_json(capsys)
    store = SQLiteJobStore(week_db)
    try:
        admin = home_for(store, sample_week.ADMIN, {sample_week.ADMIN})
        member = home_for(store, "U0SOMEONE", {sample_week.ADMIN})
    finally:
        store.close()
    shown = home_windows(admin)
    assert sorted(shown) == [w["days"] for w in report["windows"]] == [7, 30]
    for w in report["windows"]:
        home = shown[w["days"]]
        for label, key in FIELDS.items():
            assert int(home[label].split()[0]) == w[key], (w["days"], label)
        assert home["👍 / 👎"] == f"{w['up']} / {w['down']}"
        median, unit = home["Median time to answer"].split()
        assert unit == "s" and float(median) == pytest.approx(w["median_time_to_answer_s"], abs=0.051)
        assert len(home["gaps"]) == min(HOME_GAPS, len(w["gaps"]))
        for line, gap in zip(home["gaps"], w["gaps"]):
            people = f"{gap['people']} {'person' if gap['people'] == 1 else 'people'} asked"
            assert line.startswith(f"*{people}") and f"“{escape(gap['question'])}”" in line
            assert re.findall(r"<(https://[^|>]+)\|", line) == gap["threads"][:5]
    # what the week holds (testkit/sample_week.py)
    week, month = report["windows"]
    assert (week["questions"], week["gemini"], week["extractive"], week["not_covered"], week["failed"]) == \
        (25, 12, 3, 8, 2)
    assert (week["up"], week["down"], month["questions"], month["failed"]) == (9, 4, 31, 3)
    upgrade = week["gaps"][0]
    assert (upgrade["people"], upgrade["questions"], upgrade["not_covered"], upgrade["down"]) == (5, 6, 5, 1)
    assert upgrade["question"] == "How do I upgrade Milvus from 2.5 to 2.6?"
    assert len(upgrade["threads"]) == 5  # the sixth was asked in a DM: no link anyone else could open
    assert all(t.startswith("https://acme.slack.com/archives/C0") for t in upgrade["threads"])
    assert [g["people"] for g in week["gaps"][:3]] == [5, 3, 2]
    assert [g["questions"] for g in month["gaps"][:2]] == [6, 4]  # Windows: one more, earlier in the month
    assert "How do I upgrade from 2.4 to 2.5?" in [g["question"] for g in month["gaps"]]  # another gap
    # a member sees how to ask and the versions, and no numbers
    assert home_windows(member) == {} and not any(b.get("fields") for b in member["blocks"])
    assert "upgrade" not in json.dumps(member).lower() and "v2.6.x" in json.dumps(member)


def test_the_terminal_report_and_one_period(week_db, capsys):
    assert faqbot.main(["report"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Last 7 days (since ") and "\nLast 30 days (since " in out
    assert "   1. 5 people asked 6 times (5 not covered, 1 down): How do I upgrade Milvus from 2.5 to 2.6?" in out
    assert "      https://acme.slack.com/archives/C0" in out
    month = report_json(capsys, "--days", "30")
    assert [w["days"] for w in month["windows"]] == [30] and month["windows"][0]["questions"] == 31


def test_csv_has_one_row_per_gap_group_and_period(week_db, tmp_path, capsys):
    path = tmp_path / "gaps.csv"
    assert faqbot.main(["report", "--csv", str(path)]) == 0
    captured = capsys.readouterr()
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    assert f"{len(rows)} knowledge-gap rows written to {path}" in captured.err and "Last 7 days" in captured.out
    first = rows[0]
    assert (first["period_days"], first["rank"], first["people"], first["questions"]) == ("7", "1", "5", "6")
    assert first["question"] == "How do I upgrade Milvus from 2.5 to 2.6?" and " | " in first["other_wordings"]
    assert {r["period_days"] for r in rows} == {"7", "30"}


def test_csv_cells_that_a_spreadsheet_would_run_are_text(tmp_path):
    from bot.insights import Gap, Report, Window
    from bot.report_cli import write_csv

    gap = Gap(question="=HYPERLINK(\"https://evil\")", questions=1, people=1, not_covered=1, down=0, threads=(),
              examples=("@SUM(A1)", "how do I -- anything"), last_asked=0.0)
    window = Window(days=7, since=0, questions=1, gemini=0, extractive=0, not_covered=1, failed=0, up=0, down=0,
                    median_s=None, gaps=(gap,))
    write_csv(Report(now=0, windows=(window,)), tmp_path / "x.csv")
    row = next(csv.DictReader((tmp_path / "x.csv").open(encoding="utf-8")))
    assert row["question"] == "'=HYPERLINK(\"https://evil\")" and row["other_wordings"].startswith("'@SUM")


def test_the_terminal_shows_question_text_as_asked_without_control_characters(tmp_path, monkeypatch, capsys):
    store = SQLiteJobStore(tmp_path / "s.db")
    job = store.accept(["ev:1"], kind="mention", channel="C0HELP", user="U1", question="<!channel> why \x1b[31mred\x07?",
                       thread_ts="1700000000.000100")
    store.save_answer("a1", job, answer="x", mode="gemini", outcome="not_covered", sources=[], version=None,
                      latency_s=1.0)
    store.close()
    monkeypatch.setenv("FAQBOT_STATE_DB", str(tmp_path / "s.db"))
    assert faqbot.main(["report", "--days", "1"]) == 0
    out = capsys.readouterr().out
    assert "1 person asked once (1 not covered): <!channel> why [31mred ?" in out and "\x1b" not in out
    assert report_json(capsys)["windows"][0]["gaps"][0]["question"] == "<!channel> why \x1b[31mred\x07?"  # data


def test_no_state_db_is_one_line_naming_the_settings(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FAQBOT_STATE_DB", str(tmp_path / "missing.db"))
    assert faqbot.main(["report"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "FAQBOT_STATE_DB=" in err and "FAQBOT_STATE_URL" in err
    assert not (tmp_path / "missing.db").exists()  # the report never creates an empty state DB
    (tmp_path / "dir.db").mkdir()
    monkeypatch.setenv("FAQBOT_STATE_DB", str(tmp_path / "dir.db"))
    assert faqbot.main(["report"]) == 1
    monkeypatch.setenv("FAQBOT_STATE_DB", str(tmp_path / "missing.db"))
    monkeypatch.setenv("FAQBOT_ADMINS", "alice")
    assert faqbot.main(["report"]) == 1
    assert "FAQBOT_ADMINS is invalid" in capsys.readouterr().err


def test_an_unreachable_postgres_is_one_line_without_the_password(monkeypatch, capsys):
    from bot import report_cli
    from bot.jobstore import StateUnavailable

    settings = type("S", (), {"state_db": "/nonexistent/state.db",
                              "state_url": "postgresql://faqbot:s3cret-pw@127.0.0.1:1/faqbot"})()
    with pytest.raises(StateUnavailable) as exc:
        report_cli.open_existing(settings)
    assert "FAQBOT_STATE_URL=postgresql://faqbot@127.0.0.1:1/faqbot" in str(exc.value)
    assert "s3cret-pw" not in str(exc.value)
    monkeypatch.setattr("bot.settings.load_bot_settings", lambda: settings)
    assert faqbot.main(["report"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: cannot reach the PostgreSQL state database") and err.count("\n") == 1
    assert "s3cret-pw" not in err


def test_report_reads_a_postgres_state_db(pg_url, monkeypatch, capsys):
    """The same verbs on PostgreSQL (FAQBOT_STATE_URL), when BotSettings has the field (else the SQLite path)."""
    from bot.insights import load_report
    from bot.jobstore.postgres import PostgresJobStore
    from bot.report_cli import open_existing

    url = pg_url.fresh()
    store = PostgresJobStore(url)
    try:
        job = store.accept(["ev:1"], kind="mention", channel="C0HELP", user="U1", question="How do I upgrade?",
                           thread_ts="1700000000.000100")
        store.save_answer("a1", job, answer="x", mode="gemini", outcome="not_covered", sources=[], version=None,
                          latency_s=1.0)
        store.set_meta("workspace_url", "https://acme.slack.com/")
    finally:
        store.close()
    settings = type("S", (), {"state_db": "/nonexistent/state.db", "state_url": url})()
    store = open_existing(settings)
    try:
        week = load_report(store).window(7)
    finally:
        store.close()
    assert (week.questions, week.not_covered, week.gaps[0].threads) == \
        (1, 1, ("https://acme.slack.com/archives/C0HELP/p1700000000000100",))


def test_sample_week_prints_the_admin_home_json(tmp_path):
    root = Path(__file__).resolve().parents[1]  # tests run in a temporary directory
    out = subprocess.run([sys.executable, "-m", "testkit.sample_week", "--home-json"], capture_output=True,
                         text=True, timeout=60, check=True, cwd=root).stdout
    view = json.loads(out)
    assert view["type"] == "home" and sorted(home_windows(view)) == [7, 30]
    db = tmp_path / "week.db"
    subprocess.run([sys.executable, "-m", "testkit.sample_week", "--state-db", str(db)], check=True, timeout=60,
                   capture_output=True, cwd=root)
    again = subprocess.run([sys.executable, "-m", "testkit.sample_week", "--state-db", str(db)], capture_output=True,
                           text=True, timeout=60, cwd=root)
    assert again.returncode == 1 and "exists" in again.stderr
