import re
import zipfile

from hypothesis import given, settings, strategies as st

from rag_core.chunking import anchor, chunk_document, chunk_documents
from rag_core.sources import load_documents


def faq_docs(docs_zip, tmp_path):
    return load_documents(str(docs_zip), "en/faq/*.md", tmp_path)


def test_every_faq_question_is_one_chunk(docs_zip, tmp_path):
    docs = faq_docs(docs_zip, tmp_path)
    assert {d.path for d in docs} == {f"en/faq/{n}.md" for n in
                                      ("operational_faq", "performance_faq", "product_faq", "troubleshooting")}
    chunks = chunk_documents(docs)
    with zipfile.ZipFile(docs_zip) as zf:
        text = zf.read("en/faq/product_faq.md").decode()
    questions = [line[5:].strip() for line in text.splitlines() if line.startswith("#### ")]
    product = [c for c in chunks if c.source == "en/faq/product_faq.md"]
    assert [c.heading for c in product] == questions
    for c in product:
        assert c.title == "Product FAQ"
        assert c.text.startswith(c.heading)
        assert c.url.startswith("https://milvus.io/docs/product_faq.md#")
        assert "####" not in c.body  # the next question never leaks in


def test_hash_lines_in_code_fences_are_not_headings(docs_zip, tmp_path):
    chunks = chunk_documents(faq_docs(docs_zip, tmp_path))
    # operational_faq has "# Python Example: ..." inside a ```python fence
    assert not any(c.heading.startswith("Python Example") for c in chunks)
    owner = [c for c in chunks if "# Python Example" in c.body]
    assert len(owner) == 1 and owner[0].heading.startswith('What are the "length exceeds max length" errors')
    # troubleshooting: "# delete the pvc" is a shell comment inside a fence
    assert not any(c.heading.startswith("delete the pvc") for c in chunks)


def test_nested_sections_keep_their_path_and_deep_link(docs_zip, tmp_path):
    chunks = chunk_documents(faq_docs(docs_zip, tmp_path))
    pending = next(c for c in chunks if c.heading == "1. etcd pod pending")
    assert pending.path == ("etcd crash issues", "1. etcd pod pending")
    assert pending.url == "https://milvus.io/docs/troubleshooting.md#1-etcd-pod-pending"
    assert "StorageClass" in pending.body


def test_ids_are_stable_and_depend_on_content():
    a = chunk_document("en/x.md", "# T\n\n## Q1\n\nanswer one\n\n## Q2\n\nanswer two\n")
    b = chunk_document("en/x.md", "# T\n\n## Q1\n\nanswer one\n\n## Q2\n\nanswer 2\n")
    assert [c.id for c in a][0] == [c.id for c in b][0]
    assert a[1].id != b[1].id and a[1].location == b[1].location


def test_oversize_sections_are_split_under_the_cap():
    body = "\n\n".join(f"Paragraph {i} " + "word " * 80 for i in range(40))
    chunks = chunk_document("en/big.md", f"# Big\n\n## Section\n\n{body}\n", max_chars=1000)
    assert len(chunks) > 5
    assert all(len(c.body) <= 1000 for c in chunks)
    assert len({c.id for c in chunks}) == len(chunks)
    assert " ".join(c.body for c in chunks).split() == body.split()


def test_anchor():
    assert anchor("Where does Milvus store data?") == "Where-does-Milvus-store-data"
    assert anchor("Why does Milvus return `illegal instruction` during startup?") == \
        "Why-does-Milvus-return-illegal-instruction-during-startup"


md_line = st.one_of(
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=60),
    st.sampled_from(["# Title", "## Sec", "#### Q?", "```", "```python", "# comment", "- item", ""]),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(md_line, max_size=40))
def test_chunking_never_loses_or_invents_words(lines):
    text = "\n".join(lines)
    chunks = chunk_document("en/p.md", text, max_chars=300)
    words_in = re.findall(r"[^\W_]+", text)
    words_out = re.findall(r"[^\W_]+", " ".join(" ".join(c.path) + " " + c.body for c in chunks))
    # every word of the chunks comes from the page, and nothing but markup and the title is dropped
    assert set(words_out) <= set(words_in)
    for c in chunks:
        assert c.body.strip()
        assert c.url.startswith("https://milvus.io/docs/p.md")


table_cell = st.text(alphabet=st.characters(whitelist_categories=("L", "N"), whitelist_characters=" _-."),
                     min_size=1, max_size=40).map(str.strip).filter(bool)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(table_cell, table_cell), min_size=2, max_size=60), st.sampled_from(["pipe", "html"]),
       st.integers(min_value=300, max_value=1500))
def test_split_tables_repeat_their_header_row(rows, kind, cap):
    """A table over the cap is cut between rows; every part starts with the header row and every
    row lands in exactly one part (in order)."""
    if kind == "pipe":
        header = ["| Parameter | Description |", "|---|---|"]
        body = [f"| {a} {i} | {b} |" for i, (a, b) in enumerate(rows)]
        row_starts = body
    else:
        header = ["<table>", "   <tr>", "     <th><p>Parameter</p></th>", "     <th><p>Description</p></th>",
                  "   </tr>"]
        body, row_starts = [], []
        for i, (a, b) in enumerate(rows):
            row_starts.append(f"   <tr id=\"r{i}\">")
            body += [row_starts[-1], f"     <td><p>{a}</p></td>", f"     <td><p>{b}</p></td>", "   </tr>"]
        body.append("</table>")
    text = "# Page\n\n## Params\n\nThe parameters:\n\n" + "\n".join(header + body) + "\n"
    chunks = chunk_document("en/p.md", text, max_chars=cap)
    lines_of = [[x.strip() for x in c.body.split("\n")] for c in chunks]
    table_parts = [c for c, lines in zip(chunks, lines_of) if any(r.strip() in lines for r in row_starts)]
    if len("\n".join(header + body)) + 20 <= cap:
        assert len(table_parts) == 1
    for c in table_parts:
        assert len(c.body) <= cap
        lines = [x.strip() for x in c.body.split("\n")]
        start = lines.index(header[0].strip())
        assert lines[start : start + len(header)] == [h.strip() for h in header]
    seen = [r.strip() for c in table_parts for r in row_starts if r.strip() in [x.strip() for x in c.body.split("\n")]]
    assert seen == [r.strip() for r in row_starts]
