"""What every docs source gives the pipeline: the versions it holds, each a list of markdown files.

A source answers `versions(wanted, glob)` with one `VersionDocs` per wanted version. Listing is
cheap and fails before anything is downloaded (a version that does not exist, GitHub
unreachable); `VersionDocs.documents()` then reads or downloads the files. The pipeline compares
`fingerprint` with the one it recorded at the last ingest and skips a version whose files have
not changed, without reading them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Callable, Protocol


class SourceError(Exception):
    """The docs could not be read; the message says what to fix."""


@dataclass(frozen=True)
class Document:
    path: str  # POSIX path inside the version's site folder, e.g. "en/faq/product_faq.md"
    text: str


@dataclass
class VersionDocs:
    """One docs version of a source, listed but not yet read."""

    version: str  # "v3.0.x"
    current: bool  # milvus.io serves it without a version segment in the URL
    source: str  # where it came from, for `faqbot versions` ("github:milvus-io/web-content@master")
    commit: str  # git commit, or a content hash for zips and folders
    fingerprint: str  # changes whenever any selected file (or include) changes
    files: int  # how many markdown files the glob selected
    _load: Callable[[], list[Document]] = field(repr=False, default=lambda: [])

    def documents(self) -> list[Document]:
        """Read (or download) the selected files; raises SourceError."""
        return self._load()


class DocsSource(Protocol):
    label: str
    downloads: int  # files fetched over the network by this source object (0 for local sources)

    def versions(self, wanted: list[str], glob: str) -> list[VersionDocs]:
        """Resolve `wanted` ("latest" allowed) and list each version's files matching `glob`.
        Raises SourceError naming what exists when a version or file set is missing."""
        ...


def glob_regex(pattern: str) -> re.Pattern[str]:
    """A path glob where `*` stays inside one folder and `**/` spans folders."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def select(paths, pattern: str, where: str) -> list[str]:
    """The paths matching the glob, sorted; an empty selection is an error naming the glob."""
    paths = list(paths)
    rx = glob_regex(pattern.strip("/"))
    chosen = sorted(p for p in paths if rx.match(p))
    if not chosen:
        sample = ", ".join(sorted(p for p in paths if p.endswith(".md"))[:3]) or "no .md files"
        raise SourceError(
            f"FAQBOT_DOCS_GLOB {pattern!r} matches no file in {where} (it has e.g. {sample})."
        )
    return chosen


def decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


_INCLUDE = re.compile(r"\{\{\s*(fragments/[\w./-]+\.md)\s*\}\}")


def includes(path: str, text: str) -> list[str]:
    """The fragment files a page pulls in (`{{fragments/x.md}}` -> `<lang>/fragments/x.md`)."""
    lang = PurePosixPath(path).parts[0] if len(PurePosixPath(path).parts) > 1 else ""
    return [f"{lang}/{m}" if lang else m for m in _INCLUDE.findall(text)]


def expand_fragments(path: str, text: str, read) -> str:
    """Inline `{{fragments/x.md}}` includes (the docs site does this when it renders a
    page) from `<lang>/fragments/x.md` beside the page, so the chunk holds the real
    answer instead of the placeholder. `read(name)` returns the file's text or None."""
    if "{{" not in text:
        return text
    lang = PurePosixPath(path).parts[0] if len(PurePosixPath(path).parts) > 1 else ""

    def sub(m: re.Match) -> str:
        name = f"{lang}/{m.group(1)}" if lang else m.group(1)
        found = read(name)
        return found.strip() if found is not None else m.group(0)

    return _INCLUDE.sub(sub, text)
