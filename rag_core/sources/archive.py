"""Turn a docs source (URL, local .zip or folder) plus a glob into markdown files."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath


class SourceError(Exception):
    """The docs could not be read; the message says what to fix."""


@dataclass(frozen=True)
class Document:
    path: str  # POSIX path inside the source, e.g. "en/faq/product_faq.md"
    text: str


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


def _select(paths: list[str], pattern: str, where: str) -> list[str]:
    rx = glob_regex(pattern.strip("/"))
    chosen = sorted(p for p in paths if rx.match(p))
    if not chosen:
        sample = ", ".join(sorted(p for p in paths if p.endswith(".md"))[:3]) or "no .md files"
        raise SourceError(
            f"FAQBOT_DOCS_GLOB {pattern!r} matches no file in {where} (it has e.g. {sample})."
        )
    return chosen


def _decode(raw: bytes, path: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


_INCLUDE = re.compile(r"\{\{\s*(fragments/[\w./-]+\.md)\s*\}\}")


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


def read_zip(path: Path, pattern: str) -> list[Document]:
    try:
        with zipfile.ZipFile(path) as zf:
            names = [n for n in zf.namelist() if not n.endswith("/")]
            chosen = _select(names, pattern, str(path))
            present = set(names)

            def read(name: str) -> str | None:
                return _decode(zf.read(name), name) if name in present else None

            return [Document(n, expand_fragments(n, _decode(zf.read(n), n), read)) for n in chosen]
    except FileNotFoundError:
        raise SourceError(f"FAQBOT_DOCS_SOURCE: no such file {path}.") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError) as exc:
        raise SourceError(
            f"FAQBOT_DOCS_SOURCE: {path} is not a readable zip archive ({exc}). "
            "Download it again or point at a folder."
        ) from None


def read_folder(root: Path, pattern: str) -> list[Document]:
    names = [p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()]
    if not names:
        raise SourceError(f"FAQBOT_DOCS_SOURCE: the folder {root} is empty.")
    chosen = _select(names, pattern, str(root))

    def read(name: str) -> str | None:
        f = root / name
        return _decode(f.read_bytes(), name) if f.is_file() else None

    return [Document(n, expand_fragments(n, _decode((root / n).read_bytes(), n), read)) for n in chosen]


def download(url: str, cache_dir: Path, timeout: float = 60) -> Path:
    """Fetch `url` into the cache once; later calls reuse the cached file."""
    name = PurePosixPath(url.split("?", 1)[0]).name or "docs.zip"
    key = hashlib.sha256(url.encode()).hexdigest()[:12]
    target = cache_dir / f"{key}-{name}"
    if target.exists() and zipfile.is_zipfile(target):
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=cache_dir, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            shutil.copyfileobj(resp, out)
        os.replace(tmp, target)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise SourceError(
            f"FAQBOT_DOCS_SOURCE: could not download {url} ({reason}). "
            "Check the network, or set FAQBOT_DOCS_SOURCE to a local .zip or folder."
        ) from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def load_documents(source: str, pattern: str, cache_dir: Path) -> list[Document]:
    """All markdown documents of `source` that match `pattern`."""
    if re.match(r"^https?://", source):
        return read_zip(download(source, cache_dir), pattern)
    path = Path(source).expanduser()
    if path.is_dir():
        return read_folder(path, pattern)
    if not path.exists():
        raise SourceError(f"FAQBOT_DOCS_SOURCE: no such file or folder {source}.")
    return read_zip(path, pattern)
