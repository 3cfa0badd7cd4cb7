"""Docs from a GitHub repository laid out like milvus-io/web-content.

`<version>/site/<glob>` per version; `version.json` at the root names the current one.
Listing costs a handful of REST API calls (repository, commit, root tree, one recursive tree
per version); file contents come from the raw host at the listed commit, and each file is
kept in a cache by its git blob SHA, so a file that has not changed upstream is never
downloaded again. Everything is listed and downloaded before the pipeline changes the
collection: a failure loses nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

from .. import versions as V
from .base import Document, SourceError, VersionDocs, decode, expand_fragments, includes, select

log = logging.getLogger(__name__)

_SPEC = re.compile(r"^github:([A-Za-z0-9][\w.-]*)/([\w.-]+?)(?:@(.+))?$")
_VERSION_DIR = re.compile(r"^v\d+\.\d+\.x$")
DOWNLOAD_THREADS = 8


def parse_spec(spec: str) -> tuple[str, str, str | None]:
    m = _SPEC.match(spec.strip())
    if not m:
        raise SourceError(f"FAQBOT_DOCS_SOURCE {spec!r}: expected github:owner/repo or github:owner/repo@ref.")
    return m.group(1), m.group(2), m.group(3)


def blob_sha(data: bytes) -> str:
    """The git blob id of `data` (what GitHub's trees list as `sha`)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class GitHubSource:
    def __init__(self, spec: str, cache_dir: Path, api_url: str = "https://api.github.com",
                 raw_url: str = "https://raw.githubusercontent.com", token: str = "", timeout: float = 30.0):
        self.owner, self.repo, self.ref = parse_spec(spec)
        self.label = f"github:{self.owner}/{self.repo}" + (f"@{self.ref}" if self.ref else "")
        self.api_url = api_url.rstrip("/")
        self.raw_url = raw_url.rstrip("/")
        self.timeout = timeout
        self.blobs = cache_dir / "github-blobs"
        self.downloads = 0
        self.api_calls = 0
        self._session = _session(token)

    # ---- HTTP ---------------------------------------------------------------------------
    def _api(self, path: str, what: str) -> dict:
        import requests

        url = f"{self.api_url}/repos/{self.owner}/{self.repo}/{path}".rstrip("/")
        self.api_calls += 1
        try:
            resp = self._session.get(url, timeout=(min(self.timeout, 10), self.timeout),
                                     headers={"Accept": "application/vnd.github+json",
                                              "X-GitHub-Api-Version": "2022-11-28"})
        except requests.RequestException as exc:
            raise SourceError(
                f"GitHub is unreachable at GITHUB_API_URL={self.api_url} ({type(exc).__name__}) while "
                f"reading {what}. Check the network or GITHUB_API_URL (offline: set FAQBOT_DOCS_SOURCE to a "
                "local .zip or folder); the collection is unchanged."
            ) from None
        if resp.status_code == 200:
            try:
                return resp.json()
            except ValueError:
                raise SourceError(f"GitHub sent a malformed answer for {what} ({url}).") from None
        raise self._http_error(resp, what)

    def _http_error(self, resp, what: str) -> SourceError:
        status = resp.status_code
        try:
            message = str(resp.json().get("message", ""))
        except ValueError:
            message = resp.text[:200]
        remaining = resp.headers.get("X-RateLimit-Remaining")
        if status == 429 or (status == 403 and (remaining == "0" or "rate limit" in message.lower())):
            return SourceError(_rate_limit_message(resp, bool(self._session.headers.get("Authorization"))))
        if status == 401:
            return SourceError("GITHUB_TOKEN was refused by GitHub (401 Bad credentials): set a valid token or leave "
                               "it empty.")
        if status in (404, 422) and what == "the repository":
            return SourceError(f"FAQBOT_DOCS_SOURCE: no repository {self.owner}/{self.repo} at "
                               f"GITHUB_API_URL={self.api_url} (a private one needs GITHUB_TOKEN).")
        if status in (404, 422) and what.startswith("ref"):
            return SourceError(f"FAQBOT_DOCS_SOURCE: no branch or commit {self.ref!r} in {self.owner}/{self.repo}.")
        return SourceError(f"GitHub answered HTTP {status} for {what} ({message or 'no message'}); "
                           "the collection is unchanged. Try again later.")

    def _raw(self, commit: str, path: str) -> bytes:
        import requests

        url = f"{self.raw_url}/{self.owner}/{self.repo}/{commit}/{quote(path)}"
        try:
            resp = self._session.get(url, timeout=(min(self.timeout, 10), self.timeout))
            if resp.status_code != 200:
                raise SourceError(f"Downloading {path} from GITHUB_RAW_URL={self.raw_url} failed "
                                  f"(HTTP {resp.status_code}); the collection is unchanged.")
            return resp.content
        except requests.RequestException as exc:
            raise SourceError(f"Downloading {path} from GITHUB_RAW_URL={self.raw_url} failed "
                              f"({type(exc).__name__}); the collection is unchanged.") from None

    # ---- listing ------------------------------------------------------------------------
    def _commit(self) -> tuple[str, str]:
        """(commit sha, root tree sha) of the ref (the default branch when none is given)."""
        ref = self.ref
        if not ref:
            ref = self._api("", "the repository").get("default_branch") or "master"
        data = self._api(f"commits/{quote(ref, safe='')}", f"ref {ref}")
        try:
            return data["sha"], data["commit"]["tree"]["sha"]
        except (KeyError, TypeError):
            raise SourceError(f"GitHub sent a malformed commit for {ref}.") from None

    def _tree(self, sha: str, recursive: bool = False) -> dict:
        data = self._api(f"git/trees/{sha}" + ("?recursive=1" if recursive else ""), f"tree {sha[:12]}")
        if not isinstance(data.get("tree"), list):
            raise SourceError(f"GitHub sent a malformed tree {sha[:12]}.")
        return data

    def _site_files(self, version_tree: str, version: str) -> dict[str, str]:
        """path under `<version>/site/` -> blob sha, from one recursive listing of the version folder."""
        data = self._tree(version_tree, recursive=True)
        if data.get("truncated"):
            # very large folder: walk down to site/ and list that instead
            site = next((e["sha"] for e in self._tree(version_tree)["tree"] if e["path"] == "site"), None)
            if site is None:
                raise SourceError(f"{self.label}: {version} has no site/ folder.")
            data = self._tree(site, recursive=True)
            if data.get("truncated"):
                raise SourceError(f"{self.label}: GitHub truncated the listing of {version}/site.")
            return {e["path"]: e["sha"] for e in data["tree"] if e.get("type") == "blob"}
        return {e["path"][5:]: e["sha"] for e in data["tree"]
                if e.get("type") == "blob" and e["path"].startswith("site/")}

    def versions(self, wanted: list[str], glob: str) -> list[VersionDocs]:
        commit, root_tree = self._commit()
        root = {e["path"]: e for e in self._tree(root_tree)["tree"]}
        available = sorted((p for p, e in root.items() if e.get("type") == "tree" and _VERSION_DIR.match(p)),
                           key=V.sort_key)
        current = self._current_version(commit, root)
        out = []
        for want in wanted:
            version = current if want == "latest" else want
            if version is None:
                raise SourceError(f"{self.label} has no version.json naming its current version: "
                                  f"set FAQBOT_DOCS_VERSIONS to one of {', '.join(available)}.")
            if version not in available:
                raise SourceError(f"FAQBOT_DOCS_VERSIONS: {version} is not in {self.label}; "
                                  f"it has {', '.join(available) or 'no versions'}.")
            if any(v.version == version for v in out):
                continue
            files = self._site_files(root[version]["sha"], version)
            chosen = select(files, glob, f"{self.label} {version}/site")
            wanted_files = {p: files[p] for p in chosen}
            fingerprint = hashlib.sha256(json.dumps(
                [root[version]["sha"], glob, version == current], sort_keys=True).encode()).hexdigest()[:32]
            out.append(VersionDocs(
                version=version, current=version == current, source=self.label, commit=commit,
                fingerprint=fingerprint, files=len(chosen),
                _load=lambda c=commit, w=wanted_files, f=files, v=version: self._read(c, v, w, f)))
        return out

    def _current_version(self, commit: str, root: dict) -> str | None:
        if "version.json" not in root:
            return None
        raw = self._cached_or_download(commit, "version.json", root["version.json"]["sha"])
        try:
            return V.normalise(str(json.loads(decode(raw))["version"]))
        except (ValueError, KeyError, TypeError):
            raise SourceError(f"{self.label}: version.json does not name a version like v3.0.x.") from None

    # ---- contents -----------------------------------------------------------------------
    def _read(self, commit: str, version: str, chosen: dict[str, str], files: dict[str, str]) -> list[Document]:
        """Download what the cache lacks (in parallel), then expand includes from the same listing."""
        texts = self._fetch_many(commit, version, chosen)
        needed = {inc for path, text in texts.items() for inc in includes(path, text) if inc in files}
        extra = self._fetch_many(commit, version, {p: files[p] for p in needed if p not in texts})
        pool = {**texts, **extra}
        return [Document(p, expand_fragments(p, pool[p], pool.get)) for p in sorted(chosen)]

    def _fetch_many(self, commit: str, version: str, paths: dict[str, str]) -> dict[str, str]:
        if not paths:
            return {}
        with ThreadPoolExecutor(max_workers=DOWNLOAD_THREADS) as pool:
            got = pool.map(lambda item: (item[0], self._cached_or_download(commit, f"{version}/site/{item[0]}",
                                                                              item[1])), paths.items())
            return {p: decode(raw) for p, raw in got}

    def _cached_or_download(self, commit: str, path: str, sha: str) -> bytes:
        cached = self.blobs / sha[:2] / sha
        if cached.exists():
            return cached.read_bytes()
        data = self._raw(commit, path)
        if blob_sha(data) != sha:
            raise SourceError(f"Downloading {path} from GITHUB_RAW_URL={self.raw_url} gave a different file than "
                              "GitHub listed (cut off or changed); the collection is unchanged. Try again.")
        self.downloads += 1
        cached.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cached.parent, suffix=".part")
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, cached)
        return data


