"""Docs from a release-style archive: a local .zip, a zip URL, or a local folder.

An archive holds one docs version: the one FAQBOT_DOCS_VERSIONS names when it names exactly
one, else the one in the archive's name (`milvus_docs_2.4.x_en.zip` -> `v2.4.x`). Only a GitHub
source knows which version milvus.io serves as current, so archive links always carry the
version segment.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

from .. import versions as V
from .base import Document, SourceError, VersionDocs, decode, expand_fragments, select


def archive_version(wanted: list[str], name: str) -> str:
    """Which version an archive called `name` holds, given FAQBOT_DOCS_VERSIONS."""
    named = [v for v in wanted if v != "latest"]
    from_name = V.folder_version_from_name(name)
    if len(wanted) > 1 and not (len(named) == 1 and from_name in (None, named[0])):
        raise SourceError(
            f"FAQBOT_DOCS_VERSIONS names {len(wanted)} versions, but {name} holds one. Use "
            "FAQBOT_DOCS_SOURCE=github:milvus-io/web-content for several versions, or name one."
        )
    if named:
        return named[0]
    if from_name:
        return from_name
    raise SourceError(
        f"Cannot tell which Milvus version {name} holds: set FAQBOT_DOCS_VERSIONS to it "
        "(e.g. FAQBOT_DOCS_VERSIONS=v2.6.x)."
    )


def _fingerprint(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:32]


class ZipSource:
    """A local .zip in the release layout (`en/<section>/<page>.md`)."""

    downloads = 0

    def __init__(self, path: Path, label: str | None = None, name: str | None = None):
        self.path = path
        self.label = label or str(path)
        self.name = name or path.name

    def _hash(self) -> str:
        digest = hashlib.sha256()
        try:
            with open(self.path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
        except FileNotFoundError:
            raise SourceError(f"FAQBOT_DOCS_SOURCE: no such file {self.path}.") from None
        except OSError as exc:
            raise SourceError(f"FAQBOT_DOCS_SOURCE: cannot read {self.path} ({exc.strerror}).") from None
        return digest.hexdigest()

    def _names(self) -> list[str]:
        try:
            with zipfile.ZipFile(self.path) as zf:
                return [n for n in zf.namelist() if not n.endswith("/")]
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError) as exc:
            raise SourceError(
                f"FAQBOT_DOCS_SOURCE: {self.path} is not a readable zip archive ({exc}). "
                "Download it again or point at a folder."
            ) from None

    def versions(self, wanted: list[str], glob: str) -> list[VersionDocs]:
        digest = self._hash()
        chosen = select(self._names(), glob, str(self.path))
        version = archive_version(wanted, self.name)
        return [VersionDocs(version=version, current=False, source=self.label, commit=f"sha256:{digest[:12]}",
                            fingerprint=_fingerprint(digest, glob), files=len(chosen),
                            _load=lambda: self._read(chosen))]

    def _read(self, chosen: list[str]) -> list[Document]:
        try:
            with zipfile.ZipFile(self.path) as zf:
                present = set(zf.namelist())

                def read(name: str) -> str | None:
                    return decode(zf.read(name)) if name in present else None

                return [Document(n, expand_fragments(n, decode(zf.read(n)), read)) for n in chosen]
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError) as exc:
            raise SourceError(f"FAQBOT_DOCS_SOURCE: {self.path} is not a readable zip archive ({exc}).") from None


class FolderSource:
    """A local folder in the release layout."""

    downloads = 0

    def __init__(self, root: Path):
        self.root = root
        self.label = str(root)

    def versions(self, wanted: list[str], glob: str) -> list[VersionDocs]:
        # a checkout of web-content pointed at `.../v2.6.x/site`: the version is a parent's name
        named = next((p.name for p in (self.root.resolve(), *self.root.resolve().parents)
                      if V.folder_version_from_name(p.name)), self.root.resolve().name)
        names = [p.relative_to(self.root).as_posix() for p in self.root.rglob("*") if p.is_file()]
        if not names:
            raise SourceError(f"FAQBOT_DOCS_SOURCE: the folder {self.root} is empty.")
        chosen = select(names, glob, str(self.root))
        version = archive_version(wanted, named)
        docs = self._read(chosen)
        digest = _fingerprint(glob, *(f"{d.path}\x01{d.text}" for d in docs))
        return [VersionDocs(version=version, current=False, source=self.label, commit=f"sha256:{digest[:12]}",
                            fingerprint=digest, files=len(chosen), _load=lambda: docs)]

    def _read(self, chosen: list[str]) -> list[Document]:
        def read(name: str) -> str | None:
            f = self.root / name
            return decode(f.read_bytes()) if f.is_file() else None

        return [Document(n, expand_fragments(n, decode((self.root / n).read_bytes()), read)) for n in chosen]


def download(url: str, cache_dir: Path, timeout: float = 60) -> tuple[Path, bool]:
    """Fetch `url` into the cache; a cached copy is revalidated with its ETag/Last-Modified and
    downloaded again only when the server says it changed. Returns (file, downloaded)."""
    import requests

    name = PurePosixPath(url.split("?", 1)[0]).name or "docs.zip"
    key = hashlib.sha256(url.encode()).hexdigest()[:12]
    target = cache_dir / f"{key}-{name}"
    meta_file = target.with_name(target.name + ".meta.json")
    headers = {}
    if target.exists() and zipfile.is_zipfile(target) and meta_file.exists():
        try:
            meta = json.loads(meta_file.read_text())
        except ValueError:
            meta = {}
        if meta.get("etag"):
            headers["If-None-Match"] = meta["etag"]
        if meta.get("last_modified"):
            headers["If-Modified-Since"] = meta["last_modified"]
    cache_dir.mkdir(parents=True, exist_ok=True)
    try:
        with requests.get(url, headers=headers, timeout=timeout, stream=True) as resp:
            if resp.status_code == 304 and headers:
                return target, False
            if resp.status_code != 200:
                raise SourceError(f"FAQBOT_DOCS_SOURCE: {url} answered HTTP {resp.status_code}.")
            fd, tmp = tempfile.mkstemp(dir=cache_dir, suffix=".part")
            try:
                with os.fdopen(fd, "wb") as out:
                    for block in resp.iter_content(1 << 16):
                        out.write(block)
                if not zipfile.is_zipfile(tmp):
                    raise SourceError(f"FAQBOT_DOCS_SOURCE: {url} did not return a zip archive.")
                os.replace(tmp, target)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
            meta_file.write_text(json.dumps({"etag": resp.headers.get("ETag", ""),
                                             "last_modified": resp.headers.get("Last-Modified", "")}))
            return target, True
    except requests.RequestException as exc:
        raise SourceError(
            f"FAQBOT_DOCS_SOURCE: could not download {url} ({type(exc).__name__}). "
            "Check the network, or set FAQBOT_DOCS_SOURCE to a local .zip or folder."
        ) from None


class UrlZipSource:
    """A zip archive on the web (e.g. the tutorial's 2.4 release zip), cached and revalidated."""

    def __init__(self, url: str, cache_dir: Path):
        self.url = url
        self.cache_dir = cache_dir
        self.label = url
        self.downloads = 0

    def versions(self, wanted: list[str], glob: str) -> list[VersionDocs]:
        path, fetched = download(self.url, self.cache_dir)
        self.downloads += int(fetched)
        name = PurePosixPath(self.url.split("?", 1)[0]).name
        return ZipSource(path, label=self.url, name=name).versions(wanted, glob)
