"""Heading-aware chunking of Milvus docs pages.

The markdown is parsed with markdown-it-py, so `# comment` lines inside code
fences are never mistaken for headings. Every heading starts a chunk: on the
FAQ pages one question with its answer is one chunk; other pages are split by
section, and a section longer than `max_chars` is split again between blocks.
"""

from __future__ import annotations

import hashlib
import re
import string
import textwrap
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import PurePosixPath

DOCS_BASE_URL = "https://milvus.io/docs/"
# Pages whose front matter says `deprecate: true` are, but for one, not rendered by milvus.io (13 of
# the 14 with text in the 3.0 docs are missing from ../shared/data/anchors_v3.0.x.tsv), so their
# chunks link to the page's source in milvus-io/web-content, the repository milvus.io renders, and
# say they are deprecated.
WEB_CONTENT_BLOB_URL = "https://github.com/milvus-io/web-content/blob/master/"
DEPRECATED_NOTE = " (deprecated)"
# gemini-embedding-001 reads 2,048 tokens; ~4,000 chars stays well inside it and
# inside MiniLM's useful window once title and heading are added.
MAX_CHARS = 4000
# bump whenever chunking changes what it produces: the ingest of an unchanged docs version is
# skipped only when this matches the version recorded at the last ingest
CHUNKER_VERSION = "6"
# Outside the FAQ pages a section is one chunk together with the subsections that follow it
# while the whole stays under MERGE_CHARS (a heading with a one-line intro or no text at all,
# e.g. "Enable coordinator HA" above "With Helm" / "With Docker", is no chunk on its own);
# a question heading ("...?") always starts its own chunk. Chosen by benchmarks/tune_alldocs.py.
MERGE_CHARS = 3000
PAGE_MAX_CHARS = 4000  # the split cap outside the FAQ pages (chunk_documents)
SHORT_INTRO = 200  # a section with less text than this always takes its first subsection

_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.S)
_HTML_NOISE = re.compile(r"<br\s*/?>|</?div[^>]*>|</?span[^>]*>", re.I)


@dataclass(frozen=True)
class Chunk:
    source: str  # path inside the docs source, e.g. en/faq/product_faq.md
    title: str  # page title
    heading: str  # the section heading ('' for a page intro)
    path: tuple[str, ...]  # enclosing headings, outermost first, ending with heading
    body: str  # markdown of the section, heading excluded
    url: str  # https://milvus.io/docs/<page>.md#<anchor>
    part: int = 0  # >0 when an oversize section was split
    meta: dict = field(default_factory=dict, compare=False, hash=False)
    version: str = ""  # docs version, e.g. "v3.0.x"

    @property
    def text(self) -> str:
        """What users see and what a hit is judged on: heading and body."""
        return f"{self.heading}\n\n{self.body}".strip() if self.heading else self.body

    @property
    def location(self) -> str:
        """Stable identity of the place in the docs (survives content edits)."""
        where = f"{self.version}/{self.source}" if self.version else self.source
        return f"{where}#{'/'.join(self.path)}#{self.part}"

    @property
    def id(self) -> str:
        """Content hash of location and text: unchanged docs give unchanged ids."""
        digest = hashlib.sha256(f"{self.location}\x00{self.title}\x00{self.text}\x00{self.url}".encode())
        return digest.hexdigest()[:32]


@lru_cache(maxsize=1)
def _parser():
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark")


# What milvus.io drops from a heading's markdown source when it builds the anchor: every
# ASCII punctuation character except '+' and '-', plus the full-width question mark and the
# em dash. Everything else is kept as is, including non-ASCII punctuation and symbols such
# as ’ → ™ ®, emoji (with their variation selectors) and zero-width spaces.
_ANCHOR_DROP = frozenset(string.punctuation.replace("+", "").replace("-", "") + "？—")


def _is_control(ch: str) -> bool:
    """C0/C1 control characters (the whitespace ones among them are handled first)."""
    return ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0


def anchor(heading: str) -> str:
    """The id milvus.io gives a heading, from the heading's markdown source.

    milvus.io builds the id from the raw heading text (inline markdown included), not from
    the rendered text: it drops the characters in `_ANCHOR_DROP` (and control characters),
    turns each whitespace character into '-' without collapsing runs, and keeps case
    (leading and trailing whitespace is stripped first, as markdown does).
    So `**bold**` and `` `code` `` lose only their markers, a link keeps its URL's letters
    ("([#48223](https://github.com/...))" -> "48223httpsgithubcom..."), and a version badge
    written as "Title | Milvus 2.6.x" gives "Title--Milvus-26x". Headings that repeat on a
    page get the same id (milvus.io adds no "-1" suffix), so the link lands on the first.
    Checked against every 3.0 heading milvus.io renders that has a markdown source
    (tests/test_chunking.py::test_anchor_matches_milvus_io_for_every_3_0_heading).
    """
    out = []
    for ch in heading.strip():
        if ch.isspace():
            out.append("-")
        elif ch not in _ANCHOR_DROP and not _is_control(ch):
            out.append(ch)
    return "".join(out)