def _session(token: str):
    """A requests session with urllib3's retries for connection errors and 5xx (not for rate limits)."""
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry

    session = requests.Session()
    retry = Retry(total=3, connect=2, read=1, status=2, backoff_factor=0.5,
                  status_forcelist=(500, 502, 503, 504), allowed_methods=frozenset({"GET"}),
                  raise_on_status=False, respect_retry_after_header=False)
    adapter = HTTPAdapter(max_retries=retry, pool_maxsize=DOWNLOAD_THREADS)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = "milvus-faq-bot"
    if token:
        session.headers["Authorization"] = f"Bearer {token}"
    return session


def _rate_limit_message(resp, authenticated: bool) -> str:
    limit = resp.headers.get("X-RateLimit-Limit", "60" if not authenticated else "5000")
    reset = resp.headers.get("X-RateLimit-Reset")
    retry_after = resp.headers.get("Retry-After")
    if retry_after and retry_after.isdigit():
        when = f"GitHub asks to wait {retry_after} s"
    elif reset and reset.isdigit():
        left = max(0, int(reset) - int(time.time()))
        when = f"it resets at {time.strftime('%H:%M UTC', time.gmtime(int(reset)))} (in {left // 60 + 1} min)"
    else:
        when = "it resets within the hour"
    hint = ("" if authenticated else
            "; set GITHUB_TOKEN (any GitHub token, no scopes needed) to raise the limit from 60 to 5,000 calls an hour")
    return f"GitHub API rate limit reached ({limit} calls an hour): {when}{hint}. The collection is unchanged."
