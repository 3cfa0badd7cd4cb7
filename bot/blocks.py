"""Safe Slack Block Kit rendering for answers.

Pure functions only: no I/O, no Slack client.  Everything that comes from
users, the docs or the model goes through :func:`escape` (or through
:func:`md_to_mrkdwn`, which escapes), so no text can ever reach Slack as a
live mention (``<!channel>``, ``<@U123>``, ``<#C1>``, ``<!subteam^S1|x>``...)
or as a link we did not build ourselves.  The only ``<...>`` sequences we
emit are ``<https://url|label>`` links produced by :func:`link`.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left
from urllib.parse import quote

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ContextBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

__all__ = [
    "escape",
    "link",
    "md_to_mrkdwn",
    "split_text",
    "answer_blocks",
    "fallback_text",
    "usage_blocks",
    "error_text",
]

# ---------------------------------------------------------------------------
# Limits
# ---------------------------------------------------------------------------

SECTION_LIMIT = 3000          # Slack: section text <= 3000 chars
CONTEXT_LIMIT = 3000          # Slack: context element text <= 3000 chars
MAX_BLOCKS = 50               # Slack: <= 50 blocks per message
ANSWER_CHAR_BUDGET = 11_800   # total answer text across sections (< 12,000)
MAX_SOURCES = 5
MAX_URL_LEN = 1500            # longer URLs are not linked (label only)
MAX_LABEL_LEN = 150           # raw label chars before escaping
MAX_SOURCE_LABEL_LEN = 80
BUTTON_VALUE_LIMIT = 2000     # Slack: button value <= 2000 chars

ZWSP = "\u200b"

# ---------------------------------------------------------------------------
# escape / link
# ---------------------------------------------------------------------------

_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_BROADCAST_RE = re.compile(r"@(?=(?:channel|here|everyone))", re.IGNORECASE)


def escape(text: str) -> str:
    """Escape text for Slack mrkdwn / plain text.

    ``&`` -> ``&amp;``, ``<`` -> ``&lt;``, ``>`` -> ``&gt;``; ``@channel``,
    ``@here`` and ``@everyone`` get a zero-width space after the ``@``; C0
    control characters (except tab/newline/CR) are dropped.  Not idempotent
    (``&amp;`` becomes ``&amp;amp;``), but the output never contains a raw
    ``<`` or ``>``.
    """
    if not text:
        return ""
    text = str(text)
    text = _CONTROL_RE.sub("", text)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _BROADCAST_RE.sub("@" + ZWSP, text)


_URL_OK_RE = re.compile(r"^(https?)://([^/?#\s\\]+)(.*)$", re.IGNORECASE | re.DOTALL)


def _safe_url(url: str) -> str | None:
    """Return a Slack-safe http(s) URL, or None if ``url`` must not be linked."""
    if not isinstance(url, str):
        return None
    url = url.strip()
    m = _URL_OK_RE.match(url)
    if not m:
        return None
    scheme, host, rest = m.group(1).lower(), m.group(2), m.group(3)
    if "@" in host or not host.strip(":."):
        return None  # no userinfo (https://milvus.io@evil.example) and no empty host
    out = []
    for ch in f"{scheme}://{host}{rest}":
        if ch in "<>|\"`" or ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Zs"):
            out.append(quote(ch, safe=""))
        elif ch == "&":
            out.append("&amp;")
        else:
            out.append(ch)
    safe = "".join(out)
    if len(safe) > MAX_URL_LEN:
        return None
    return safe


def _clean_label(label: str, max_len: int = MAX_LABEL_LEN) -> str:
    label = " ".join(str(label or "").split())
    if len(label) > max_len:
        label = label[: max_len - 1].rstrip() + "…"
    return escape(label).replace("|", "¦")


def link(url: str, label: str) -> str:
    """Build a safe mrkdwn link ``<url|label>``.

    Only http(s) URLs are linked; whitespace, ``<``, ``>``, ``|``, quotes and
    invisible/control characters are percent-encoded and ``&`` becomes
    ``&amp;`` (Slack decodes it).  The label is escaped, whitespace-collapsed,
    truncated and has ``|`` replaced by ``¦``.  For any other scheme (or an
    over-long URL) the escaped label alone is returned.
    """
    safe = _safe_url(url)
    text = _clean_label(label)
    if safe is None:
        if text:
            return text
        return _clean_label(url if isinstance(url, str) else "")
    if not text:
        text = _clean_label(url.strip())
    return f"<{safe}|{text}>"


# ---------------------------------------------------------------------------
# Markdown -> mrkdwn
# ---------------------------------------------------------------------------

_PH_OPEN, _PH_CLOSE = "\ue000", "\ue001"
_BOLD = "\ue002"           # temporary bold marker (becomes '*')
_PRIVATE_RE = re.compile("[\ue000-\ue003]")
_PH_RE = re.compile(_PH_OPEN + r"(\d+)" + _PH_CLOSE)

_FENCE_RE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
_HEADING_RE = re.compile(r"^ {0,3}#{1,6}(?:[ \t]+(.*?))?[ \t]*#*[ \t]*$")
_HR_RE = re.compile(r"^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_BULLET_RE = re.compile(r"^([ \t]*)[-*+][ \t]+(.*)$")

_INLINE_RE = re.compile(
    r"(?P<code>(?<!`)(?P<ticks>`{1,3})(?!`)(?P<codebody>[^\n]{1,2000}?)(?<!`)(?P=ticks)(?!`))"
    r"|(?P<mdlink>!?\[(?P<label>[^\[\]\n]{0,500}(?:\[[^\[\]\n]{0,500}\][^\[\]\n]{0,500}){0,5})\]"
    r"\(\s*<?(?P<url>[^\s<>()]{0,2000}(?:\([^\s<>()]{0,500}\)[^\s<>()]{0,500}){0,3})>?"
    r"(?:\s+(?:\"[^\"\n]{0,300}\"|'[^'\n]{0,300}'))?\s*\))"
    r"|(?P<angle><(?P<aurl>https?://[^\s<>|]{1,2000})(?:\|(?P<alabel>[^<>\n]{0,500}))?>)"
    r"|(?P<br><br\s*/?>)"
    r"|(?P<bare>https?://[^\s<>()\[\]\"'`]{1,2000})",
    re.IGNORECASE,
)

_STRIP_LABEL_RE = re.compile(r"\*\*|__|`|~~")
_TRAILING_URL_PUNCT = ".,;:!?*_~'\""

_EMPH_SUBS = [
    # ***x*** / ___x___ -> *_x_*
    (re.compile(r"\*\*\*(?=\S)([^\n]{1,300}?)(?<=\S)\*\*\*"), _BOLD + r"_\1_" + _BOLD),
    (re.compile(r"(?<!\w)___(?=\S)([^\n]{1,300}?)(?<=\S)___(?!\w)"), _BOLD + r"_\1_" + _BOLD),
    # **x** / __x__ -> *x*
    (re.compile(r"\*\*(?=\S)([^\n]{1,300}?)(?<=\S)\*\*"), _BOLD + r"\1" + _BOLD),
    (re.compile(r"(?<!\w)__(?=\S)([^\n]{1,300}?)(?<=\S)__(?!\w)"), _BOLD + r"\1" + _BOLD),
    # ~~x~~ -> ~x~
    (re.compile(r"~~(?=\S)([^\n]{1,300}?)(?<=\S)~~"), r"~\1~"),
    # *x* -> _x_   (_x_ is already Slack italic)
    (re.compile(r"(?<![*\w])\*(?=[^\s*])([^\n*]{1,300}?)(?<=[^\s*])\*(?![*\w])"), r"_\1_"),
]


def _inline(raw: str) -> str:
    """Convert one line of (non-code) markdown to escaped mrkdwn."""
    tokens: list[str] = []

    def stash(s: str) -> str:
        tokens.append(s)
        return f"{_PH_OPEN}{len(tokens) - 1}{_PH_CLOSE}"

    def repl(m: re.Match) -> str:
        if m.group("code") is not None:
            body = m.group("codebody")
            if not body.strip():
                return escape(m.group(0))
            return stash("`" + escape(body.replace("`", "ˋ")) + "`")
        if m.group("mdlink") is not None:
            label = _STRIP_LABEL_RE.sub("", m.group("label") or "")
            return stash(link(m.group("url") or "", label))
        if m.group("angle") is not None:
            url = m.group("aurl")
            return stash(link(url, m.group("alabel") or url))
        if m.group("br") is not None:
            return "\n"
        url = m.group("bare")
        trail = ""
        while url and url[-1] in _TRAILING_URL_PUNCT:
            trail = url[-1] + trail
            url = url[:-1]
        if not url or _safe_url(url) is None:
            return m.group(0)
        return stash(link(url, url)) + trail

    text = _INLINE_RE.sub(repl, raw)
    # A stray ``` outside a code block would open one in Slack: break it up.
    text = escape(text).replace("```", "`" + ZWSP + "`" + ZWSP + "`")
    for rx, rep in _EMPH_SUBS:
        text = rx.sub(rep, text)
    text = text.replace(_BOLD, "*")
    return _PH_RE.sub(lambda m: tokens[int(m.group(1))], text)


def md_to_mrkdwn(md: str) -> str:
    """Convert Gemini-style markdown to escaped Slack mrkdwn (best effort).

    Never emits a live mention or a raw ``<``/``>`` other than links built by
    :func:`link`.
    """
    if not md:
        return ""
    md = _PRIVATE_RE.sub("", str(md)).replace("\r\n", "\n").replace("\r", "\n")
    out: list[str] = []
    fence: tuple[str, int] | None = None   # (char, length) of the open fence
    code_lines: list[str] = []

    def flush_code() -> None:
        if any(line.strip() for line in code_lines):
            out.append("```\n" + "\n".join(code_lines) + "\n```")
        code_lines.clear()

    for line in md.split("\n"):
        fm = _FENCE_RE.match(line)
        if fence is not None:
            if fm and fm.group(1)[0] == fence[0] and len(fm.group(1)) >= fence[1] and not fm.group(2).strip():
                fence = None
                flush_code()
            else:
                # Only change: a ``` inside the block would end it early in Slack.
                code_lines.append(escape(line.expandtabs(4)).replace("```", "`" + ZWSP + "`" + ZWSP + "`"))
            continue
        if fm and not (fm.group(1)[0] == "`" and "`" in fm.group(2)):
            fence = (fm.group(1)[0], len(fm.group(1)))
            continue
        if not line.strip():
            out.append("")
            continue
        if _HR_RE.match(line):
            out.append("──────────")
            continue
        hm = _HEADING_RE.match(line)
        if hm:
            body = re.sub(r"\*\*|__", "", hm.group(1) or "").strip()
            if body:
                conv = _inline(body).strip()
                if conv:
                    out.append(f"*{conv}*")
            continue
        bm = _BULLET_RE.match(line)
        if bm:
            indent = bm.group(1).expandtabs(4)
            marker = "◦ " if len(indent) >= 2 else "• "
            out.append(indent + marker + _inline(bm.group(2)))
            continue
        out.append(_inline(line))
    if fence is not None:
        flush_code()

    text = "\n".join(out)
    text = re.sub(r"\n[ \t]*\n(?:[ \t]*\n)+", "\n\n", text)
    return text.strip("\n").rstrip()


# ---------------------------------------------------------------------------
# split_text
# ---------------------------------------------------------------------------

_ATOM_RE = re.compile(
    r"<[^<>\n]*>"
    r"|&(?:[A-Za-z][A-Za-z0-9]{1,31}|#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6});"
    r"|```"
)
_TICKS_RE = re.compile(r"```")


def _is_glue(ch: str) -> bool:
    """Characters that must not start a piece (they attach to the previous char)."""
    o = ord(ch)
    return (
        unicodedata.combining(ch) != 0
        or ch == "\u200d"
        or 0xFE00 <= o <= 0xFE0F
        or 0xE0100 <= o <= 0xE01EF
        or 0x1F3FB <= o <= 0x1F3FF
        or 0xE0020 <= o <= 0xE007F
    )


def split_text(text: str, limit: int = SECTION_LIMIT) -> list[str]:
    """Split mrkdwn into non-empty pieces of at most ``limit`` characters.

    Prefers paragraph boundaries, then line breaks, then spaces, and only
    then a hard cut.  Never cuts inside a ``<...>`` link, an ``&...;``
    entity, a ``` run or a grapheme (combining marks, ZWJ sequences) unless a
    single such atom is longer than the limit.  A piece that ends inside a
    code block gets a closing fence and the next piece re-opens it.  Only
    whitespace at piece edges is dropped.
    """
    if limit < 20:
        raise ValueError("limit must be >= 20")
    if not text or not text.strip():
        return []
    n = len(text)
    forbid = bytearray(n + 1)      # 1 = cutting here would split an atom
    in_fence = bytearray(n + 1)    # 1 = cutting here would split a ``` run
    for m in _ATOM_RE.finditer(text):
        for p in range(m.start() + 1, m.end()):
            forbid[p] = 1
            if m.group(0) == "```":
                in_fence[p] = 1
    for p in range(1, n):
        if _is_glue(text[p]) or text[p - 1] == "\u200d":
            forbid[p] = 1
    fences = [m.start() for m in _TICKS_RE.finditer(text)]

    def in_code(p: int) -> bool:
        return bisect_left(fences, p) % 2 == 1

    pieces: list[str] = []
    start, reopen = 0, False
    while start < n:
        prefix = "```\n" if reopen else ""
        budget = limit - len(prefix)
        if n - start <= budget:
            body = text[start:]
            body = (body.lstrip("\n") if reopen else body.lstrip()).rstrip()
            if body:
                pieces.append(prefix + body)
            break
        hi = start + budget
        best = {"para": None, "line": None, "word": None, "hard": None}
        for c in range(hi, start, -1):
            if forbid[c] or (c > hi - 4 and in_code(c)):
                continue
            ch = text[c]
            if best["hard"] is None:
                best["hard"] = c
            if ch.isspace():
                if best["word"] is None:
                    best["word"] = c
                if ch == "\n":
                    if best["line"] is None:
                        best["line"] = c
                    if c + 1 < n and text[c + 1] == "\n":
                        best["para"] = c
                        break
        floor = start + max(1, budget // 3)
        cut = None
        for level in ("para", "line", "word"):
            if best[level] is not None and best[level] >= floor:
                cut = best[level]
                break
        if cut is None:
            cut = best["hard"]
        if cut is None:
            # Forced: an atom longer than the budget.  Cut inside it, but never
            # inside a ``` run and leave room for a closing fence.
            cut = next(c for c in range(hi, start, -1)
                       if not in_fence[c] and not (c > hi - 4 and in_code(c)))
        code = in_code(cut)
        if code:
            # Don't end a piece with an empty freshly-opened code block.
            k = bisect_left(fences, cut) - 1
            f = fences[k] if k >= 0 else -1
            if f > start and not forbid[f] and not text[f + 3:cut].strip():
                cut, code = f, False
        body = text[start:cut]
        body = (body.lstrip("\n") if reopen else body.lstrip()).rstrip()
        next_start, next_reopen = cut, code
        if code:
            # If the code block closes right after the cut, our added closing
            # fence stands in for it: skip it instead of re-opening.
            j = cut
            while j < n and text[j].isspace():
                j += 1
            if text.startswith("```", j) and bisect_left(fences, j) < len(fences) and fences[bisect_left(fences, j)] == j:
                next_start, next_reopen = j + 3, False
        if body.strip() and body.strip() != "```":
            pieces.append(prefix + body + ("\n```" if code else ""))
        start, reopen = next_start, next_reopen
    return [p for p in pieces if p.strip()]


# ---------------------------------------------------------------------------
# Block builders
# ---------------------------------------------------------------------------

def _mrkdwn(text: str) -> MarkdownTextObject:
    # verbatim=True: Slack does not auto-parse mentions/channels/URLs.
    return MarkdownTextObject(text=text, verbatim=True)


def _truncate_mrkdwn(text: str, budget: int) -> str:
    """Cut mrkdwn to <= budget chars at a safe boundary, adding an ellipsis."""
    head = split_text(text, budget - 2)[0]
    return head + ("\n…" if head.endswith("```") else " …")


def _sources_text(sources: list[dict], version: str | None = None) -> str:
    seen: set[str] = set()
    parts: list[str] = []
    text = f"Sources (Milvus {escape(version)} docs): " if version else "Sources: "
    for src in sources or []:
        if len(parts) >= MAX_SOURCES:
            break
        if not isinstance(src, dict):
            continue
        url = str(src.get("url") or "").strip()
        if not url or url in seen or _safe_url(url) is None:
            continue
        title = " ".join(str(src.get("title") or "").split())
        heading = " ".join(str(src.get("heading") or src.get("section") or "").split())
        if title and heading and heading != title:
            label = f"{title} › {heading}"
        else:
            label = title or heading or url
        item = link(url, label[:MAX_SOURCE_LABEL_LEN] if len(label) <= MAX_SOURCE_LABEL_LEN
                    else label[: MAX_SOURCE_LABEL_LEN - 1].rstrip() + "…")
        candidate = text + (" · " if parts else "") + item
        if len(candidate) > CONTEXT_LIMIT:
            break
        seen.add(url)
        parts.append(item)
        text = candidate
    return text if parts else ""


FEEDBACK_ACTION = "feedback"  # Slack's native feedback_buttons; value "up:<answer id>" / "down:<answer id>"


def feedback_value(value: str) -> tuple[str, str] | None:
    """"up:a12" -> ("up", "a12"); None for anything else."""
    vote, _, answer_id = (value or "").partition(":")
    return (vote, answer_id) if vote in ("up", "down") and answer_id else None


def action_blocks(answer_id: str, escalation: bool) -> list[dict]:
    """Native 👍/👎 (a context_actions block with feedback_buttons) and "Still need help"."""
    def button(text: str, vote: str, label: str) -> dict:
        return {"text": {"type": "plain_text", "text": text}, "value": f"{vote}:{answer_id}",
                "accessibility_label": label}

    out = [{"type": "context_actions", "elements": [{
        "type": "feedback_buttons", "action_id": FEEDBACK_ACTION,
        "positive_button": button("Helpful", "up", "Mark this answer as helpful"),
        "negative_button": button("Not helpful", "down", "Mark this answer as not helpful")}]}]
    if escalation:
        out.append(ActionsBlock(elements=[ButtonElement(text=PlainTextObject(text="Still need help", emoji=True),
                                                        action_id="escalate", value=answer_id)]).to_dict())
    return out


def footer_blocks(sources: list[dict], *, answer_id: str, note: str | None = None, escalation: bool = True,
                  version: str | None = None) -> list[dict]:
    """What follows a streamed answer (the text itself was streamed): note, sources, feedback, help."""
    if not isinstance(answer_id, str) or not answer_id or len(answer_id) > BUTTON_VALUE_LIMIT - 5:
        raise ValueError(f"answer_id must be a non-empty string of at most {BUTTON_VALUE_LIMIT - 5} chars")
    tail: list[dict] = []
    if note and str(note).strip():
        note_text = " ".join(str(note).split())
        if len(note_text) > 500:
            note_text = note_text[:499] + "…"
        tail.append(ContextBlock(elements=[_mrkdwn(escape(note_text))]).to_dict())
    src_text = _sources_text(sources, version)
    if src_text:
        tail.append(ContextBlock(elements=[_mrkdwn(src_text)]).to_dict())
    return tail + action_blocks(answer_id, escalation)


def answer_blocks(
    answer_md: str,
    sources: list[dict],
    *,
    answer_id: str,
    note: str | None = None,
    escalation: bool = True,
    version: str | None = None,
) -> list[dict]:
    """Render an answer as Block Kit dicts.

    Layout: answer sections (<= 3000 chars each, <= ANSWER_CHAR_BUDGET in
    total), optional "(answer truncated)" context, optional note context,
    "Sources:" context (deduped by URL, max 5) and an actions block with the
    feedback/escalation buttons (value = ``answer_id``).
    """
    tail = footer_blocks(sources, answer_id=answer_id, note=note, escalation=escalation, version=version)
    mrkdwn = md_to_mrkdwn(answer_md or "")
    if not mrkdwn.strip():
        mrkdwn = "_(No answer text.)_"
    truncated = False
    if len(mrkdwn) > ANSWER_CHAR_BUDGET:
        mrkdwn = _truncate_mrkdwn(mrkdwn, ANSWER_CHAR_BUDGET)
        truncated = True
    pieces = split_text(mrkdwn, SECTION_LIMIT)

    max_sections = MAX_BLOCKS - len(tail) - 1  # keep room for the truncation note
    if len(pieces) > max_sections:
        pieces = pieces[:max_sections]
        last = pieces[-1]
        suffix = "\n…" if last.endswith("```") else " …"
        if len(last) + len(suffix) > SECTION_LIMIT:
            last = _truncate_mrkdwn(last, SECTION_LIMIT)
        else:
            last += suffix
        pieces[-1] = last
        truncated = True

    blocks = [SectionBlock(text=_mrkdwn(p)).to_dict() for p in pieces]
    if truncated:
        blocks.append(ContextBlock(elements=[_mrkdwn("_(answer truncated)_")]).to_dict())
    return blocks + tail


_LINK_OUT_RE = re.compile(r"<https?://[^\s<>|]+\|([^<>|]*)>")
_FB_EMPH = [
    re.compile(r"(?<![*\w])\*(?=\S)([^\n*]{1,300}?)(?<=\S)\*(?![*\w])"),
    re.compile(r"(?<!\w)_(?=\S)([^\n_]{1,300}?)(?<=\S)_(?!\w)"),
    re.compile(r"(?<!\w)~(?=\S)([^\n~]{1,300}?)(?<=\S)~(?!\w)"),
]


def fallback_text(answer_md: str, limit: int = 3000) -> str:
    """Plain-ish, escaped one-paragraph text for notifications (<= limit chars)."""
    if limit < 2:
        raise ValueError("limit must be >= 2")
    text = md_to_mrkdwn(answer_md or "")
    text = _LINK_OUT_RE.sub(r"\1", text)
    text = text.replace("```", " ").replace("`", "")
    for rx in _FB_EMPH:
        text = rx.sub(r"\1", text)
    text = text.replace("• ", "").replace("◦ ", "").replace("──────────", " ")
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 1]
        text = re.sub(r"&[#A-Za-z0-9]*$", "", text).rstrip() + "…"
    return text


