"""A local fake of the GitHub REST API and raw content host, serving ONE repository.

The repository is ``milvus-io/web-content`` (branch ``master``) built from the docs zips
in ``../shared/data``, laid out like the real one::

    README.md
    version.json                            {"version": "v3.0.x", "released": "yes"} (indent 4, "\\n")
    v2.4.x/site/en/...                      = milvus_docs_2.4.x_en.zip's en/...
    v2.5.x/site/en/...  v2.6.x/site/en/...  v3.0.x/site/en/...
    localization/v3.0.x/site/zh/faq/product_faq.md     decoys: a client that lists or
    API_Reference/pymilvus/v2.6.x/About.md             downloads too much is caught

Usage::

    with FakeGitHub() as fake:                      # or FakeGitHub(versions=("v3.0.x",))
        source = GitHubSource(..., api_url=fake.api_url, raw_url=fake.raw_url,
                              token="ghp_testtoken")
        ...
        fake.set_file("v3.0.x/site/en/faq/product_faq.md", "# new\\n")   # a new commit
        fake.set_fault("rate_limit", times=1, host="api")

Only the stdlib is used. The server runs on 127.0.0.1 on a free port, in daemon threads;
``stop()`` returns promptly even while a "hang" fault sleeps.

Bases (GitHub Enterprise style; nothing else is served, everything else is a 404):
  ``fake.api_url`` = http://127.0.0.1:PORT/api/v3
  ``fake.raw_url`` = http://127.0.0.1:PORT/raw

API endpoints (GET; HEAD too). Owner and repo names are case-insensitive, like GitHub's:
  /repos/{o}/{r}                              repository (``default_branch`` "master", ...)
  /repos/{o}/{r}/commits/{ref}                a commit, with ``stats`` and ``files`` (first 300)
                                              ref: branch, heads/…, refs/heads/…, full or
                                              short (>= 4 hex) sha; unknown -> 422
                                              "No commit found for SHA: {ref}"
  /repos/{o}/{r}/branches/{branch}            branch; unknown -> 404 "Branch not found"
  /repos/{o}/{r}/git/trees/{tree-ish}         tree sha, commit sha (-> its tree) or branch name;
                                              ``?recursive=`` with ANY value recurses (as the
                                              docs say, even 0/false); unknown -> 404
  /repos/{o}/{r}/git/blobs/{sha}              blob, base64
  /repos/{o}/{r}/git/commits/{sha}            git commit object
  /repos/{o}/{r}/contents[/{path}]?ref=       file (base64 ``content``) or directory listing;
                                              ``Accept: application/vnd.github.raw`` -> bytes;
                                              bad ref -> 404 "No commit found for the ref {ref}"
  /rate_limit                                 rate-limit status (does not count)

Raw: ``{raw_url}/{o}/{r}/{ref}/{path}`` with ref = full commit sha, branch name or
``refs/heads/{branch}``; 200 ``text/plain; charset=utf-8`` + ``ETag`` (If-None-Match -> 304),
missing -> 404 ``404: Not Found``. No X-RateLimit headers, does not count against the limit.

Every API response has ``Content-Type: application/json; charset=utf-8``, ``X-RateLimit-Limit``
(60 unauthenticated, 5000 with a token), ``-Remaining``, ``-Used``, ``-Reset`` (epoch s),
``-Resource: core`` and ``X-GitHub-Request-Id``. The limit is enforced per fake and per token
(unauthenticated = one bucket): once used up -> 403 with GitHub's "API rate limit exceeded for
127.0.0.1. (But here's the good news: ...)" body. 404s, 422s and 401s count, like GitHub; a 304
to an authenticated conditional request does not. Errors are GitHub-shaped JSON
``{"message", "documentation_url", "status": "<code>"}``.

Auth: ``Authorization: Bearer <t>`` or ``token <t>``; ``fake.tokens`` (default
{"ghp_testtoken"}) are valid, anything else -> 401 "Bad credentials". The raw host ignores tokens
(the repository is public) but records whether one was sent.

Faults: ``set_fault(kind, times=1, host="any", match=None, delay=30.0, status=None,
retry_after=60)``; ``match`` is a regex searched in the request target as sent (path + query,
e.g. "/api/v3/repos/.../git/trees/...?recursive=1"). Kinds: rate_limit, secondary_rate_limit,
not_found, server_error (status 500/502/503, default 502), hang (sleep ``delay`` s or until
stop(), then close without answering), truncate (raw only: Content-Length larger than the body,
then close). Faults come before auth and routing; they do not use up the rate limit.

Counters: ``api_calls`` (API paths after the base, with query, every request incl. errors),
``raw_downloads`` (raw paths after the base, 200s only), ``requests`` (all: dicts with method,
path, host "api"|"raw"|"other", status, had_token, token); ``reset_counters()``.

Git object ids are real: a file's sha is ``git hash-object``'s, trees and commits hash like git.
"""

from __future__ import annotations

import base64
import calendar
import difflib
import hashlib
import json
import random
import re
import socket
import threading
import time
import zipfile
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlsplit

from ._http import FakeHandler, ServedFake

__all__ = [
    "FakeGitHub",
    "git_blob_sha",
    "git_tree_sha",
    "git_commit_sha",
    "DEFAULT_VERSIONS",
    "OWNER",
    "REPO",
    "BRANCH",
]

# --------------------------------------------------------------------------
# Static data
# --------------------------------------------------------------------------

OWNER = "milvus-io"
REPO = "web-content"
BRANCH = "master"
FULL_NAME = f"{OWNER}/{REPO}"
DEFAULT_VERSIONS = ("v2.4.x", "v2.5.x", "v2.6.x", "v3.0.x")
DATA_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data"

_DOCS = "https://docs.github.com/rest"
_DOC_REPO = _DOCS + "/repos/repos#get-a-repository"
_DOC_COMMIT = _DOCS + "/commits/commits#get-a-commit"
_DOC_BRANCH = _DOCS + "/branches/branches#get-a-branch"
_DOC_TREE = _DOCS + "/git/trees#get-a-tree"
_DOC_BLOB = _DOCS + "/git/blobs#get-a-blob"
_DOC_GIT_COMMIT = _DOCS + "/git/commits#get-a-commit-object"
_DOC_CONTENTS = _DOCS + "/repos/contents#get-repository-content"
_DOC_PRIMARY = _DOCS + "/overview/rate-limits-for-the-rest-api#about-primary-rate-limits"
_DOC_SECONDARY = (
    "https://docs.github.com/free-pro-team@latest/rest/overview/"
    "rate-limits-for-the-rest-api#about-secondary-rate-limits"
)

