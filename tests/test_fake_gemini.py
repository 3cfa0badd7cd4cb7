"""Tests for testkit/fakes/gemini_server.py using the REAL google-genai client."""

from __future__ import annotations

import json
import math
import threading
import time
import urllib.error
import urllib.request

import pytest
from google import genai
from google.genai import errors, types

from testkit.fakes.gemini_server import FakeGemini

GEN_MODEL = "gemini-2.5-flash"
EMBED_MODEL = "gemini-embedding-001"

PROMPT_WITH_CONTEXT = (
    "Answer using only the context below and cite passages like [n].\n\n"
    "Context:\n"
    "[1] Index overview (https://milvus.io/docs/index.md)\n"
    "Milvus supports several vector index types. HNSW is a graph-based index "
    "with high recall. IVF_FLAT partitions vectors into clusters.\n"
    "[2] Other page (https://milvus.io/docs/other.md)\n"
    "Something else entirely.\n\n"
    "Question: Which index types does Milvus support?"
)
EXPECTED_ANSWER = (
    "According to the Milvus docs, Milvus supports several vector index types. "
    "HNSW is a graph-based index with high recall. [1]"
)
NO_CONTEXT_ANSWER = "The documentation I have does not cover this question."


@pytest.fixture(scope="module")
def server():
    with FakeGemini() as fake:
        yield fake


@pytest.fixture
def fake(server):
    server.clear_faults()
    server.reset_counters()
    server.latency = 0.0
    yield server
    server.clear_faults()
    server.latency = 0.0


def make_client(fake, api_version="v1beta", api_key=None, **opts) -> genai.Client:
    return genai.Client(
        api_key=api_key or fake.api_key,
        http_options=types.HttpOptions(base_url=fake.base_url, api_version=api_version, **opts),
    )


def cosine(a, b):
    dot = sum(x * y for x, y in zip(a, b))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


# --- generation ---------------------------------------------------------------


@pytest.mark.parametrize("version", ["v1", "v1beta"])
def test_generate_content(fake, version):
    client = make_client(fake, version)
    resp = client.models.generate_content(
        model=GEN_MODEL,
        contents=PROMPT_WITH_CONTEXT,
        config=types.GenerateContentConfig(system_instruction="You are a Milvus assistant.", temperature=0.1),
    )
    assert resp.text == EXPECTED_ANSWER
    assert resp.candidates[0].finish_reason == types.FinishReason.STOP
    um = resp.usage_metadata
    assert um.prompt_token_count > 0 and um.candidates_token_count > 0
    assert um.total_token_count == um.prompt_token_count + um.candidates_token_count
    assert resp.model_version == GEN_MODEL
    req = fake.requests[-1]
    assert req["version"] == version and req["action"] == "generateContent" and req["model"] == GEN_MODEL
    assert req["headers"]["x-goog-api-key"] == fake.api_key
    assert req["json"]["systemInstruction"]["parts"][0]["text"] == "You are a Milvus assistant."
    assert fake.generate_requests == 1


def test_generate_is_deterministic_and_no_context(fake):
    client = make_client(fake)
    a = client.models.generate_content(model="gemini-flash-latest", contents=PROMPT_WITH_CONTEXT)
    b = client.models.generate_content(model="gemini-flash-latest", contents=PROMPT_WITH_CONTEXT)
    assert a.text == b.text == EXPECTED_ANSWER
    c = client.models.generate_content(model="gemini-flash-latest", contents="What is Milvus?")
    assert c.text == NO_CONTEXT_ANSWER


def test_generate_stream(fake):
    client = make_client(fake)
    chunks = list(client.models.generate_content_stream(model=GEN_MODEL, contents=PROMPT_WITH_CONTEXT))
    assert len(chunks) >= 3
    assert "".join(c.text for c in chunks) == EXPECTED_ANSWER
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
    assert chunks[-1].usage_metadata.candidates_token_count > 0
    assert all(c.candidates[0].finish_reason is None for c in chunks[:-1])
    assert fake.requests[-1]["path"].endswith(":streamGenerateContent?alt=sse")