def usage_blocks(command: str = "/milvus") -> list[dict]:
    """Short help on how to ask the bot."""
    cmd = escape(" ".join(str(command or "/milvus").split())[:50]) or "/milvus"
    text = (
        "*Ask me anything about Milvus* — I answer from the Milvus documentation.\n"
        "• Mention me in a channel: `@Milvus FAQ how do I create a collection?`\n"
        f"• Use the slash command: `{cmd} what index types are supported?`\n"
        "• Or send me a direct message with your question."
    )
    examples = (
        "Examples: _How do I insert data with pymilvus?_ · "
        "_What is the difference between IVF_FLAT and HNSW?_ · "
        "_How do I run Milvus Lite?_"
    )
    return [
        SectionBlock(text=_mrkdwn(text)).to_dict(),
        ContextBlock(elements=[_mrkdwn(examples)]).to_dict(),
    ]


_ERRORS = {
    "milvus": "I couldn't search the Milvus docs just now, so please try again in a minute.",
    "gemini": "I couldn't write an AI answer right now, so please try again shortly.",
    "slack": "I had trouble talking to Slack, so please try again in a moment.",
    "busy": "I'm answering a lot of questions right now, so please try again in a minute.",
    "rate_limited": "You're asking a little fast, so please wait a moment before your next question.",
    "too_long": "That question is a bit too long for me, so please shorten it and ask again.",
    "internal": "Sorry, something went wrong on my side, so please try again.",
    "restarted": "I restarted while working on your question, so please ask it again.",
    "late": "I couldn't get to your question in time, so please ask it again.",
    "empty": "It looks like your message was empty, so please ask me a question about Milvus.",
}


def error_text(kind: str) -> str:
    """Short, friendly, one-sentence message for a failure kind."""
    return _ERRORS.get(kind, _ERRORS["internal"])