_UNAUTH_LIMIT = 60
_AUTH_LIMIT = 5000
_COMMIT_FILES_PAGE = 300  # GitHub returns at most 300 files per page of a commit

_FAULT_KINDS = {"rate_limit", "secondary_rate_limit", "not_found", "server_error", "hang", "truncate"}
_FAULT_HOSTS = {"api", "raw", "any"}

_SERVER_ERROR_BODIES = {
    500: "Server Error",
    502: "Server Error",
    503: (
        "No server is currently available to service your request. Sorry about that. "
        "Please try resubmitting your request and contact us if the problem persists."
    ),
}
_RAW_STATUS_TEXT = {
    404: "404: Not Found",
    429: "429: Too Many Requests",
    500: "500: Internal Server Error",
    502: "502: Bad Gateway",
    503: "503: Service Unavailable",
}

_README = (
    "# web-content\n\n"
    "The Markdown sources of the Milvus documentation rendered on https://milvus.io/docs.\n"
    "(Test fixture served by testkit/fakes/github_server.py.)\n"
)
_DECOYS = {
    "localization/v3.0.x/site/zh/faq/product_faq.md": (
        "---\nid: product_faq.md\ntitle: 产品常见问题\n---\n\n# 产品常见问题\n\nMilvus 是什么？\n"
    ),
    "API_Reference/pymilvus/v2.6.x/About.md": "# About PyMilvus\n\nPyMilvus is the Python SDK of Milvus.\n",
}

_BOT = ("milvus-docs-bot", "milvus-docs-bot@users.noreply.github.com")
_WEB_FLOW = ("GitHub", "noreply@github.com")
_BASE_TIME = calendar.timegm((2026, 8, 6, 0, 0, 0))


# --------------------------------------------------------------------------
# Git object hashing
# --------------------------------------------------------------------------


