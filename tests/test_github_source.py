"""The default docs source, milvus-io/web-content on GitHub, against a fake GitHub (REST API +
raw host) built from the zips in ../shared/data. Everything the acceptance of issue 10 lists."""

from __future__ import annotations

import json
import re

import pytest

from rag_core.cli import main

ARM_URL = "https://milvus.io/docs/product_faq.md#Does-Milvus-support-non-x86-architectures"
FAQ = "v3.0.x/site/en/faq/"


@pytest.fixture(scope="module")
def github():
    from testkit.fakes.github_server import FakeGitHub

    with FakeGitHub(versions=("v2.4.x", "v3.0.x")) as fake:
        yield fake


@pytest.fixture
def gh(github, tmp_path, monkeypatch):
    """The fake reset to a fresh repository state, and the CLI's environment pointed at it."""
    github.clear_faults()
    github.reset_counters()
    github.reset_rate_limits()
    for key in ("FAQBOT_DOCS_SOURCE", "FAQBOT_DOCS_VERSIONS", "FAQBOT_DOCS_GLOB", "GITHUB_TOKEN",
                "GEMINI_API_KEY", "FAQBOT_EMBEDDER", "MILVUS_URI"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("GITHUB_API_URL", github.api_url)
    monkeypatch.setenv("GITHUB_RAW_URL", github.raw_url)
    monkeypatch.setenv("MILVUS_URI", str(tmp_path / "m.db"))
    monkeypatch.setenv("FAQBOT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("GITHUB_TIMEOUT", "3")
    return github


def cli(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def summary(out: str) -> dict:
    return dict(re.findall(r"(\w+)=(\S+)", out.strip().splitlines()[-1]))


def collection_rows():
    from rag_core.config import load
    from rag_core.store import MilvusStore

    s = load()
    return MilvusStore(s.milvus_uri, collection=s.milvus_collection).rows()


def test_default_ingest_is_the_current_faq_from_github(gh, capsys):
    code, out, err = cli(capsys, "ingest")
    assert code == 0, err
    s = summary(out)
    assert s["files"] == "4" and s["versions"] == "v3.0.x" and s["embedding_calls"] == "0"
    assert len(gh.api_calls) <= 12, gh.api_calls
    downloaded = [p for p in gh.raw_downloads if not p.endswith("version.json")]
    assert len(downloaded) == 4 and all(FAQ in p for p in downloaded), gh.raw_downloads

    code, out, _ = cli(capsys, "search", "can I run milvus on ARM servers?", "--json")
    res = json.loads(out)
    assert ARM_URL in [r["url"] for r in res["results"]]
    assert {r["version"] for r in res["results"]} == {"v3.0.x"}

    # a second ingest downloads nothing and changes nothing
    gh.reset_counters()
    code, out, _ = cli(capsys, "ingest")
    s = summary(out)
    assert (s["added"], s["updated"], s["deleted"], s["embedding_calls"], s["downloads"]) == ("0",) * 5
    assert gh.raw_downloads == []

    # one file changed upstream: that file only is downloaded, and its new text is searchable
    page = FAQ + "operational_faq.md"
    gh.set_file(page, gh.read(page).decode().replace("Use Birdwatcher.", "Use Birdwatcher (edited upstream).", 1))
    gh.reset_counters()
    code, out, err = cli(capsys, "ingest")
    assert code == 0, err
    downloaded = [p for p in gh.raw_downloads if not p.endswith("version.json")]
    assert len(downloaded) == 1 and downloaded[0].endswith(page), gh.raw_downloads
    assert summary(out)["updated"] == "1"

    code, out, _ = cli(capsys, "versions")
    assert code == 0 and "v3.0.x" in out and "github:milvus-io/web-content" in out and gh.head[:12] in out


def test_two_versions_route_the_arm_question(gh, capsys, monkeypatch):
    monkeypatch.setenv("FAQBOT_DOCS_VERSIONS", "latest,v2.4.x")
    assert cli(capsys, "ingest")[0] == 0
    code, out, _ = cli(capsys, "ask", "We're still on Milvus 2.4 - can it run on ARM or other non-x86 machines?",
                       "--json")
    old = json.loads(out)
    assert old["version"] == "v2.4.x"
    assert any(s["url"].startswith("https://milvus.io/docs/v2.4.x/product_faq.md") for s in old["sources"])
    assert "non-x86" in old["answer"] or "x86" in old["answer"]

    code, out, _ = cli(capsys, "ask", "Can it run on ARM or other non-x86 machines?", "--json")
    new = json.loads(out)
    assert new["version"] == "v3.0.x" and ARM_URL in [s["url"] for s in new["sources"]]

    code, out, _ = cli(capsys, "search", "non-x86 architectures", "--version", "v2.4.x", "--json")
    assert {r["version"] for r in json.loads(out)["results"]} == {"v2.4.x"}


def test_unknown_version_names_the_ones_that_exist(gh, capsys, monkeypatch):
    monkeypatch.setenv("FAQBOT_DOCS_VERSIONS", "v9.9.x")
    code, out, err = cli(capsys, "ingest")
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "v9.9.x is not in github:milvus-io/web-content" in err and "v3.0.x, v2.4.x" in err


@pytest.mark.parametrize("fault, host, needles", [
    ("rate_limit", "api", ["rate limit", "resets at", "GITHUB_TOKEN"]),
    ("secondary_rate_limit", "api", ["rate limit", "wait 60 s"]),
    ("server_error", "raw", ["HTTP 5", "unchanged"]),
    ("not_found", "raw", ["HTTP 404", "unchanged"]),
    ("truncate", "raw", ["unchanged"]),
    ("hang", "api", ["unreachable", "GITHUB_API_URL", "unchanged"]),
])
def test_failures_are_one_line_and_change_nothing(gh, capsys, monkeypatch, fault, host, needles):
    assert cli(capsys, "ingest")[0] == 0
    monkeypatch.setenv("GITHUB_TIMEOUT", "1")
    before = collection_rows()
    page = FAQ + "product_faq.md"
    gh.set_file(page, gh.read(page).decode() + "\n## A new question?\n\nA new answer.\n")
    gh.set_fault(fault, times=None, host=host, match=r"product_faq" if host == "raw" else None)
    code, out, err = cli(capsys, "ingest")
    gh.clear_faults()
    assert code == 1, out
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    for needle in needles:
        assert needle in err, err
    assert collection_rows() == before


def test_token_is_sent_and_never_printed(gh, capsys, monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_testtoken")
    code, out, err = cli(capsys, "ingest")
    assert code == 0, err
    api = [r for r in gh.requests if r["host"] == "api"]
    assert api and all(r["had_token"] for r in api)
    assert "ghp_testtoken" not in out + err

    monkeypatch.setenv("GITHUB_TOKEN", "ghp_wrongtoken")
    code, out, err = cli(capsys, "ingest")
    assert code == 1 and "GITHUB_TOKEN was refused" in err and "ghp_wrongtoken" not in out + err


def test_rate_limit_left_for_a_listing_is_a_handful(gh, capsys, monkeypatch):
    """Unauthenticated clients get 60 calls an hour: three versions of all docs fit many times over."""
    monkeypatch.setenv("FAQBOT_DOCS_VERSIONS", "latest,v2.4.x")
    monkeypatch.setenv("FAQBOT_DOCS_GLOB", "en/faq/*.md")
    gh.set_remaining(6)
    code, out, err = cli(capsys, "ingest")
    assert code == 0, err
    assert len(gh.api_calls) <= 6


def test_doctor_lists_the_docs_versions_without_downloading(gh, capsys, monkeypatch):
    monkeypatch.setenv("FAQBOT_DOCS_VERSIONS", "latest,v2.4.x")
    assert cli(capsys, "ingest")[0] == 0
    gh.reset_counters()
    code, out, _ = cli(capsys, "doctor")
    assert "ok   docs: github:milvus-io/web-content en/faq/*.md: v3.0.x (current): 4 files, v2.4.x: 4 files" in out
    assert "versions v3.0.x (" in out and "v2.4.x (" in out
    assert gh.raw_downloads == []
    monkeypatch.setenv("FAQBOT_DOCS_VERSIONS", "v9.9.x")
    code, out, _ = cli(capsys, "doctor")
    assert code == 1 and "FAIL docs: FAQBOT_DOCS_VERSIONS: v9.9.x is not in" in out


@pytest.mark.parametrize("var, value, needle", [
    ("FAQBOT_DOCS_VERSIONS", "banana", "FAQBOT_DOCS_VERSIONS is invalid (got 'banana'): expected comma-separated"),
    ("FAQBOT_DOCS_VERSIONS", "latest,2.6,nope", "FAQBOT_DOCS_VERSIONS is invalid"),
    ("GITHUB_API_URL", "ftp://example", "GITHUB_API_URL is invalid"),
    ("FAQBOT_DOCS_SOURCE", "github:not a repo", "expected github:owner/repo"),
])
def test_bad_docs_settings_are_one_line(gh, capsys, monkeypatch, var, value, needle):
    monkeypatch.setenv(var, value)
    code, out, err = cli(capsys, "ingest")
    assert code == 1 and len(err.strip().splitlines()) == 1 and needle in err, err


def test_versions_json_and_search_version_errors(gh, capsys, monkeypatch):
    monkeypatch.setenv("FAQBOT_DOCS_VERSIONS", "v2.4.x,latest")
    assert cli(capsys, "ingest")[0] == 0
    code, out, _ = cli(capsys, "versions", "--json")
    rows = json.loads(out)
    assert [r["version"] for r in rows] == ["v3.0.x", "v2.4.x"]
    assert [(r["current"], r["default"]) for r in rows] == [(True, False), (False, True)]
    assert all(r["source"] == "github:milvus-io/web-content" and r["commit"] == gh.head for r in rows)
    code, out, err = cli(capsys, "search", "ARM support", "--version", "v2.6.x")
    assert code == 1 and "v2.6.x is not indexed (indexed: v3.0.x, v2.4.x)" in err
