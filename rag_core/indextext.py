"""What of a chunk's markdown goes into the search fields (BM25 text and the embedded text).

A chunk's body is shown to users as it is. The search fields get a quieter version
(chosen by `python -m benchmarks.tune_alldocs`):
- the docs show every code example in up to five languages (Python, Java, Node.js, Go,
  RESTful curl) as consecutive blocks: only the first block of such a group (separated by
  blank lines only) is kept - the others repeat it
  with different boilerplate, dilute BM25 (length normalisation) and fill MiniLM's
  256-token window with `import io.milvus...`;
- kept code blocks are cut to their first lines (identifiers such as
  `search_iterator`, not the 40 sample vectors);
- HTML tables and markup become plain text (`<td><p><code>nlist</code></p></td>` -> `nlist`),
  links keep their words and lose their URLs, images are dropped.
"""

from __future__ import annotations

import re
from functools import lru_cache

# code blocks kept in the search fields, at most this many lines each
CODE_LINES = 12
_FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([\w#+-]*)[^\n]*$")
_TAG = re.compile(r"<[^>\n]{1,400}>")
_IMAGE = re.compile(r"!\[[^\]\n]*\]\([^)\n]*\)")
_LINK = re.compile(r"\[([^\]\n]*)\]\([^)\n]*\)")
_URL = re.compile(r"https?://\S+")
_ENTITY = re.compile(r"&(nbsp|amp|lt|gt|quot|#\d+);")
_ENTITIES = {"nbsp": " ", "amp": "&", "lt": "<", "gt": ">", "quot": '"'}
_LONG_NUMBER = re.compile(r"-?\d+\.\d{4,}")  # sample vectors: 0.3580376395471989
_TABS = {"python", "java", "go", "nodejs", "node.js", "javascript", "curl", "restful", "bash", "shell"}


def _strip_markup(text: str) -> str:
    text = _IMAGE.sub(" ", text)
    text = _LINK.sub(r"\1", text)
    text = _TAG.sub(" ", text)
    text = _ENTITY.sub(lambda m: _ENTITIES.get(m.group(1), " "), text)
    text = _URL.sub(" ", text).replace("**", "")
    return re.sub(r"[ \t]+", " ", text)


@lru_cache(maxsize=20_000)
def searchable(body: str, code_lines: int = CODE_LINES) -> str:
    """The body as the search fields see it (see the module docstring)."""
    out: list[str] = []
    lines = body.split("\n")
    i, group_open = 0, False  # group_open: a code block was kept and only blank lines followed it
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            line = _strip_markup(lines[i])
            if line.strip() and not set(line.lower().split()) <= _TABS:  # not the language-tab bar
                group_open = False
                out.append(line)
            i += 1
            continue
        fence = m.group(2)
        j = i + 1
        while j < len(lines) and not lines[j].strip().startswith(fence[0] * len(fence)):
            j += 1
        code = lines[i + 1 : j]
        i = j + 1
        # the second and later blocks of a language-tab group repeat the first one
        if group_open:
            continue
        out.extend(_LONG_NUMBER.sub("", line).rstrip() for line in code[:code_lines] if line.strip())
        group_open = True
    return "\n".join(out).strip()