def page_url(source: str, front_id: str | None = None, heading: str = "") -> str:
    page = front_id or PurePosixPath(source).name
    if not page.endswith(".md"):
        page += ".md"
    url = DOCS_BASE_URL + page
    return f"{url}#{anchor(heading)}" if heading and anchor(heading) else url


def _front_matter(text: str) -> tuple[dict[str, str], str]:
    m = _FRONT_MATTER.match(text)
    if not m:
        return {}, text
    meta = {}
    for line in m.group(1).splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() and not key.startswith((" ", "\t")):
            meta[key.strip()] = value.strip().strip("'\"")
    return meta, text[m.end() :]


def _clean(lines: list[str]) -> str:
    body = textwrap.dedent("\n".join(lines))
    body = _HTML_NOISE.sub("", body)
    body = re.sub(r"\n{3,}", "\n\n", body)
    return "\n".join(line.rstrip() for line in body.strip().splitlines())


_PIPE_RULE = re.compile(r"^\s*\|?\s*:?-{2,}")


def _table_parts(block: list[str], max_chars: int, first_budget: int | None = None) -> list[list[str]] | None:
    """A markdown or HTML table cut between rows into parts under max_chars, each starting with
    the table's header row(s); None if `block` is no table or its rows cannot be told apart.
    The first part gets `first_budget` characters (what is left of the part before the table),
    or none at all (an empty list) when not even one row fits there."""
    lines = list(block)
    while lines and not lines[-1].strip():
        lines.pop()
    first = next((i for i, x in enumerate(lines) if x.strip()), None)
    if first is None:
        return None
    head = lines[first].strip()
    if head.startswith("|") and first + 1 < len(lines) and _PIPE_RULE.match(lines[first + 1]):
        header, rows = lines[: first + 2], [[x] for x in lines[first + 2 :]]
    elif head.lower().startswith("<table"):
        end = next((i for i, x in enumerate(lines) if "</tr>" in x.lower()), None)
        if end is None or "<th" not in "".join(lines[: end + 1]).lower():
            return None
        header, rows = lines[: end + 1], []
        for x in lines[end + 1 :]:
            if x.strip().lower().startswith("<tr") or not rows:
                rows.append([x])
            else:
                rows[-1].append(x)
    else:
        return None
    budget = max_chars - sum(len(x) + 1 for x in header)
    if len(rows) < 2 or any(sum(len(x) + 1 for x in r) > budget for r in rows):
        return None
    header_len = max_chars - budget
    parts, current, size = [], [], 0
    limit = budget if first_budget is None else first_budget - header_len
    if limit < sum(len(x) + 1 for x in rows[0]):
        parts, limit = [[]], budget  # nothing fits in the part before the table
    for row in rows:
        n = sum(len(x) + 1 for x in row)
        if current and size + n > limit:
            parts.append(header + current)
            current, size, limit = [], 0, budget
        current += row
        size += n
    parts.append(header + current)
    return parts


def _split(lines: list[str], starts: list[int], max_chars: int) -> list[list[str]]:
    """Split section lines at block starts so each part stays under max_chars."""
    if len("\n".join(lines)) <= max_chars:
        return [lines]
    parts, current, size = [], [], 0
    bounds = sorted({0, *[s for s in starts if 0 < s < len(lines)], len(lines)})
    # a heading (of a merged subsection) stays with the block after it
    bounds = [b for n, b in enumerate(bounds) if n == 0 or not lines[bounds[n - 1]].lstrip().startswith("#")
              or b == len(lines)]
    for a, b in zip(bounds, bounds[1:]):
        block = lines[a:b]
        block_len = sum(len(x) + 1 for x in block)
        pieces = _table_parts(block, max_chars, max_chars - size) if block_len > max_chars else None
        if current and size + block_len > max_chars and not pieces:
            parts.append(current)
            current, size = [], 0
        if pieces:
            # a table larger than the cap: split between rows, each part repeats the header row;
            # the first part continues the text before the table when a row fits there
            current = current + pieces[0]
            for piece in pieces[1:]:
                if current:
                    parts.append(current)
                current = piece
            size = sum(len(x) + 1 for x in current)
            continue
        # a single block larger than the cap (a huge code listing) is cut by lines
        while block_len > max_chars and block:
            take, n = [], 0
            while block and (not take or n + len(block[0]) + 1 <= max_chars):
                n += len(block[0]) + 1
                take.append(block.pop(0))
            if current:
                parts.append(current)
                current, size = [], 0
            parts.append(take)
            block_len = sum(len(x) + 1 for x in block)
        current += block
        size += block_len
    if current:
        parts.append(current)
    return parts


def github_anchor(heading: str) -> str:
    """The id GitHub gives a heading when it renders markdown: lower case, every character but
    letters, digits, spaces, '-' and '_' dropped, each space turned into '-'."""
    kept = "".join(ch for ch in heading.strip().lower() if ch.isalnum() or ch in " -_")
    return kept.replace(" ", "-")


