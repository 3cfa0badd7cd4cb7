"""Tests for testkit/fakes/github_server.py (the fake GitHub API + raw host), with urllib."""

from __future__ import annotations

import base64
import calendar
import hashlib
import http.client
import json
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
import zipfile

import pytest

from testkit.fakes.github_server import DATA_DIR, FakeGitHub, _build_base

REPO = "/repos/milvus-io/web-content"
TOKEN = "ghp_testtoken"
FAQ = "v3.0.x/site/en/faq/product_faq.md"
GIT = shutil.which("git")


# --- helpers -------------------------------------------------------------------


def call(url, token=None, headers=None, method="GET", auth=None, timeout=5):
    req = urllib.request.Request(url, method=method, headers=dict(headers or {}))
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    if auth:
        req.add_header("Authorization", auth)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


def api(fake, path, **kw):
    status, headers, body = call(fake.api_url + REPO + path, **kw)
    return status, headers, (json.loads(body) if body else None)


def raw(fake, ref, path, **kw):
    return call(f"{fake.raw_url}/milvus-io/web-content/{ref}/{path}", **kw)


def blob_sha(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def tree_sha(entries) -> str:
    """Independent re-implementation of git's tree hash from API entries."""
    def key(e):
        return e["path"].encode() + (b"/" if e["type"] == "tree" else b"")
    body = b"".join(
        b"%s %s\0" % (e["mode"].lstrip("0").encode(), e["path"].encode()) + bytes.fromhex(e["sha"])
        for e in sorted(entries, key=key)
    )
    return hashlib.sha1(b"tree %d\0" % len(body) + body).hexdigest()


def zip_file(version: str, rel: str) -> bytes:
    with zipfile.ZipFile(DATA_DIR / f"milvus_docs_{version.lstrip('v')}_en.zip") as zf:
        return zf.read("en/" + rel)


def subtree(fake, tree, *names):
    for name in names:
        _, _, body = api(fake, f"/git/trees/{tree}")
        (entry,) = [e for e in body["tree"] if e["path"] == name]
        tree = entry["sha"]
    return tree


def git(tmp_path, *args, stdin: bytes = b"") -> str:
    return subprocess.run([GIT, *args], cwd=tmp_path, input=stdin, capture_output=True, check=True).stdout.decode().strip()


@pytest.fixture(scope="module")
def server():
    with FakeGitHub() as fake:
        yield fake


@pytest.fixture
def gh(server):
    server.clear_faults()
    server.reset_counters()
    server.reset_rate_limits()
    yield server
    server.clear_faults()
    server.reset_rate_limits()


@pytest.fixture
def small():
    with FakeGitHub(versions=("v3.0.x",)) as fake:
        yield fake


# --- build ---------------------------------------------------------------------


def test_cold_build_from_all_zips_is_fast():
    t0 = time.monotonic()
    store, history = _build_base(("v2.4.x", "v2.5.x", "v2.6.x", "v3.0.x"), "v3.0.x", DATA_DIR, use_cache=False)
    assert time.monotonic() - t0 < 2.0
    assert len(store.blobs) > 1000 and len(history) == 2  # identical pages share a blob
    t0 = time.monotonic()
    FakeGitHub()  # cached: cheap
    assert time.monotonic() - t0 < 0.5


# --- git object ids ----------------------------------------------------------------


def test_blob_shas_are_git_hash_object(gh, tmp_path):
    expected = zip_file("v3.0.x", "faq/product_faq.md")
    status, headers, data = raw(gh, gh.head, FAQ)
    assert status == 200 and data == expected
    faq_tree = subtree(gh, gh.tree_of(), "v3.0.x", "site", "en", "faq")
    _, _, body = api(gh, f"/git/trees/{faq_tree}")
    (entry,) = [e for e in body["tree"] if e["path"] == "product_faq.md"]
    assert entry["sha"] == blob_sha(expected) and entry["size"] == len(expected)
    assert entry["mode"] == "100644" and entry["type"] == "blob"
    if GIT:
        assert git(tmp_path, "hash-object", "--stdin", stdin=expected) == entry["sha"]
    # the blob endpoint serves the same bytes
    _, _, blob = api(gh, f"/git/blobs/{entry['sha']}")
    assert base64.b64decode(blob["content"]) == expected and blob["encoding"] == "base64"


def test_tree_and_commit_shas_are_gits(gh, tmp_path):
    site = subtree(gh, gh.tree_of(), "v3.0.x", "site")
    faq = subtree(gh, site, "en", "faq")
    for sha in (faq, site, gh.tree_of()):
        _, _, body = api(gh, f"/git/trees/{sha}")
        assert body["sha"] == sha and tree_sha(body["tree"]) == sha
    if GIT:
        git(tmp_path, "init", "-q")
        for sha in (faq, site):  # a tree of blobs, and a tree holding a subtree
            _, _, body = api(gh, f"/git/trees/{sha}")
            listing = "".join(f"{e['mode']} {e['type']} {e['sha']}\t{e['path']}\n" for e in body["tree"])
            assert git(tmp_path, "mktree", "--missing", stdin=listing.encode()) == sha

    _, _, c = api(gh, f"/commits/{gh.head}")
    info = c["commit"]
    lines = [f"tree {info['tree']['sha']}"] + [f"parent {p['sha']}" for p in c["parents"]]
    for role in ("author", "committer"):
        who = info[role]
        ts = calendar.timegm(time.strptime(who["date"], "%Y-%m-%dT%H:%M:%SZ"))
        lines.append(f"{role} {who['name']} <{who['email']}> {ts} +0000")
    body = ("\n".join(lines) + "\n\n" + info["message"] + "\n").encode()
    assert hashlib.sha1(b"commit %d\0" % len(body) + body).hexdigest() == gh.head
    if GIT:
        assert git(tmp_path, "hash-object", "-t", "commit", "--stdin", stdin=body) == gh.head


# --- navigation ----------------------------------------------------------------


def test_repo_branch_commit_tree_navigation(gh):
    status, headers, repo = api(gh, "")
    assert status == 200 and repo["default_branch"] == "master" and repo["full_name"] == "milvus-io/web-content"
    assert headers["Content-Type"] == "application/json; charset=utf-8"

    _, _, branch = api(gh, "/branches/master")
    assert branch["name"] == "master" and branch["commit"]["sha"] == gh.head
    tree = branch["commit"]["commit"]["tree"]["sha"]
    assert tree == gh.tree_of()

    for ref in ("master", gh.head, gh.head[:7], "heads/master", "refs/heads/master"):
        status, _, commit = api(gh, f"/commits/{ref}")
        assert status == 200 and commit["sha"] == gh.head, ref
        assert commit["commit"]["tree"]["sha"] == tree
    assert commit["node_id"] and commit["html_url"].endswith(gh.head)
    assert len(commit["parents"]) == 1 and commit["parents"][0]["sha"] == gh.commits[0]

    _, _, root = api(gh, f"/git/trees/{tree}")
    names = {e["path"]: e for e in root["tree"]}
    assert set(names) == {"README.md", "version.json", "v2.4.x", "v2.5.x", "v2.6.x", "v3.0.x",
                          "localization", "API_Reference"}
    assert names["v3.0.x"]["type"] == "tree" and names["v3.0.x"]["mode"] == "040000"
    assert "size" not in names["v3.0.x"] and names["README.md"]["size"] > 0
    assert root["truncated"] is False and root["url"].endswith(f"/git/trees/{tree}")
    # a commit sha or a branch name resolves to the root tree
    for ident in (gh.head, "master"):
        _, _, same = api(gh, f"/git/trees/{ident}")
        assert same["sha"] == tree
    faq = subtree(gh, tree, "v3.0.x", "site", "en", "faq")
    _, _, listing = api(gh, f"/git/trees/{faq}")
    assert {e["path"] for e in listing["tree"]} >= {"product_faq.md", "operational_faq.md"}


def test_recursive_listing_of_version_site(gh):
    site = subtree(gh, gh.tree_of(), "v3.0.x", "site")
    with zipfile.ZipFile(DATA_DIR / "milvus_docs_3.0.x_en.zip") as zf:
        zip_names = {n[len("en/"):] for n in zf.namelist() if not n.endswith("/")}
    for flag in ("1", "true"):
        status, _, body = api(gh, f"/git/trees/{site}?recursive={flag}")
        assert status == 200 and body["truncated"] is False
        blobs = {e["path"] for e in body["tree"] if e["type"] == "blob"}
        assert blobs == {"en/" + n for n in zip_names}
        assert "en/faq/product_faq.md" in blobs and "en/faq" in {e["path"] for e in body["tree"]}
        assert not any("localization" in p or "/zh/" in p for p in blobs)
    _, _, flat = api(gh, f"/git/trees/{site}")
    assert [e["path"] for e in flat["tree"]] == ["en"]
    # the decoys exist (at the root), so a client that lists too much would see them
    _, _, everything = api(gh, "/git/trees/master?recursive=1")
    paths = {e["path"] for e in everything["tree"]}
    assert "localization/v3.0.x/site/zh/faq/product_faq.md" in paths
    assert "API_Reference/pymilvus/v2.6.x/About.md" in paths and "v2.4.x/site/en/faq/product_faq.md" in paths


def test_version_json_and_contents(gh):
    _, _, data = raw(gh, "master", "version.json")
    assert json.loads(data) == {"version": "v3.0.x", "released": "yes"} and data.endswith(b"\n")
    status, _, item = api(gh, f"/contents/{FAQ}?ref=master")
    assert status == 200 and item["type"] == "file" and item["encoding"] == "base64"
    assert base64.b64decode(item["content"]) == zip_file("v3.0.x", "faq/product_faq.md")
    assert item["sha"] == gh.sha_at(FAQ) and item["size"] == len(gh.read(FAQ))
    status, _, listing = api(gh, f"/contents/v3.0.x/site/en/faq?ref={gh.head}")
    assert status == 200 and {e["name"] for e in listing} >= {"product_faq.md"}
    assert all(e["type"] == "file" for e in listing)
    status, _, data = call(f"{gh.api_url}{REPO}/contents/{FAQ}", headers={"Accept": "application/vnd.github.raw+json"})
    assert status == 200 and data == gh.read(FAQ)
    assert api(gh, "/contents/nope.md")[0] == 404
    status, _, err = api(gh, "/contents/README.md?ref=nobranch")
    assert status == 404 and err["message"] == "No commit found for the ref nobranch"


# --- raw host --------------------------------------------------------------------


def test_raw_download_by_commit_sha(gh):
    status, headers, data = raw(gh, gh.head, FAQ)
    assert status == 200 and data == zip_file("v3.0.x", "faq/product_faq.md")
    assert headers["Content-Type"] == "text/plain; charset=utf-8" and headers["ETag"]
    assert not [h for h in headers if h.lower().startswith("x-ratelimit")]
    assert gh.raw_downloads == [f"/milvus-io/web-content/{gh.head}/{FAQ}"]
    assert gh.api_calls == [] and gh.remaining() == 60  # the raw host does not count
    assert raw(gh, "master", FAQ)[2] == data and raw(gh, "refs/heads/master", FAQ)[2] == data
    assert raw(gh, gh.head, FAQ, headers={"If-None-Match": headers["ETag"]})[0] == 304
    for ref, path in ((gh.head, "v3.0.x/site/en/faq/nope.md"), ("0" * 40, FAQ), (gh.head, "v3.0.x/site/en/faq"),
                      ("nobranch", FAQ)):
        status, headers, body = raw(gh, ref, path)
        assert (status, body) == (404, b"404: Not Found"), (ref, path)
    assert len(gh.raw_downloads) == 3  # only 200s


# --- rejections --------------------------------------------------------------------


def test_unknown_things_are_rejected_like_github(gh):
    status, headers, body = api(gh, "/nothing/here")
    assert status == 404 and body["message"] == "Not Found" and body["status"] == "404"
    assert body["documentation_url"].startswith("https://docs.github.com/")
    assert headers["X-RateLimit-Limit"] == "60"
    status, _, body = call(gh.api_url + "/repos/someone/else")
    assert status == 404 and json.loads(body)["message"] == "Not Found"
    status, _, body = call(gh.base_url + REPO)  # not under a documented base
    assert status == 404 and json.loads(body)["message"] == "Not Found"
    assert api(gh, "", method="POST")[0] == 404
    status, _, body = api(gh, "/commits/deadbeef")
    assert status == 422 and body["message"] == "No commit found for SHA: deadbeef"
    status, _, body = api(gh, "/branches/main")
    assert status == 404 and body["message"] == "Branch not found"
    for path in ("/git/trees/" + "0" * 40, "/git/trees/main", "/git/blobs/" + "0" * 40):
        status, _, body = api(gh, path)
        assert status == 404 and body["message"] == "Not Found", path
    # errors count against the limit too, and every one is in api_calls
    assert len(gh.api_calls) == 8 and gh.remaining() == 60 - 8


# --- mutations ---------------------------------------------------------------------


def test_set_file_makes_a_commit_changing_only_shas_on_its_path(small):
    old = small.head
    _, _, before = api(small, f"/git/trees/{old}?recursive=1")
    new = small.set_file(FAQ, "# changed\n")
    assert new == small.head != old
    _, _, after = api(small, f"/git/trees/{new}?recursive=1")
    a = {e["path"]: e["sha"] for e in before["tree"]}
    b = {e["path"]: e["sha"] for e in after["tree"]}
    assert set(a) == set(b)
    changed = {p for p in a if a[p] != b[p]}
    assert changed == {"v3.0.x", "v3.0.x/site", "v3.0.x/site/en", "v3.0.x/site/en/faq", FAQ}
    assert b[FAQ] == blob_sha(b"# changed\n")
    assert after["sha"] != before["sha"] and tree_sha(api(small, f"/git/trees/{new}")[2]["tree"]) == after["sha"]

    _, _, commit = api(small, "/commits/master")
    assert commit["sha"] == new and [p["sha"] for p in commit["parents"]] == [old]
    assert [(f["filename"], f["status"]) for f in commit["files"]] == [(FAQ, "modified")]
    # the old commit is still served, by the API and the raw host
    status, _, old_commit = api(small, f"/commits/{old}")
    assert status == 200 and old_commit["commit"]["tree"]["sha"] == before["sha"]
    assert raw(small, old, FAQ)[2] == zip_file("v3.0.x", "faq/product_faq.md")
    assert raw(small, "master", FAQ)[2] == b"# changed\n"


def test_add_delete_and_version_json(small):
    start = small.head
    small.set_file("v3.1.x/site/en/faq/product_faq.md", b"new version\n")
    assert small.sha_at("v3.1.x/site/en/faq") is not None
    small.delete_file("v3.1.x/site/en/faq/product_faq.md")
    assert small.sha_at("v3.1.x") is None  # emptied folders vanish, like in git
    assert small.tree_of() == small.tree_of(start)  # same content -> same tree sha
    small.delete_file(FAQ)
    assert raw(small, "master", FAQ)[0] == 404 and raw(small, start, FAQ)[0] == 200
    _, _, commit = api(small, "/commits/master")
    assert [(f["filename"], f["status"]) for f in commit["files"]] == [(FAQ, "removed")]
    with pytest.raises(FileNotFoundError):
        small.delete_file(FAQ)
    small.set_version_json("v3.1.x")
    assert json.loads(raw(small, "master", "version.json")[2]) == {"version": "v3.1.x", "released": "yes"}
    assert len(small.commits) == 2 + 4 and small.commits[-1] == small.head


# --- rate limit and auth -------------------------------------------------------------


def test_rate_limit_counts_down_then_403s(gh):
    gh.set_remaining(2, token=None)
    seen = []
    for _ in range(2):
        status, headers, _ = api(gh, "/branches/master")
        assert status == 200
        seen.append((headers["X-RateLimit-Remaining"], headers["X-RateLimit-Used"]))
    assert seen == [("1", "59"), ("0", "60")]
    status, headers, body = api(gh, "/branches/master")
    assert status == 403
    assert body["message"].startswith("API rate limit exceeded for 127.0.0.1. (But here's the good news: "
                                      "Authenticated requests get a higher rate limit.")
    assert headers["X-RateLimit-Remaining"] == "0" and headers["X-RateLimit-Limit"] == "60"
    assert int(headers["X-RateLimit-Reset"]) > time.time() and headers["X-RateLimit-Resource"] == "core"
    assert headers["X-GitHub-Request-Id"] and headers["Content-Type"] == "application/json; charset=utf-8"
    assert len(gh.api_calls) == 3 and gh.requests[-1]["status"] == 403
    assert raw(gh, "master", FAQ)[0] == 200  # the raw host is not limited
    status, headers, _ = api(gh, "/branches/master", token=TOKEN)  # a token has its own bucket
    assert status == 200 and headers["X-RateLimit-Limit"] == "5000"


def test_token_raises_limit_and_bad_token_is_401(gh):
    status, headers, _ = api(gh, "")
    assert headers["X-RateLimit-Limit"] == "60" and headers["X-RateLimit-Remaining"] == "59"
    status, headers, _ = api(gh, "", token=TOKEN)
    assert status == 200 and headers["X-RateLimit-Limit"] == "5000" and headers["X-RateLimit-Remaining"] == "4999"
    assert api(gh, "", auth=f"token {TOKEN}")[0] == 200
    status, headers, body = api(gh, "", token="ghp_wrong")
    assert status == 401 and body["message"] == "Bad credentials" and body["status"] == "401"
    assert headers["X-RateLimit-Limit"] == "60"
    assert api(gh, "", auth="Basic abc")[0] == 401
    assert [r["had_token"] for r in gh.requests] == [False, True, True, True, True]
    assert gh.requests[1]["token"] == TOKEN
    # an authorised conditional request answered 304 does not count
    _, headers, _ = api(gh, "/branches/master", token=TOKEN)
    left = int(headers["X-RateLimit-Remaining"])
    status, headers, _ = api(gh, "/branches/master", token=TOKEN, headers={"If-None-Match": headers["ETag"]})
    assert status == 304 and int(headers["X-RateLimit-Remaining"]) == left


# --- faults ---------------------------------------------------------------------------


def test_fault_rate_limit_and_secondary(gh):
    gh.set_fault("rate_limit", host="api")
    status, headers, body = api(gh, "")
    assert status == 403 and headers["X-RateLimit-Remaining"] == "0"
    assert body["message"].startswith("API rate limit exceeded")
    assert api(gh, "")[0] == 200  # times=1

    gh.set_fault("secondary_rate_limit")
    status, headers, body = api(gh, "")
    assert status == 403 and headers["Retry-After"] == "60"
    assert body["message"].startswith("You have exceeded a secondary rate limit")
    gh.set_fault("secondary_rate_limit", status=429)
    assert api(gh, "")[0] == 429
    gh.set_fault("rate_limit", host="raw")
    status, headers, body = raw(gh, "master", FAQ)
    assert status == 429 and "Retry-After" in headers
    assert len(gh.api_calls) == 4  # faulted API requests are counted too


def test_fault_not_found_server_error_match_and_times(gh):
    gh.set_fault("not_found", host="api", match=r"/branches/")
    assert api(gh, "")[0] == 200  # does not match
    status, _, body = api(gh, "/branches/master")
    assert status == 404 and body["message"] == "Not Found"

    gh.set_fault("server_error", times=2)
    assert [api(gh, "")[0] for _ in range(3)] == [502, 502, 200]
    gh.set_fault("server_error", status=503)
    status, _, body = api(gh, "")
    assert status == 503 and body["message"].startswith("No server is currently available")
    gh.set_fault("server_error", host="raw", status=500)
    assert raw(gh, "master", FAQ)[0] == 500 and api(gh, "")[0] == 200
    gh.set_fault("not_found", host="raw")
    assert raw(gh, gh.head, FAQ)[:3:2] == (404, b"404: Not Found")

    gh.set_fault("server_error", times=None, match=r"recursive")
    assert [api(gh, "/git/trees/master?recursive=1")[0] for _ in range(3)] == [502] * 3
    assert api(gh, "/git/trees/master")[0] == 200
    gh.clear_faults()
    assert api(gh, "/git/trees/master?recursive=1")[0] == 200
    assert gh.raw_downloads == []


def test_fault_truncate_and_hang_with_delay(gh):
    gh.set_fault("truncate")  # host "any": only raw requests can be truncated
    assert api(gh, "")[0] == 200
    req = urllib.request.urlopen(f"{gh.raw_url}/milvus-io/web-content/master/{FAQ}", timeout=5)
    with pytest.raises(http.client.IncompleteRead):
        req.read()
    assert gh.raw_downloads == []

    gh.set_fault("hang", host="api", delay=0.3)
    t0 = time.monotonic()
    with pytest.raises((urllib.error.URLError, http.client.HTTPException, ConnectionError)):
        urllib.request.urlopen(gh.api_url + REPO, timeout=5)
    assert 0.25 < time.monotonic() - t0 < 3
    assert gh.requests[-1]["status"] is None and len(gh.api_calls) == 2


def test_hang_is_released_by_stop(small):
    small.set_fault("hang", host="raw")  # default delay: 30 s
    errors = []

    def fetch():
        try:
            urllib.request.urlopen(f"{small.raw_url}/milvus-io/web-content/master/{FAQ}", timeout=20).read()
        except Exception as exc:  # noqa: BLE001 - recorded
            errors.append(exc)

    thread = threading.Thread(target=fetch, daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    while not small.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)
    t0 = time.monotonic()
    small.stop()
    thread.join(5)
    assert time.monotonic() - t0 < 1.5 and not thread.is_alive()
    assert errors and small.raw_downloads == []


def test_fault_arguments_are_checked(gh):
    for kwargs in ({"kind": "boom"}, {"kind": "hang", "host": "web"}, {"kind": "truncate", "host": "api"},
                   {"kind": "not_found", "times": 0}, {"kind": "server_error", "status": 418}):
        with pytest.raises(ValueError):
            gh.set_fault(**kwargs)


def test_reset_counters(gh):
    api(gh, "")
    raw(gh, "master", FAQ)
    assert len(gh.requests) == 2 and gh.api_calls == [REPO] and len(gh.raw_downloads) == 1
    assert {r["host"] for r in gh.requests} == {"api", "raw"}
    gh.reset_counters()
    assert gh.requests == [] and gh.api_calls == [] and gh.raw_downloads == []
