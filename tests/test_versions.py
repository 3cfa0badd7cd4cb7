import pytest
from hypothesis import given, settings, strategies as st

from rag_core.versions import (
    folder_version_from_name,
    mentioned_version,
    normalise,
    parse_channel_map,
    parse_list,
    sort_key,
)

# ---- normalise / parse_list / parse_channel_map ----------------------------------------------


@pytest.mark.parametrize("value", ["v2.6.x", "2.6", "v2.6", "2.6.x", "V2.6.X", "2.6.3", " v2.6.x ", "2.06"])
def test_normalise_to_the_docs_folder_form(value):
    assert normalise(value) == "v2.6.x"


@pytest.mark.parametrize("value", ["latest", "LATEST", " Latest "])
def test_normalise_latest(value):
    assert normalise(value) == "latest"


@pytest.mark.parametrize("value", ["", "2", "v2", "2.x", "two.six", "v2.6.x.1", "2.6-beta", "newest",
                                   "v 2.6", "2,6", "2.6.3.1", "3.0.0-beta", "v2.6.x,latest"])
def test_normalise_rejects_anything_else(value):
    with pytest.raises(ValueError, match="expected like v2.6.x or latest"):
        normalise(value)


def test_parse_list():
    assert parse_list("latest, v2.6.x") == ["latest", "v2.6.x"]
    assert parse_list("2.5,v2.5.x, 2.6 ,latest,LATEST") == ["v2.5.x", "v2.6.x", "latest"]
    assert parse_list("") == ["latest"]
    assert parse_list(" , ") == ["latest"]
    assert parse_list("v2.4.x,,v3.0") == ["v2.4.x", "v3.0.x"]
    with pytest.raises(ValueError, match="expected like v2.6.x or latest"):
        parse_list("latest, 2.6 beta")


def test_parse_channel_map():
    assert parse_channel_map("C0123:v2.5.x, C0456:2.6") == {"C0123": "v2.5.x", "C0456": "v2.6.x"}
    assert parse_channel_map("") == {}
    assert parse_channel_map("G01ABCDEF:latest,D0ZZZ:V3.0.X,") == {"G01ABCDEF": "latest", "D0ZZZ": "v3.0.x"}
    assert parse_channel_map("C0123:2.5, C0123:v2.5.x") == {"C0123": "v2.5.x"}  # same twice is fine


@pytest.mark.parametrize("value, named", [
    ("C0123", "'C0123'"),  # no version
    ("general:v2.6.x", "'general:v2.6.x'"),  # a channel name, not an id
    ("c0123:v2.6.x", "'c0123:v2.6.x'"),  # Slack ids are upper case
    ("U0123:v2.6.x", "'U0123:v2.6.x'"),  # a user, not a channel
    ("C0:v2.6.x", "'C0:v2.6.x'"),  # too short
    ("C0123:v2.6.x, C0456:two", "'C0456:two'"),
    ("C0123:", "'C0123:'"),
    ("C0123:v2.5.x, C0123:v2.6.x", "'C0123:v2.6.x'"),  # one channel, two versions
])
def test_parse_channel_map_names_the_bad_entry(value, named):
    with pytest.raises(ValueError) as err:
        parse_channel_map(value)
    assert named in str(err.value)


# ---- folder_version_from_name / sort_key ----------------------------------------------------


@pytest.mark.parametrize("name, version", [
    ("milvus_docs_2.4.x_en.zip", "v2.4.x"),
    ("docs-v2.6.x", "v2.6.x"),
    ("/data/milvus_docs_3.0.x_en.zip", "v3.0.x"),
    ("v2.5.x", "v2.5.x"),
    ("milvus_docs_v2.4.6-preview_en.zip", "v2.4.x"),
    ("https://github.com/milvus-io/milvus-docs/releases/download/v2.4.6-preview/milvus_docs_en.zip", "v2.4.x"),
    ("/srv/v1.2/milvus_docs_2.5.x_en.zip", "v2.5.x"),  # the file name wins over a folder
    ("milvus_docs_en.zip", None),
    ("docs", None),
    ("", None),
    ("backup-2024.10.25.zip", None),  # a date
    ("10.0.0.1", None),
])
def test_folder_version_from_name(name, version):
    assert folder_version_from_name(name) == version