def source_url(source: str, version: str, heading: str = "") -> str:
    """A page's markdown in milvus-io/web-content (for the pages milvus.io does not render)."""
    url, fragment = f"{WEB_CONTENT_BLOB_URL}{version}/site/{source}", github_anchor(heading)
    return f"{url}#{fragment}" if fragment else url


def versioned_url(url: str, version: str = "", current: bool = True) -> str:
    """milvus.io serves the current version at /docs/<id>, any other at /docs/<version>/<id>."""
    if current or not version or not url.startswith(DOCS_BASE_URL):
        return url
    return f"{DOCS_BASE_URL}{version}/{url[len(DOCS_BASE_URL):]}"


def _is_faq_page(source: str) -> bool:
    return "/faq/" in f"/{source}"


def _merge_subsections(sections: list, lines: list[str], merge_chars: int) -> list:
    """Sections extended over the subsections that follow them (see MERGE_CHARS)."""
    def size(a: int, b: int) -> int:
        return sum(len(x) + 1 for x in lines[a:b])

    out, i = [], 0
    while i < len(sections):
        path, heading, start, end = sections[i]
        j = i + 1
        if heading:
            own = size(start, end)
            while j < len(sections):
                sub_path, sub_heading, _, sub_end = sections[j]
                if len(sub_path) <= len(path) or sub_heading.rstrip().endswith("?"):
                    break
                first_under_empty = j == i + 1 and own < SHORT_INTRO
                if size(start, sub_end) > merge_chars and not first_under_empty:
                    break
                end, j = sub_end, j + 1
        out.append((path, heading, start, end))
        i = j
    return out


def chunk_document(source: str, text: str, max_chars: int = MAX_CHARS, version: str = "",
                   current: bool = True) -> list[Chunk]:
    """Chunks of one markdown page, in document order; `version`/`current` set the link form."""
    meta, body = _front_matter(text.replace("\r\n", "\n"))
    lines = body.split("\n")
    tokens = _parser().parse(body)

    headings: list[tuple[int, int, int, str]] = []  # (level, start, end, text)
    block_starts: list[int] = []
    for i, tok in enumerate(tokens):
        if tok.level == 0 and tok.map and tok.nesting >= 0:
            block_starts.append(tok.map[0])
        # any nesting level: the docs indent some headings so that they parse as list content
        if tok.type == "heading_open" and tok.map:
            block_starts.append(tok.map[0])
            inline = tokens[i + 1].content.strip()
            headings.append((int(tok.tag[1]), tok.map[0], tok.map[1], inline))

    title = meta.get("title", "")
    if not title:
        h1 = next((h for h in headings if h[0] == 1), None)
        title = h1[3] if h1 else PurePosixPath(source).stem.replace("_", " ")
    front_id = meta.get("id")
    deprecated = meta.get("deprecate", "").lower() == "true"
    shown_title = title + DEPRECATED_NOTE if deprecated else title

    # sections: (path, heading, first body line, end line)
    sections: list[tuple[tuple[str, ...], str, int, int]] = []
    first = headings[0][1] if headings else len(lines)
    sections.append(((), "", 0, first))
    stack: list[tuple[int, str]] = []
    for n, (level, start, end, heading) in enumerate(headings):
        nxt = headings[n + 1][1] if n + 1 < len(headings) else len(lines)
        if level == 1 and heading.strip() == title.strip():
            sections.append(((), "", end, nxt))  # the page title: its text is the intro
            continue
        while stack and stack[-1][0] >= level:
            stack.pop()
        stack.append((level, heading))
        sections.append((tuple(h for _, h in stack), heading, end, nxt))

    if not _is_faq_page(source) and MERGE_CHARS > 0:
        sections = _merge_subsections(sections, lines, min(MERGE_CHARS, max_chars))

    chunks: list[Chunk] = []
    for path, heading, start, end in sections:
        section = lines[start:end]
        if not _clean(section):
            continue
        starts = [s - start for s in block_starts if start < s < end]
        for part, piece in enumerate(_split(section, starts, max_chars)):
            cleaned = _clean(piece)
            if not cleaned:
                continue
            chunks.append(
                Chunk(
                    source=source,
                    title=shown_title,
                    heading=heading,
                    path=path,
                    body=cleaned,
                    url=(source_url(source, version, heading) if deprecated and version
                         else versioned_url(page_url(source, front_id, heading), version, current)),
                    part=part,
                    version=version,
                )
            )
    return chunks


def chunk_documents(docs, version: str = "", current: bool = True) -> list[Chunk]:
    out: list[Chunk] = []
    seen: set[str] = set()
    for doc in docs:
        cap = MAX_CHARS if _is_faq_page(doc.path) else PAGE_MAX_CHARS
        for chunk in chunk_document(doc.path, doc.text, max_chars=cap, version=version, current=current):
            if chunk.id not in seen:  # identical repeated sections are one chunk
                seen.add(chunk.id)
                out.append(chunk)
    return out