def git_blob_sha(data: bytes) -> str:
    """What ``git hash-object`` prints for a file with these bytes."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _tree_sort_key(entry) -> bytes:
    name, mode = entry[0], entry[1]
    return name.encode("utf-8") + (b"/" if mode == "40000" else b"")


def _tree_body(entries) -> bytes:
    return b"".join(
        b"%s %s\0" % (mode.encode(), name.encode("utf-8")) + bytes.fromhex(sha)
        for name, mode, _type, sha in entries
    )


def git_tree_sha(entries) -> str:
    """Git's tree id. ``entries``: iterable of (name, mode, type, sha) with mode "100644"
    (blob) or "40000" (tree); sorted here the way git sorts them."""
    body = _tree_body(sorted(entries, key=_tree_sort_key))
    return hashlib.sha1(b"tree %d\0" % len(body) + body).hexdigest()


def _commit_body(tree: str, parents, author, committer, ts: int, message: str) -> bytes:
    lines = [f"tree {tree}"]
    lines += [f"parent {p}" for p in parents]
    lines.append(f"author {author[0]} <{author[1]}> {ts} +0000")
    lines.append(f"committer {committer[0]} <{committer[1]}> {ts} +0000")
    text = "\n".join(lines) + "\n\n" + message.rstrip("\n") + "\n"
    return text.encode("utf-8")


def git_commit_sha(tree: str, parents, author, committer, ts: int, message: str) -> str:
    """Git's commit id for a commit with these fields (author/committer = (name, email),
    both dated ``ts`` in UTC)."""
    body = _commit_body(tree, parents, author, committer, ts, message)
    return hashlib.sha1(b"commit %d\0" % len(body) + body).hexdigest()


def _b64_lines(data: bytes) -> str:
    """Base64 the way GitHub sends ``content``: lines of 60 characters, each ending in "\\n"."""
    b64 = base64.b64encode(data).decode("ascii")
    return "".join(b64[i:i + 60] + "\n" for i in range(0, len(b64), 60))


def _iso(ts: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


# --------------------------------------------------------------------------
# The object store and the base repository (cached per process)
# --------------------------------------------------------------------------


class _Store:
    """Content-addressed git objects: blobs (bytes), trees (tuple of entries), commits."""

    def __init__(self):
        self.blobs: dict[str, bytes] = {}
        self.trees: dict[str, tuple] = {}  # sha -> sorted tuple of (name, mode, type, sha)
        self.commits: dict[str, dict] = {}

    def copy(self) -> "_Store":
        new = _Store()
        new.blobs = dict(self.blobs)
        new.trees = dict(self.trees)
        new.commits = dict(self.commits)
        return new

    def put_blob(self, data: bytes) -> str:
        sha = git_blob_sha(data)
        self.blobs.setdefault(sha, data)
        return sha

    def put_tree(self, entries) -> str:
        entries = tuple(sorted(entries, key=_tree_sort_key))
        body = _tree_body(entries)
        sha = hashlib.sha1(b"tree %d\0" % len(body) + body).hexdigest()
        self.trees.setdefault(sha, entries)
        return sha

    def put_commit(self, tree: str, parents: list, message: str, ts: int,
                   author=_BOT, committer=_WEB_FLOW) -> str:
        sha = git_commit_sha(tree, parents, author, committer, ts, message)
        self.commits.setdefault(sha, {
            "tree": tree, "parents": list(parents), "message": message.rstrip("\n"),
            "ts": ts, "author": author, "committer": committer,
        })
        return sha

    def build_tree(self, files: dict) -> str:
        """files: path -> blob sha; returns the root tree sha."""
        root: dict = {}
        for path, sha in files.items():
            node = root
            parts = path.split("/")
            for part in parts[:-1]:
                node = node.setdefault(part, {})
                if not isinstance(node, dict):
                    raise ValueError(f"{path}: a parent folder is a file")
            node[parts[-1]] = sha

        def walk(node: dict) -> str:
            entries = []
            for name, child in node.items():
                if isinstance(child, dict):
                    entries.append((name, "40000", "tree", walk(child)))
                else:
                    entries.append((name, "100644", "blob", child))
            return self.put_tree(entries)

        return walk(root)


_CACHE_LOCK = threading.Lock()
_ZIP_CACHE: dict[tuple[str, str], tuple[tuple[str, bytes], ...]] = {}
_BASE_CACHE: dict[tuple, tuple[_Store, list[str]]] = {}


def _zip_files(version: str, data_dir: Path) -> tuple[tuple[str, bytes], ...]:
    """(path under en/, bytes) for every file of one docs zip; cached."""
    key = (str(data_dir), version)
    with _CACHE_LOCK:
        hit = _ZIP_CACHE.get(key)
    if hit is not None:
        return hit
    zpath = data_dir / f"milvus_docs_{version.lstrip('v')}_en.zip"
    if not zpath.exists():
        raise FileNotFoundError(f"no docs zip for {version}: {zpath}")
    out = []
    with zipfile.ZipFile(zpath) as zf:
        for info in zf.infolist():
            if info.is_dir() or not info.filename.startswith("en/"):
                continue
            out.append((info.filename[len("en/"):], zf.read(info)))
    files = tuple(out)
    with _CACHE_LOCK:
        _ZIP_CACHE[key] = files
    return files


def _version_json(version: str, released: str = "yes") -> bytes:
    # Serialized like the real file: 4-space indent and a trailing newline.
    return (json.dumps({"version": version, "released": released}, indent=4) + "\n").encode()


def _build_base(versions: tuple, current: str, data_dir: Path, use_cache: bool = True):
    """(store, [initial commit, docs commit]) for these versions; cached."""
    key = (tuple(versions), current, str(data_dir))
    if use_cache:
        with _CACHE_LOCK:
            hit = _BASE_CACHE.get(key)
        if hit is not None:
            return hit
    store = _Store()
    readme = store.put_blob(_README.encode())
    first = store.put_commit(store.build_tree({"README.md": readme}), [], "Initial commit", _BASE_TIME - 86400)
    files = {"README.md": readme, "version.json": store.put_blob(_version_json(current))}
    for version in versions:
        prefix = f"{version}/site/en/"
        for rel, data in (_zip_files(version, data_dir) if use_cache else _zip_files_uncached(version, data_dir)):
            files[prefix + rel] = store.put_blob(data)
    for path, text in _DECOYS.items():
        files[path] = store.put_blob(text.encode("utf-8"))
    docs = store.put_commit(store.build_tree(files), [first], "Update docs", _BASE_TIME)
    result = (store, [first, docs])
    if use_cache:
        with _CACHE_LOCK:
            _BASE_CACHE[key] = result
    return result


def _zip_files_uncached(version: str, data_dir: Path):
    with _CACHE_LOCK:
        _ZIP_CACHE.pop((str(data_dir), version), None)
    return _zip_files(version, data_dir)


# --------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------


class _ApiError(Exception):
    def __init__(self, status: int, message: str, doc: str = _DOCS, headers: dict | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.doc = doc
        self.headers = headers or {}

    def body(self) -> dict:
        return {"message": self.message, "documentation_url": self.doc, "status": str(self.status)}


def _not_found(doc: str = _DOCS) -> _ApiError:
    return _ApiError(404, "Not Found", doc)


_HEX_RE = re.compile(r"^[0-9a-f]{4,40}$")


# --------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------


class _Handler(FakeHandler):
    server_version = "GitHub.com"

    def version_string(self) -> str:
        return "GitHub.com"

    def do_GET(self):
        self._dispatch("GET")

    def do_HEAD(self):
        self._dispatch("HEAD")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_PATCH(self):
        self._dispatch("PATCH")

    def do_DELETE(self):
        self._dispatch("DELETE")

    # -- plumbing -------------------------------------------------------------

    def _drain_body(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)

    def _send(self, status: int, body: bytes, headers: dict, head: bool) -> None:
        # Record before writing, so a client that has its answer sees it counted.
        self._entry["status"] = status
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        if status != 304:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head and status != 304:
            self.wfile.write(body)
        self.wfile.flush()

    def _abort(self) -> None:
        """Close the connection without (finishing) an answer."""
        self.close_connection = True
        try:
            self.wfile.flush()
        except OSError:
            pass
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _dispatch(self, method: str) -> None:
        fake = self.fake
        self._drain_body()
        target = self.path
        split = urlsplit(target)
        path = split.path
        auth = self.headers.get("Authorization")
        if path == "/api/v3" or path.startswith("/api/v3/"):
            host, rel = "api", path[len("/api/v3"):]
        elif path.startswith("/raw/"):
            host, rel = "raw", path[len("/raw"):]
        else:
            host, rel = "other", path
        token = _parse_token(auth) if auth is not None else None
        self._entry = {
            "method": method, "path": target, "host": host, "status": None,
            "had_token": auth is not None, "token": token,
        }
        fake._record(self._entry, host, rel + (("?" + split.query) if split.query else ""))
        head = method == "HEAD"
        if host == "other":
            err = _not_found()
            self._send(404, _json_bytes(err.body()), {"Content-Type": "application/json; charset=utf-8"}, head)
            return
        fault = fake._take_fault(host, target)
        if host == "api":
            self._api(method, rel, split.query, auth, token, fault, head)
        else:
            self._raw(method, rel, fault, head)

    # -- API --------------------------------------------------------------------

    def _api(self, method, rel, query, auth, token, fault, head) -> None:
        fake = self.fake
        valid = auth is not None and token is not None and token in fake.tokens
        bucket = token if valid else None
        rid = _request_id()

        if fault is not None:
            kind = fault["kind"]
            if kind == "hang":
                fake._sleep(fault["delay"])
                self._abort()
                return
            limit, used = fake._peek(bucket)
            if kind == "rate_limit":
                err = _primary_error(bucket, self.client_address[0], rid)
                self._api_send(err.status, err.body(), _rate_headers(limit, 0, limit, fake.rate_reset, rid),
                               head, bucket)
                return
            if kind == "secondary_rate_limit":
                status = fault["status"] or 403
                err = _ApiError(status, (
                    "You have exceeded a secondary rate limit. Please wait a few minutes before you "
                    f"try again. If you reach out to GitHub Support for help, please include the request ID {rid}."
                ), _DOC_SECONDARY)
                headers = _rate_headers(limit, limit - used, used, fake.rate_reset, rid)
                headers["Retry-After"] = str(fault["retry_after"])
                self._api_send(status, err.body(), headers, head, bucket)
                return
            if kind == "not_found":
                self._api_send(404, _not_found().body(), _rate_headers(limit, limit - used, used, fake.rate_reset, rid),
                               head, bucket)
                return
            if kind == "server_error":
                status = fault["status"] or 502
                body = {"message": _SERVER_ERROR_BODIES[status], "documentation_url": _DOCS, "status": str(status)}
                self._api_send(status, body, _rate_headers(limit, limit - used, used, fake.rate_reset, rid),
                               head, bucket)
                return

        if rel == "/rate_limit" and method in ("GET", "HEAD"):
            if auth is not None and not valid:
                pass  # falls through to the 401 below
            else:
                limit, used = fake._peek(bucket)
                core = {"limit": limit, "used": used, "remaining": limit - used, "reset": fake.rate_reset,
                        "resource": "core"}
                body = {"resources": {"core": core}, "rate": core}
                self._api_send(200, body, _rate_headers(limit, limit - used, used, fake.rate_reset, rid),
                               head, bucket)
                return

        # Every other request is counted (401s against the unauthenticated bucket).
        ok, limit, used = fake._consume(bucket)
        if not ok:
            err = _primary_error(bucket, self.client_address[0], rid)
            self._api_send(err.status, err.body(), _rate_headers(limit, 0, limit, fake.rate_reset, rid), head, bucket)
            return
        headers = _rate_headers(limit, limit - used, used, fake.rate_reset, rid)
        if auth is not None and not valid:
            self._api_send(401, _ApiError(401, "Bad credentials").body(), headers, head, bucket)
            return
        try:
            if method not in ("GET", "HEAD"):
                raise _not_found()
            result = fake._route(rel, query, self.headers)
        except _ApiError as err:
            self._api_send(err.status, err.body(), {**headers, **err.headers}, head, bucket)
            return
        if isinstance(result, tuple):  # (raw bytes, content type): Accept: ...raw on contents
            data, ctype = result
            headers = {**headers, "Content-Type": ctype}
            self._api_send(200, None, headers, head, bucket, raw=data)
        else:
            self._api_send(200, result, headers, head, bucket)

    def _api_send(self, status, obj, headers, head, bucket, raw: bytes | None = None) -> None:
        fake = self.fake
        data = raw if raw is not None else _json_bytes(obj)
        out = {
            "Content-Type": "application/json; charset=utf-8",
            "X-GitHub-Media-Type": "github.v3; format=json",
            "X-GitHub-Api-Version-Selected": "2022-11-28",
        }
        out.update(headers)
        if status == 200:
            etag = 'W/"%s"' % hashlib.sha256(data).hexdigest()
            out["ETag"] = etag
            out["Cache-Control"] = ("private" if bucket else "public") + ", max-age=60, s-maxage=60"
            out["Vary"] = "Accept, Authorization, Cookie, X-GitHub-OTP"
            inm = self.headers.get("If-None-Match")
            if inm and etag in [t.strip() for t in inm.split(",")]:
                if bucket is not None:
                    # Authorized conditional requests answered 304 do not count.
                    limit, used = fake._refund(bucket)
                    out.update({"X-RateLimit-Remaining": str(limit - used), "X-RateLimit-Used": str(used)})
                out.pop("Content-Type", None)
                self._send(304, b"", out, head)
                return
        self._send(status, data, out, head)

    # -- raw --------------------------------------------------------------------

    def _raw(self, method, rel, fault, head) -> None:
        fake = self.fake
        base = {"X-GitHub-Request-Id": _request_id()}
        text = {"Content-Type": "text/plain; charset=utf-8", **base}
        if fault is not None:
            kind = fault["kind"]
            if kind == "hang":
                fake._sleep(fault["delay"])
                self._abort()
                return
            if kind in ("rate_limit", "secondary_rate_limit"):
                self._send(429, _RAW_STATUS_TEXT[429].encode(), {**text, "Retry-After": str(fault["retry_after"])},
                           head)
                return
            if kind == "not_found":
                self._send(404, _RAW_STATUS_TEXT[404].encode(), text, head)
                return
            if kind == "server_error":
                status = fault["status"] or 502
                self._send(status, _RAW_STATUS_TEXT[status].encode(), text, head)
                return
        data = fake._raw_lookup(rel) if method in ("GET", "HEAD") else None
        if data is None:
            self._send(404, _RAW_STATUS_TEXT[404].encode(), text, head)
            return
        etag = '"%s"' % hashlib.sha256(data).hexdigest()
        headers = {**text, "ETag": etag, "Cache-Control": "max-age=300", "Accept-Ranges": "bytes",
                   "X-Content-Type-Options": "nosniff"}
        inm = self.headers.get("If-None-Match")
        if inm and etag in [t.strip() for t in inm.split(",")]:
            headers.pop("Content-Type")
            self._send(304, b"", headers, head)
            return
        if fault is not None and fault["kind"] == "truncate":
            self._entry["status"] = 200
            self.send_response(200)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data) + 1024))
            self.end_headers()
            if not head:
                self.wfile.write(data[: len(data) // 2])
            self._abort()
            return
        if method == "GET":
            fake._raw_served(rel)
        self._send(200, data, headers, head)


def _parse_token(header: str) -> str | None:
    parts = header.strip().split(None, 1)
    if len(parts) == 2 and parts[0].lower() in ("bearer", "token") and parts[1].strip():
        return parts[1].strip()
    return None


def _json_bytes(obj) -> bytes:
    return json.dumps(obj, indent=2, ensure_ascii=False).encode("utf-8")


def _request_id() -> str:
    r = random.Random()
    return "%04X:%04X:%X:%X:%08X" % (r.getrandbits(16), r.getrandbits(16), r.getrandbits(28),
                                     r.getrandbits(28), int(time.time()))


def _rate_headers(limit: int, remaining: int, used: int, reset: int, rid: str) -> dict:
    return {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(max(0, remaining)),
        "X-RateLimit-Reset": str(reset),
        "X-RateLimit-Used": str(used),
        "X-RateLimit-Resource": "core",
        "X-GitHub-Request-Id": rid,
        "Access-Control-Expose-Headers": (
            "ETag, Link, Location, Retry-After, X-GitHub-OTP, X-RateLimit-Limit, X-RateLimit-Remaining, "
            "X-RateLimit-Used, X-RateLimit-Resource, X-RateLimit-Reset, X-OAuth-Scopes, "
            "X-Accepted-OAuth-Scopes, X-Poll-Interval, X-GitHub-Media-Type, X-GitHub-SSO, "
            "X-GitHub-Request-Id, Deprecation, Sunset"
        ),
    }


def _primary_error(bucket: str | None, ip: str, rid: str) -> _ApiError:
    if bucket is None:
        msg = (f"API rate limit exceeded for {ip}. (But here's the good news: Authenticated requests get a "
               "higher rate limit. Check out the documentation for more details.)")
    else:
        uid = int(hashlib.sha1(bucket.encode()).hexdigest()[:7], 16)
        msg = (f"API rate limit exceeded for user ID {uid}. If you reach out to GitHub Support for help, "
               f"please include the request ID {rid}.")
    return _ApiError(403, msg, _DOC_PRIMARY)


# --------------------------------------------------------------------------
# The fake
# --------------------------------------------------------------------------


class FakeGitHub(ServedFake):
    """In-process fake GitHub API + raw host for milvus-io/web-content (see module docstring)."""

    owner = OWNER
    repo = REPO
    branch = BRANCH

    def __init__(self, versions=DEFAULT_VERSIONS, current: str = "v3.0.x", tokens=("ghp_testtoken",),
                 data_dir: Path | str | None = None):
        self.versions = tuple(versions)
        self.current = current
        self.tokens: set[str] = set(tokens)
        self.data_dir = Path(data_dir) if data_dir else DATA_DIR
        base, history = _build_base(self.versions, current, self.data_dir)
        self._store = base.copy()
        self._refs = {BRANCH: history[-1]}
        self.commits: list[str] = list(history)  # every commit made on master, oldest first
        self._clock = _BASE_TIME
        self.api_url = ""
        self.raw_url = ""
        self.base_url = ""
        self.api_calls: list[str] = []
        self.raw_downloads: list[str] = []
        self.requests: list[dict] = []
        self.rate_reset = int(time.time()) + 3600
        self._used: dict[str | None, int] = {}
        self._lock = threading.RLock()
        self._faults: list[dict] = []
        self._init_server()
        self._json_cache: dict = {}

    # -- lifecycle ------------------------------------------------------------

    handler = _Handler

    def _on_start(self, port: int) -> None:
        self.base_url = f"http://127.0.0.1:{port}"
        self.api_url = f"{self.base_url}/api/v3"
        self.raw_url = f"{self.base_url}/raw"

    # -- repository state -----------------------------------------------------

    @property
    def head(self) -> str:
        """The commit sha master points at."""
        with self._lock:
            return self._refs[BRANCH]

    def tree_of(self, ref: str | None = None) -> str:
        """Root tree sha of a commit (default: head)."""
        with self._lock:
            return self._store.commits[self._resolve_commit(ref or BRANCH)]["tree"]

    def sha_at(self, path: str, ref: str | None = None) -> str | None:
        """Blob or tree sha at ``path`` ("" = root) in a commit (default head); None if absent."""
        with self._lock:
            found = self._lookup(self.tree_of(ref), path)
        return found[2] if found else None

    def read(self, path: str, ref: str | None = None) -> bytes:
        """A file's bytes at a commit (default head)."""
        with self._lock:
            found = self._lookup(self.tree_of(ref), path)
            if not found or found[1] != "blob":
                raise FileNotFoundError(path)
            return self._store.blobs[found[2]]

    def files(self, prefix: str = "", ref: str | None = None) -> dict[str, str]:
        """path -> blob sha for every file under ``prefix`` (a folder, "" = all) at a commit."""
        with self._lock:
            root = self.tree_of(ref)
            if prefix.strip("/"):
                found = self._lookup(root, prefix)
                if not found or found[1] != "tree":
                    return {}
                start, pre = found[2], prefix.strip("/") + "/"
            else:
                start, pre = root, ""
            return {pre + p: sha for p, mode, typ, sha in self._walk(start) if typ == "blob"}

    def set_file(self, path: str, content: str | bytes, message: str | None = None) -> str:
        """Write a file on master as a new commit; returns the new head sha."""
        data = content.encode("utf-8") if isinstance(content, str) else bytes(content)
        with self._lock:
            blob = self._store.put_blob(data)
            tree = self._write(self.tree_of(), _split(path), blob)
            return self._commit(tree, message or f"Update {path}")

    def delete_file(self, path: str, message: str | None = None) -> str:
        """Delete a file on master as a new commit (emptied folders disappear, like in git)."""
        with self._lock:
            tree = self._write(self.tree_of(), _split(path), None)
            if tree is None:
                tree = self._store.put_tree([])
            return self._commit(tree, message or f"Delete {path}")

    def set_version_json(self, version: str, released: str = "yes") -> str:
        """Rewrite version.json (``{"version": ..., "released": ...}``) as a new commit."""
        return self.set_file("version.json", _version_json(version, released), f"Release {version}")

    # -- rate limit, tokens ------------------------------------------------------

    def set_remaining(self, n: int, token=...) -> None:
        """Set X-RateLimit-Remaining for a bucket: ``token=None`` unauthenticated, a token string
        that token, default (...) the unauthenticated bucket and every token in ``tokens``."""
        keys = [None, *self.tokens] if token is ... else [token]
        with self._lock:
            for key in keys:
                limit = _AUTH_LIMIT if key is not None else _UNAUTH_LIMIT
                if not 0 <= n <= limit:
                    raise ValueError(f"remaining must be in [0, {limit}]")
                self._used[key] = limit - n

    def remaining(self, token: str | None = None) -> int:
        limit, used = self._peek(token)
        return limit - used

    def reset_rate_limits(self) -> None:
        with self._lock:
            self._used.clear()
            self.rate_reset = int(time.time()) + 3600

    # -- faults & counters ----------------------------------------------------

    def set_fault(self, kind: str, times: int | None = 1, host: str = "any", match: str | None = None,
                  delay: float = 30.0, status: int | None = None, retry_after: int = 60) -> None:
        """Queue a fault (see module docstring). ``times=None`` means forever."""
        if kind not in _FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {sorted(_FAULT_KINDS)}")
        if host not in _FAULT_HOSTS:
            raise ValueError(f"unknown fault host {host!r}; expected one of {sorted(_FAULT_HOSTS)}")
        if kind == "truncate" and host == "api":
            raise ValueError("truncate is a raw-host fault")
        if times is not None and times < 1:
            raise ValueError("times must be >= 1 or None")
        if status is not None:
            allowed = {"server_error": (500, 502, 503), "secondary_rate_limit": (403, 429)}.get(kind, ())
            if status not in allowed:
                raise ValueError(f"status {status} is not allowed for {kind}")
        with self._lock:
            self._faults.append({
                "kind": kind, "times": times, "host": host,
                "match": re.compile(match) if match is not None else None,
                "delay": float(delay), "status": status, "retry_after": int(retry_after),
            })

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def reset_counters(self) -> None:
        with self._lock:
            self.api_calls.clear()
            self.raw_downloads.clear()
            self.requests.clear()

    # -- internals: state ---------------------------------------------------------

    def _commit(self, tree: str, message: str) -> str:
        self._clock += 60
        parent = self._refs[BRANCH]
        sha = self._store.put_commit(tree, [parent], message, self._clock)
        self._refs[BRANCH] = sha
        self.commits.append(sha)
        return sha

    def _write(self, tree_sha: str | None, parts: list[str], blob: str | None) -> str | None:
        entries = {e[0]: e for e in self._store.trees[tree_sha]} if tree_sha else {}
        name = parts[0]
        child = entries.get(name)
        if len(parts) == 1:
            if blob is None:
                if child is None or child[2] != "blob":
                    raise FileNotFoundError("/".join(parts))
                del entries[name]
            else:
                if child is not None and child[2] == "tree":
                    raise IsADirectoryError(name)
                entries[name] = (name, "100644", "blob", blob)
        else:
            if child is not None and child[2] != "tree":
                raise NotADirectoryError(name)
            if child is None and blob is None:
                raise FileNotFoundError("/".join(parts))
            new = self._write(child[3] if child else None, parts[1:], blob)
            if new is None:
                entries.pop(name, None)
            else:
                entries[name] = (name, "40000", "tree", new)
        if not entries:
            return None
        return self._store.put_tree(entries.values())

    def _lookup(self, tree_sha: str, path: str):
        """(name, type, sha) of the entry at path, ("", "tree", root) for "", or None."""
        parts = [p for p in path.strip("/").split("/") if p]
        found = ("", "tree", tree_sha)
        for part in parts:
            if found[1] != "tree":
                return None
            for name, _mode, typ, sha in self._store.trees[found[2]]:
                if name == part:
                    found = (name, typ, sha)
                    break
            else:
                return None
        return found

    def _walk(self, tree_sha: str, prefix: str = ""):
        """Pre-order (git ls-tree -r -t order): (path, mode, type, sha)."""
        for name, mode, typ, sha in self._store.trees[tree_sha]:
            path = prefix + name
            yield path, mode, typ, sha
            if typ == "tree":
                yield from self._walk(sha, path + "/")

    def _resolve_commit(self, ref: str, short: bool = True) -> str | None:
        """Commit sha for a branch / heads/… / refs/heads/… / (short) sha, else None."""
        for pre in ("refs/heads/", "heads/"):
            if ref.startswith(pre):
                ref = ref[len(pre):]
                break
        if ref in self._refs:
            return self._refs[ref]
        if ref in self._store.commits:
            return ref
        if short and _HEX_RE.match(ref) and len(ref) < 40:
            hits = [c for c in self._store.commits if c.startswith(ref)]
            if len(hits) == 1:
                return hits[0]
        return None

    # -- internals: rate limit, faults, counters -------------------------------

    def _peek(self, bucket) -> tuple[int, int]:
        limit = _AUTH_LIMIT if bucket is not None else _UNAUTH_LIMIT
        with self._lock:
            return limit, self._used.get(bucket, 0)

    def _consume(self, bucket) -> tuple[bool, int, int]:
        limit = _AUTH_LIMIT if bucket is not None else _UNAUTH_LIMIT
        with self._lock:
            used = self._used.get(bucket, 0)
            if used >= limit:
                return False, limit, limit
            self._used[bucket] = used + 1
            return True, limit, used + 1

    def _refund(self, bucket) -> tuple[int, int]:
        limit = _AUTH_LIMIT if bucket is not None else _UNAUTH_LIMIT
        with self._lock:
            self._used[bucket] = max(0, self._used.get(bucket, 0) - 1)
            return limit, self._used[bucket]

    def _take_fault(self, host: str, target: str):
        with self._lock:
            for f in self._faults:
                if f["host"] not in ("any", host):
                    continue
                if f["kind"] == "truncate" and host != "raw":
                    continue
                if f["match"] is not None and not f["match"].search(target):
                    continue
                if f["times"] is not None:
                    f["times"] -= 1
                    if f["times"] <= 0:
                        self._faults.remove(f)
                return dict(f)
        return None

    def _record(self, entry: dict, host: str, rel: str) -> None:
        with self._lock:
            self.requests.append(entry)
            if host == "api":
                self.api_calls.append(rel)

    def _raw_served(self, rel: str) -> None:
        with self._lock:
            self.raw_downloads.append(rel)

    def _sleep(self, seconds: float) -> None:
        if seconds and seconds > 0:
            self._stopping.wait(seconds)

    # -- internals: raw ---------------------------------------------------------------

    def _raw_lookup(self, rel: str) -> bytes | None:
        segs = [unquote(s) for s in rel.split("/")[1:]]
        if len(segs) < 4 or segs[0].lower() != OWNER or segs[1].lower() != REPO:
            return None
        rest = segs[2:]
        if rest[0] == "refs" and len(rest) >= 4 and rest[1] == "heads":
            ref, path = rest[2], rest[3:]
        else:
            ref, path = rest[0], rest[1:]
        if not path or any(p == "" for p in path):
            return None
        with self._lock:
            commit = self._refs.get(ref) or (ref if re.fullmatch(r"[0-9a-f]{40}", ref) and
                                             ref in self._store.commits else None)
            if commit is None:
                return None
            found = self._lookup(self._store.commits[commit]["tree"], "/".join(path))
            if not found or found[1] != "blob":
                return None
            return self._store.blobs[found[2]]

    # -- internals: API routes -----------------------------------------------------

    def _repo_url(self) -> str:
        return f"{self.api_url}/repos/{FULL_NAME}"

    def _route(self, rel: str, query: str, headers):
        segs = rel.split("/")[1:]
        if segs[:1] != ["repos"] or len(segs) < 3:
            raise _not_found()
        if segs[1].lower() != OWNER or segs[2].lower() != REPO:
            raise _not_found(_DOC_REPO)
        rest = [unquote(s) for s in segs[3:]]
        params = parse_qs(query, keep_blank_values=True)
        with self._lock:
            if not rest:
                return self._repo_json()
            kind, args = rest[0], rest[1:]
            if kind == "commits" and args and all(args):
                ref = "/".join(args)
                sha = self._resolve_commit(ref)
                if sha is None:
                    raise _ApiError(422, f"No commit found for SHA: {ref}", _DOC_COMMIT)
                return self._commit_json(sha, files=True)
            if kind == "branches" and args and all(args):
                name = "/".join(args)
                if name not in self._refs:
                    raise _ApiError(404, "Branch not found", _DOC_BRANCH)
                return self._branch_json(name)
            if kind == "git" and len(args) >= 2 and all(args):
                what, ident = args[0], "/".join(args[1:])
                if what == "trees":
                    return self._tree_json(ident, "recursive" in params)
                if what == "blobs":
                    if ident not in self._store.blobs:
                        raise _not_found(_DOC_BLOB)
                    return self._blob_json(ident)
                if what == "commits":
                    if ident not in self._store.commits:
                        raise _not_found(_DOC_GIT_COMMIT)
                    return self._git_commit_json(ident)
            if kind == "contents" and args[-1:] == [""]:
                args = args[:-1]  # "contents/" = the root folder
            if kind == "contents" and all(args):
                ref = (params.get("ref") or [""])[0] or BRANCH
                return self._contents(ref, "/".join(args), headers)
        raise _not_found()

    def _repo_json(self) -> dict:
        url = self._repo_url()
        owner = {
            "login": OWNER, "id": 51735404, "node_id": "MDEyOk9yZ2FuaXphdGlvbjUxNzM1NDA0",
            "avatar_url": "https://avatars.githubusercontent.com/u/51735404?v=4", "gravatar_id": "",
            "url": f"{self.api_url}/users/{OWNER}", "html_url": f"https://github.com/{OWNER}",
            "type": "Organization", "user_view_type": "public", "site_admin": False,
        }
        return {
            "id": 287112387, "node_id": "MDEwOlJlcG9zaXRvcnkyODcxMTIzODc=", "name": REPO,
            "full_name": FULL_NAME, "private": False, "owner": owner,
            "html_url": f"https://github.com/{FULL_NAME}", "description": "Milvus documentation content",
            "fork": False, "url": url,
            "commits_url": url + "/commits{/sha}", "branches_url": url + "/branches{/branch}",
            "trees_url": url + "/git/trees{/sha}", "blobs_url": url + "/git/blobs{/sha}",
            "contents_url": url + "/contents/{+path}",
            "git_url": f"git://github.com/{FULL_NAME}.git", "clone_url": f"https://github.com/{FULL_NAME}.git",
            "created_at": "2020-08-12T21:37:32Z", "updated_at": _iso(self._store.commits[self.head]["ts"]),
            "pushed_at": _iso(self._store.commits[self.head]["ts"]),
            "size": 0, "stargazers_count": 42, "watchers_count": 42, "language": None,
            "has_issues": True, "has_projects": True, "has_downloads": True, "has_wiki": False,
            "has_pages": False, "has_discussions": False, "forks_count": 70, "archived": False,
            "disabled": False, "open_issues_count": 3, "license": None, "allow_forking": True,
            "is_template": False, "topics": [], "visibility": "public", "forks": 70,
            "open_issues": 3, "watchers": 42, "default_branch": BRANCH,
            "network_count": 70, "subscribers_count": 12,
        }

    def _commit_json(self, sha: str, files: bool) -> dict:
        c = self._store.commits[sha]
        url = self._repo_url()
        who = lambda p: {"name": p[0], "email": p[1], "date": _iso(c["ts"])}  # noqa: E731
        out = {
            "sha": sha,
            "node_id": "C_kwDOESz" + base64.b64encode(bytes.fromhex(sha)).decode().rstrip("=").replace("+", "-")
            .replace("/", "_"),
            "commit": {
                "author": who(c["author"]),
                "committer": who(c["committer"]),
                "message": c["message"],
                "tree": {"sha": c["tree"], "url": f"{url}/git/trees/{c['tree']}"},
                "url": f"{url}/git/commits/{sha}",
                "comment_count": 0,
                "verification": {"verified": False, "reason": "unsigned", "signature": None,
                                 "payload": None, "verified_at": None},
            },
            "url": f"{url}/commits/{sha}",
            "html_url": f"https://github.com/{FULL_NAME}/commit/{sha}",
            "comments_url": f"{url}/commits/{sha}/comments",
            "author": None,
            "committer": {"login": "web-flow", "id": 19864447, "type": "User", "site_admin": False,
                          "url": f"{self.api_url}/users/web-flow", "html_url": "https://github.com/web-flow"},
            "parents": [{"sha": p, "url": f"{url}/commits/{p}",
                         "html_url": f"https://github.com/{FULL_NAME}/commit/{p}"} for p in c["parents"]],
        }
        if files:
            changed = self._diff(c["parents"][0] if c["parents"] else None, sha)
            adds = sum(f["additions"] for f in changed)
            dels = sum(f["deletions"] for f in changed)
            out["stats"] = {"total": adds + dels, "additions": adds, "deletions": dels}
            out["files"] = changed[:_COMMIT_FILES_PAGE]
        return out

    def _diff(self, parent: str | None, sha: str) -> list[dict]:
        key = ("diff", parent, sha)
        if key in self._json_cache:
            return self._json_cache[key]
        old_root = self._store.commits[parent]["tree"] if parent else None
        new_root = self._store.commits[sha]["tree"]
        changes: list[tuple[str, str | None, str | None]] = []

        def entries(tree):
            return {e[0]: e for e in self._store.trees[tree]} if tree else {}

        def walk(old, new, prefix):
            if old == new:
                return
            a, b = entries(old), entries(new)
            for name in sorted(set(a) | set(b)):
                ea, eb = a.get(name), b.get(name)
                if ea and eb and ea[3] == eb[3]:
                    continue
                ta = ea[3] if ea and ea[2] == "tree" else None
                tb = eb[3] if eb and eb[2] == "tree" else None
                if ta or tb:
                    walk(ta, tb, prefix + name + "/")
                ba = ea[3] if ea and ea[2] == "blob" else None
                bb = eb[3] if eb and eb[2] == "blob" else None
                if ba or bb:
                    changes.append((prefix + name, ba, bb))

        walk(old_root, new_root, "")
        url = self._repo_url()
        out = []
        for path, old, new in changes:
            a = self._store.blobs[old].decode("utf-8", "replace").splitlines() if old else []
            b = self._store.blobs[new].decode("utf-8", "replace").splitlines() if new else []
            if old and new:
                adds = dels = 0
                for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
                    if tag in ("replace", "delete"):
                        dels += i2 - i1
                    if tag in ("replace", "insert"):
                        adds += j2 - j1
                status = "modified"
            elif new:
                adds, dels, status = len(b), 0, "added"
            else:
                adds, dels, status = 0, len(a), "removed"
            qpath = quote(path)
            out.append({
                "sha": new or old, "filename": path, "status": status,
                "additions": adds, "deletions": dels, "changes": adds + dels,
                "blob_url": f"https://github.com/{FULL_NAME}/blob/{sha}/{qpath}",
                "raw_url": f"https://github.com/{FULL_NAME}/raw/{sha}/{qpath}",
                "contents_url": f"{url}/contents/{qpath}?ref={sha}",
            })
        self._json_cache[key] = out
        return out

    def _branch_json(self, name: str) -> dict:
        url = self._repo_url()
        return {
            "name": name,
            "commit": self._commit_json(self._refs[name], files=False),
            "_links": {"self": f"{url}/branches/{name}", "html": f"https://github.com/{FULL_NAME}/tree/{name}"},
            "protected": False,
            "protection": {"enabled": False,
                           "required_status_checks": {"enforcement_level": "off", "contexts": [], "checks": []}},
            "protection_url": f"{url}/branches/{name}/protection",
        }

    def _tree_json(self, ident: str, recursive: bool) -> dict:
        if ident in self._store.trees:
            tree = ident
        else:
            commit = self._resolve_commit(ident, short=False)
            if commit is None:
                raise _not_found(_DOC_TREE)
            tree = self._store.commits[commit]["tree"]
        url = self._repo_url()
        key = ("tree", tree, recursive, url)
        hit = self._json_cache.get(key)
        if hit is None:
            rows = self._walk(tree) if recursive else (
                (name, mode, typ, sha) for name, mode, typ, sha in self._store.trees[tree])
            entries = []
            for path, mode, typ, sha in rows:
                if typ == "blob":
                    entries.append({"path": path, "mode": mode, "type": "blob", "sha": sha,
                                    "size": len(self._store.blobs[sha]), "url": f"{url}/git/blobs/{sha}"})
                else:
                    entries.append({"path": path, "mode": "040000", "type": "tree", "sha": sha,
                                    "url": f"{url}/git/trees/{sha}"})
            hit = {"sha": tree, "url": f"{url}/git/trees/{tree}", "tree": entries, "truncated": False}
            self._json_cache[key] = hit
        return hit

    def _blob_json(self, sha: str) -> dict:
        data = self._store.blobs[sha]
        return {
            "sha": sha, "node_id": "B_kwDOESz" + sha[:20], "size": len(data),
            "url": f"{self._repo_url()}/git/blobs/{sha}",
            "content": _b64_lines(data), "encoding": "base64",
        }

    def _git_commit_json(self, sha: str) -> dict:
        full = self._commit_json(sha, files=False)
        out = dict(full["commit"])
        out.update({"sha": sha, "node_id": full["node_id"], "html_url": full["html_url"],
                    "parents": full["parents"]})
        out.pop("comment_count", None)
        return out

    def _contents(self, ref: str, path: str, headers):
        commit = self._resolve_commit(ref)
        if commit is None:
            raise _ApiError(404, f"No commit found for the ref {ref}", _DOC_CONTENTS)
        found = self._lookup(self._store.commits[commit]["tree"], path)
        if found is None:
            raise _not_found(_DOC_CONTENTS)
        url = self._repo_url()
        q = quote(ref, safe="")

        def item(p: str, typ: str, sha: str) -> dict:
            qp = quote(p)
            is_file = typ == "blob"
            self_url = f"{url}/contents/{qp}?ref={q}"
            git_url = f"{url}/git/{'blobs' if is_file else 'trees'}/{sha}"
            html_url = f"https://github.com/{FULL_NAME}/{'blob' if is_file else 'tree'}/{ref}/{qp}"
            return {
                "name": p.rsplit("/", 1)[-1], "path": p, "sha": sha,
                "size": len(self._store.blobs[sha]) if is_file else 0,
                "url": self_url, "html_url": html_url, "git_url": git_url,
                "download_url": f"{self.raw_url}/{FULL_NAME}/{ref}/{qp}" if is_file else None,
                "type": "file" if is_file else "dir",
                "_links": {"self": self_url, "git": git_url, "html": html_url},
            }

        clean = "/".join(p for p in path.split("/") if p)
        if found[1] == "tree":
            return [item((clean + "/" if clean else "") + name, typ, sha)
                    for name, _mode, typ, sha in self._store.trees[found[2]]]
        data = self._store.blobs[found[2]]
        accept = (headers.get("Accept") or "").lower()
        if "vnd.github.raw" in accept or "vnd.github.v3.raw" in accept:
            return data, "application/vnd.github.raw; charset=utf-8"
        out = item(clean, "blob", found[2])
        if len(data) > 1024 * 1024:  # 1-100 MB files come back without content
            out.update({"content": "", "encoding": "none"})
        else:
            out.update({"content": _b64_lines(data), "encoding": "base64"})
        return out


def _split(path: str) -> list[str]:
    parts = [p for p in path.strip("/").split("/") if p]
    if not parts or any(p in (".", "..") for p in parts):
        raise ValueError(f"bad repository path {path!r}")
    return parts
