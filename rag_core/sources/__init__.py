"""Docs sources: a GitHub repository laid out like milvus-io/web-content (the default), a zip
URL, a local zip or folder, and an in-memory one for tests. `open_source()` picks one."""

from __future__ import annotations

import re
from pathlib import Path

from .base import Document, DocsSource, SourceError, VersionDocs, expand_fragments, glob_regex, select

__all__ = ["Document", "DocsSource", "SourceError", "VersionDocs", "expand_fragments", "glob_regex",
           "load_documents", "open_source", "select"]


def open_source(spec: str, settings) -> DocsSource:
    """The source FAQBOT_DOCS_SOURCE names: `github:owner/repo[@ref]`, a zip URL, a .zip or a folder."""
    spec = spec.strip()
    if spec.startswith("github:"):
        from .github import GitHubSource

        return GitHubSource(spec, settings.cache_dir, api_url=settings.github_api_url,
                            raw_url=settings.github_raw_url, token=settings.github_token,
                            timeout=settings.github_timeout)
    from .archive import FolderSource, UrlZipSource, ZipSource

    if re.match(r"^https?://", spec):
        return UrlZipSource(spec, settings.cache_dir)
    path = Path(spec).expanduser()
    if path.is_dir():
        return FolderSource(path)
    if not path.exists():
        raise SourceError(f"FAQBOT_DOCS_SOURCE: no such file or folder {spec}.")
    return ZipSource(path)


def load_documents(source: str, pattern: str, cache_dir: Path) -> list[Document]:
    """All markdown documents of a zip or folder `source` matching `pattern` (one version)."""
    from types import SimpleNamespace

    src = open_source(source, SimpleNamespace(cache_dir=cache_dir))
    (only,) = src.versions(["v0.0.x"], pattern)  # the version label is irrelevant here
    return only.documents()