def test_sort_key_orders_newest_first():
    versions = ["v2.4.x", "junk", "v3.0.x", "latest", "v2.10.x", "2.6", "v2.5.x"]
    assert sorted(versions, key=sort_key) == ["latest", "v3.0.x", "v2.10.x", "2.6", "v2.5.x", "v2.4.x", "junk"]


# ---- mentioned_version --------------------------------------------------------------------------

POSITIVES = [
    ("Does hybrid search work on 2.5?", "v2.5.x"),
    ("Milvus 2.6.3 crashes on startup", "v2.6.x"),
    ("is v2.4.x still supported", "v2.4.x"),
    ("milvus 2.4: how do I enable mmap", "v2.4.x"),
    ("We're still on Milvus 2.4 - can it run on ARM", "v2.4.x"),
    ("was this added in version 2.5", "v2.5.x"),
    ("2.6.x release notes", "v2.6.x"),
    ("what is new in v3.0", "v3.0.x"),
    ("milvus2.5 full text search", "v2.5.x"),
    ("Milvus v2.5.4 with pymilvus 2.5.3", "v2.5.x"),
    ("how do I upgrade to 2.6", "v2.6.x"),
    ("upgrading from 2.5 to 2.6: what breaks?", "v2.5.x"),  # the first named
    ("milvus 2.5 with pymilvus 2.5.4", "v2.5.x"),
    ("pymilvus 2.5.4 against milvus 2.6", "v2.6.x"),  # the SDK's is skipped, Milvus's kept
    ("On 2.5, is BM25 available?", "v2.5.x"),
    ("MILVUS 3.0 tiered storage", "v3.0.x"),
    ("docker pull milvusdb/milvus:v2.5.4 fails", "v2.5.x"),
    ("see https://milvus.io/docs/v2.5.x/reranking.md", "v2.5.x"),
    ("Milvus standalone 2.5 keeps restarting", "v2.5.x"),
    ("Milvus 2.5 vector search is slow", "v2.5.x"),  # a noun after the version, not a unit
    ("we are running 2.4 in production", "v2.4.x"),
    ("is the bug fixed in 2.6?", "v2.6.x"),
    ("Upgrade milvus from 2.4 to 2.5", "v2.4.x"),
    ("migrating to 3.0 from 2.6", "v3.0.x"),
    ("we have 2.5.4 installed", "v2.5.x"),
    ("Is 2.6.X stable?", "v2.6.x"),
    ("Milvus 1.1 docs", "v1.1.x"),
    ("milvus-2.5 helm values", "v2.5.x"),
    ("the latest version is 2.6 right?", "v2.6.x"),
    ("Milvus 2.5 (with 2.5 million vectors)", "v2.5.x"),
]

NEGATIVES = [
    "I have 2.5 million vectors",
    "2.5M vectors on one node",
    "index is 2.5 GB",
    "1.5x faster than before",
    "0.75 recall at top 10",
    "a score 2.5 is returned",
    "BM25 with k1 = 1.2 and b = 0.75",
    "ef 2.5 is too low",
    "top 3 results",
    "search takes 3.0 seconds",
    "CPU at 2.5%",
    "python 3.11 support",
    "pymilvus 2.5.4 raises an error",
    "connect to 192.168.1.10",
    "10.0.0.1:19530 refuses connections",
    "port 19530",
    "since 2024.10.25 it fails",
    "on 25.10.2024 the node crashed",
    "set ef to 2.5",
    "on 2.5 million vectors",
    "it finishes in 2.5 seconds",
    "python version 3.11",
    "upgrade pymilvus to 2.5",
    "Milvus Operator 1.2.0 install",
    "milvus-lite 2.4.10 on mac",
    "helm chart 4.1.0",
    "Attu 2.5 cannot connect",
    "node 18.17.0 sdk",
    "gemini 2.5 flash answers",
    "gpt-3.5 embeddings",
    "TLS 1.2 only",
    "3.11.4",
    "on python 3.11",
    "latency in 2.5-3.0 ms",
    "Milvus 2.x",
    "HTTP/1.1 proxy",
    "Java SDK version 2.5.0",
    "upgrade the knowhere 2.3 build",
    "increase nprobe from 1.5 to 2.5",
    "on 2.5k vectors",
    "Kubernetes 1.28 cluster",
    "Docker 24.0 and compose 2.20",
    "",
]