def test_paused_streams_send_their_first_chunk_and_wait(fake):
    """pause_streams(): answers in flight (their first words out) until resume_streams()."""
    client = make_client(fake)
    fake.pause_streams()
    got: list[str] = []

    def read():
        for chunk in client.models.generate_content_stream(model=GEN_MODEL, contents=PROMPT_WITH_CONTEXT):
            got.append(chunk.text)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.monotonic() + 5
    while not (got and fake.streams_paused == 1) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(got) == 1 and fake.streams_paused == 1
    time.sleep(0.2)
    assert len(got) == 1  # still waiting
    fake.resume_streams()
    reader.join(5)
    assert "".join(got) == EXPECTED_ANSWER and fake.streams_paused == 0


def test_stream_block_answer(fake):
    fake.set_fault("block_answer", on="generate")
    client = make_client(fake)
    chunks = list(client.models.generate_content_stream(model=GEN_MODEL, contents=PROMPT_WITH_CONTEXT))
    assert chunks[0].text
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.SAFETY
    assert chunks[-1].text is None


def test_generate_validation(fake):
    client = make_client(fake)
    # (The SDK itself rejects contents=[] before sending.)
    with pytest.raises(errors.ClientError) as ei:
        client.models.generate_content(
            model=GEN_MODEL, contents=types.Content(role="user", parts=[types.Part(text="")])
        )
    assert ei.value.code == 400 and "required oneof field 'data'" in ei.value.message
    with pytest.raises(errors.ClientError) as ei:
        client.models.generate_content(
            model=GEN_MODEL, contents=types.Content(role="assistant", parts=[types.Part(text="hi")])
        )
    assert ei.value.code == 400 and "role" in ei.value.message
    with pytest.raises(errors.ClientError) as ei:
        client.models.generate_content(
            model=GEN_MODEL, contents="hi", config=types.GenerateContentConfig(temperature=5)
        )
    assert ei.value.code == 400


def test_generate_on_embedding_model_is_404(fake):
    client = make_client(fake)
    with pytest.raises(errors.ClientError) as ei:
        client.models.generate_content(model=EMBED_MODEL, contents="hi")
    assert ei.value.code == 404 and ei.value.status == "NOT_FOUND"


# --- embeddings --------------------------------------------------------------


def test_embed_batch(fake):
    client = make_client(fake)
    texts = [
        "How do I create an HNSW index in Milvus?",
        "Creating HNSW indexes in Milvus collections",
        "The weather in Paris is sunny today.",
    ]
    resp = client.models.embed_content(
        model=EMBED_MODEL,
        contents=texts,
        config=types.EmbedContentConfig(task_type="RETRIEVAL_DOCUMENT", output_dimensionality=768),
    )
    vecs = [e.values for e in resp.embeddings]
    assert len(vecs) == 3 and all(len(v) == 768 for v in vecs)
    # Not normalised below 3072 dims.
    assert any(abs(math.sqrt(sum(x * x for x in v)) - 1.0) > 1e-3 for v in vecs)
    assert cosine(vecs[0], vecs[1]) > 0.5 > cosine(vecs[0], vecs[2])
    req = fake.requests[-1]
    assert req["action"] == "batchEmbedContents"
    assert req["json"]["requests"][0]["taskType"] == "RETRIEVAL_DOCUMENT"
    assert fake.embed_requests == 1 and fake.embedded_texts == 3
    # Deterministic across calls.
    again = client.models.embed_content(
        model=EMBED_MODEL,
        contents=texts[:1],
        config=types.EmbedContentConfig(task_type="RETRIEVAL_DOCUMENT", output_dimensionality=768),
    )
    assert again.embeddings[0].values == vecs[0]


def test_embed_default_dim_is_normalised(fake):
    client = make_client(fake, "v1")
    resp = client.models.embed_content(model=EMBED_MODEL, contents="milvus vector database")
    v = resp.embeddings[0].values
    assert len(v) == 3072
    assert abs(math.sqrt(sum(x * x for x in v)) - 1.0) < 1e-6