@pytest.mark.parametrize("question, version", POSITIVES)
def test_mentioned_version_finds(question, version):
    assert mentioned_version(question) == version


@pytest.mark.parametrize("question", NEGATIVES)
def test_mentioned_version_ignores(question):
    assert mentioned_version(question) is None


def test_tables_are_big_enough():
    assert len(POSITIVES) >= 25 and len(NEGATIVES) >= 25


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_mentioned_version_never_raises(text):
    result = mentioned_version(text)
    assert result is None or (result.startswith("v") and result.endswith(".x") and normalise(result) == result)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789.vVx milvusMILVUS:-_/,=", max_size=40))
def test_mentioned_version_never_raises_on_number_soup(text):
    mentioned_version(text)


UNITS = ["million", "M", "GB", "gb", "MB", "%", "x", "times", "seconds", "ms", "billion", "k", "TB", "percent"]


@settings(max_examples=300, deadline=None)
@given(major=st.integers(0, 9), minor=st.integers(0, 99),
       unit=st.sampled_from(UNITS), glue=st.sampled_from(["", " "]),
       before=st.sampled_from(["", "about ", "on ", "in ", "Milvus ", "we have ", "upgrade to "]),
       rest=st.sampled_from(["", " vectors", " faster", " of RAM", " per query"]))
def test_a_quantity_is_never_a_version(major, minor, unit, glue, before, rest):
    assert mentioned_version(f"{before}{major}.{minor}{glue}{unit}{rest}") is None


@given(st.sampled_from(["v2.6.x", "2.6", "V3.0.X", "2.4.11", "latest", "LATEST", "1.1"]))
def test_normalise_is_idempotent(value):
    once = normalise(value)
    assert normalise(once) == once
    assert parse_list(",".join([once, value])) == [once]


@given(st.integers(1, 9), st.integers(0, 99))
def test_normalise_outputs_are_fixed_points(major, minor):
    out = normalise(f"{major}.{minor}")
    assert out == f"v{major}.{minor}.x" and normalise(out) == out
    assert folder_version_from_name(f"milvus_docs_{out[1:]}_en.zip") == out


@given(st.integers(2, 3), st.integers(0, 99))
def test_on_milvus_major_minor(major, minor):
    assert mentioned_version(f"on milvus {major}.{minor}") == f"v{major}.{minor}.x"
    assert mentioned_version(f"On Milvus {major}.{minor}, does search work?") == f"v{major}.{minor}.x"


@pytest.mark.parametrize("question, version, expected", [
    ("milvus 2.4: if I pass partition names", "v2.4.x", "milvus : if I pass partition names"),
    ("on Milvus v2.4.x can I flush", "v2.4.x", "on Milvus can I flush"),
    ("Milvus 2.4.11 max dim?", "v2.4.x", "Milvus max dim?"),
    ("v2.6 nullable fields", "v2.4.x", "v2.6 nullable fields"),  # another version stays
    ("index 12.4 things", "v2.4.x", "index 12.4 things"),  # not a version
    ("no version here", "latest", "no version here"),
])
def test_without_version_drops_the_routed_mention(question, version, expected):
    from rag_core.versions import without_version

    assert without_version(question, version) == expected