def test_embed_limits_and_validation(fake):
    client = make_client(fake)
    with pytest.raises(errors.ClientError) as ei:
        client.models.embed_content(model=EMBED_MODEL, contents=[f"text {i}" for i in range(101)])
    assert ei.value.code == 400 and "at most 100 requests" in ei.value.message
    with pytest.raises(errors.ClientError) as ei:
        client.models.embed_content(model=EMBED_MODEL, contents=["ok", ""])
    assert ei.value.code == 400
    with pytest.raises(errors.ClientError) as ei:
        client.models.embed_content(
            model=EMBED_MODEL, contents=["ok"], config=types.EmbedContentConfig(task_type="RETRIEVAL_DOCS")
        )
    assert ei.value.code == 400 and "task_type" in ei.value.message
    with pytest.raises(errors.ClientError) as ei:
        client.models.embed_content(model=GEN_MODEL, contents=["ok"])
    assert ei.value.code == 404
    assert fake.embed_requests == 0
    # 100 is fine.
    resp = client.models.embed_content(
        model=EMBED_MODEL, contents=[f"text {i}" for i in range(100)],
        config=types.EmbedContentConfig(output_dimensionality=128),
    )
    assert len(resp.embeddings) == 100


def test_single_embed_content_endpoint(fake):
    # The SDK never uses :embedContent for the Developer API; hit it directly.
    body = json.dumps(
        {"content": {"parts": [{"text": "hello milvus"}]}, "taskType": "RETRIEVAL_QUERY", "outputDimensionality": 256}
    ).encode()
    req = urllib.request.Request(
        f"{fake.base_url}v1beta/models/{EMBED_MODEL}:embedContent",
        data=body,
        headers={"Content-Type": "application/json", "x-goog-api-key": fake.api_key},
    )
    with urllib.request.urlopen(req, timeout=5) as r:
        out = json.load(r)
    assert len(out["embedding"]["values"]) == 256
    # ?key= auth also works; unknown path -> 404 JSON.
    with pytest.raises(urllib.error.HTTPError) as ei:
        urllib.request.urlopen(f"{fake.base_url}v1beta/nothing?key={fake.api_key}", timeout=5)
    assert ei.value.code == 404 and json.load(ei.value)["error"]["status"] == "NOT_FOUND"
    with urllib.request.urlopen(f"{fake.base_url}v1/models/{GEN_MODEL}?key={fake.api_key}", timeout=5) as r:
        assert json.load(r)["name"] == f"models/{GEN_MODEL}"
    # Missing contents / unknown field -> 400 (real API rejects both).
    for payload in ({}, {"contents": [{"parts": [{"text": "hi"}]}], "bogusField": 1}):
        r = urllib.request.Request(
            f"{fake.base_url}v1beta/models/{GEN_MODEL}:generateContent",
            data=json.dumps(payload).encode(),
            headers={"Content-Type": "application/json", "x-goog-api-key": fake.api_key},
        )
        with pytest.raises(urllib.error.HTTPError) as ei:
            urllib.request.urlopen(r, timeout=5)
        assert ei.value.code == 400 and json.load(ei.value)["error"]["status"] == "INVALID_ARGUMENT"
    # Invalid JSON body -> 400.
    bad = urllib.request.Request(
        f"{fake.base_url}v1beta/models/{GEN_MODEL}:generateContent",
        data=b"{not json",
        headers={"Content-Type": "application/json", "x-goog-api-key": fake.api_key},
    )
    with pytest.raises(urllib.error.HTTPError) as ei:
        urllib.request.urlopen(bad, timeout=5)
    assert ei.value.code == 400


# --- auth & models --------------------------------------------------------------


def test_bad_api_key(fake):
    client = make_client(fake, api_key="wrong-key")
    with pytest.raises(errors.ClientError) as ei:
        client.models.generate_content(model=GEN_MODEL, contents="hi")
    assert ei.value.code == 400
    assert ei.value.details["error"]["details"][0]["reason"] == "API_KEY_INVALID"


def test_models_get(fake):
    client = make_client(fake)
    m = client.models.get(model="gemini-flash-latest")
    assert m.name == "models/gemini-flash-latest"
    assert "generateContent" in m.supported_actions
    assert client.models.get(model=EMBED_MODEL).input_token_limit == 2048


@pytest.mark.parametrize("model", ["gemini-2.0-flash", "text-embedding-004"])
def test_shut_down_models_404(fake, model):
    client = make_client(fake)
    with pytest.raises(errors.ClientError) as ei:
        client.models.get(model=model)
    assert ei.value.code == 404
    with pytest.raises(errors.ClientError) as ei:
        client.models.generate_content(model=model, contents="hi")
    assert ei.value.code == 404 and "is not found for API version v1beta" in ei.value.message


# --- faults ---------------------------------------------------------------------


def test_429_retried_with_retry_options(fake):
    fake.set_fault("429", times=2, on="generate")
    client = make_client(
        fake,
        retry_options=types.HttpRetryOptions(attempts=3, initial_delay=0.05, max_delay=0.1, jitter=0.0),
    )
    resp = client.models.generate_content(model=GEN_MODEL, contents=PROMPT_WITH_CONTEXT)
    assert resp.text == EXPECTED_ANSWER
    assert len([r for r in fake.requests if r["action"] == "generateContent"]) == 3
    assert fake.generate_requests == 1


def test_429_without_retry_raises(fake):
    fake.set_fault("429", on="any")
    client = make_client(fake)
    with pytest.raises(errors.ClientError) as ei:
        client.models.generate_content(model=GEN_MODEL, contents="hi")
    assert ei.value.code == 429 and ei.value.status == "RESOURCE_EXHAUSTED"
    assert ei.value.response.headers["retry-after"] == "1"
    # Fault consumed: next call works.
    assert client.models.generate_content(model=GEN_MODEL, contents="hi").text == NO_CONTEXT_ANSWER


def test_fault_targeting(fake):
    fake.set_fault("500", times=None, on="embed")
    client = make_client(fake)
    assert client.models.generate_content(model=GEN_MODEL, contents="hi").text
    for _ in range(2):
        with pytest.raises(errors.ServerError):
            client.models.embed_content(model=EMBED_MODEL, contents=["x"])
    fake.clear_faults()
    assert client.models.embed_content(model=EMBED_MODEL, contents=["x"]).embeddings


@pytest.mark.parametrize("kind,status", [("500", "INTERNAL"), ("503", "UNAVAILABLE")])
def test_server_errors(fake, kind, status):
    fake.set_fault(kind)
    client = make_client(fake)
    with pytest.raises(errors.ServerError) as ei:
        client.models.generate_content(model=GEN_MODEL, contents="hi")
    assert ei.value.code == int(kind) and ei.value.status == status


def test_block_prompt(fake):
    fake.set_fault("block_prompt", on="generate")
    client = make_client(fake)
    resp = client.models.generate_content(model=GEN_MODEL, contents="something bad")
    assert resp.text is None
    assert not resp.candidates
    assert resp.prompt_feedback.block_reason == types.BlockedReason.SAFETY


def test_block_answer(fake):
    fake.set_fault("block_answer", on="generate")
    client = make_client(fake)
    resp = client.models.generate_content(model=GEN_MODEL, contents="something bad")
    assert resp.text is None
    assert resp.candidates[0].finish_reason == types.FinishReason.SAFETY
    assert any(r.blocked for r in resp.candidates[0].safety_ratings)


def test_malformed(fake):
    fake.set_fault("malformed", times=2)
    client = make_client(fake)
    with pytest.raises(Exception):
        client.models.generate_content(model=GEN_MODEL, contents="hi")
    with pytest.raises(Exception):
        client.models.embed_content(model=EMBED_MODEL, contents=["x"])


def test_slow_and_latency(fake):
    client = make_client(fake)
    fake.set_fault("slow", delay=0.3)
    t0 = time.monotonic()
    assert client.models.generate_content(model=GEN_MODEL, contents="hi").text == NO_CONTEXT_ANSWER
    assert time.monotonic() - t0 >= 0.3
    fake.latency = 0.2
    t0 = time.monotonic()
    client.models.embed_content(model=EMBED_MODEL, contents=["x"])
    assert time.monotonic() - t0 >= 0.2


def test_hang_times_out(fake):
    fake.set_fault("hang", on="generate")  # default delay 30 s
    client = make_client(fake, timeout=1000)  # ms
    t0 = time.monotonic()
    with pytest.raises(Exception):
        client.models.generate_content(model=GEN_MODEL, contents="hi")
    assert time.monotonic() - t0 < 3


def test_stop_is_prompt_while_hanging():
    fake = FakeGemini().start()
    fake.set_fault("hang", times=None, delay=30)
    client = make_client(fake, timeout=300)
    with pytest.raises(Exception):
        client.models.generate_content(model=GEN_MODEL, contents="hi")
    t0 = time.monotonic()
    fake.stop()
    assert time.monotonic() - t0 < 2


def test_set_fault_validates():
    fake = FakeGemini()
    with pytest.raises(ValueError):
        fake.set_fault("404")
    with pytest.raises(ValueError):
        fake.set_fault("429", on="chat")
