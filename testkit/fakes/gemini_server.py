"""A local fake of the Gemini Developer API (generativelanguage.googleapis.com).

It speaks the wire format that the real ``google-genai`` SDK sends and parses
(checked against google-genai 3.6.1), so tests can point a real client at it::

    with FakeGemini() as fake:
        client = genai.Client(
            api_key=fake.api_key,
            http_options=types.HttpOptions(base_url=fake.base_url,
                                           api_version="v1beta"),
        )
        client.models.generate_content(model="gemini-2.5-flash", contents="hi")

Only the stdlib is used. The server runs on 127.0.0.1 on a free port, in
daemon threads; ``stop()`` returns promptly even while a "hang" fault sleeps.

Endpoints (both ``/v1/`` and ``/v1beta/``):
  POST models/{m}:generateContent
  POST models/{m}:streamGenerateContent?alt=sse
  POST models/{m}:batchEmbedContents   (what the SDK uses for embed_content)
  POST models/{m}:embedContent         (single; the SDK does not use it)
  GET  models/{m}

Requests are validated roughly like the real API (API key, model, method
support, unknown fields, roles, empty parts, taskType enum, batch size...).
Errors use Google's JSON error shape ``{"error": {"code", "message",
"status", ...}}``.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import socket
import threading
from urllib.parse import parse_qs, urlsplit

from ._http import FakeHandler, ServedFake

__all__ = ["FakeGemini"]

# --------------------------------------------------------------------------
# Static data
# --------------------------------------------------------------------------

_VERSIONS = ("v1", "v1beta")

_GENERATE_ACTIONS = ("generateContent", "streamGenerateContent")
_EMBED_ACTIONS = ("batchEmbedContents", "embedContent")

_MODELS = {
    "gemini-flash-latest": {
        "name": "models/gemini-flash-latest",
        "version": "Gemini Flash Latest",
        "displayName": "Gemini Flash Latest",
        "description": "Latest release of Gemini Flash",
        "inputTokenLimit": 1048576,
        "outputTokenLimit": 65536,
        "supportedGenerationMethods": [
            "generateContent",
            "countTokens",
            "createCachedContent",
            "batchGenerateContent",
        ],
        "temperature": 1,
        "topP": 0.95,
        "topK": 64,
        "maxTemperature": 2,
        "thinking": True,
    },
    "gemini-2.5-flash": {
        "name": "models/gemini-2.5-flash",
        "version": "001",
        "displayName": "Gemini 2.5 Flash",
        "description": (
            "Stable version of Gemini 2.5 Flash, our mid-size multimodal model "
            "that supports up to 1 million tokens, released in June of 2025."
        ),
        "inputTokenLimit": 1048576,
        "outputTokenLimit": 65536,
        "supportedGenerationMethods": [
            "generateContent",
            "countTokens",
            "createCachedContent",
            "batchGenerateContent",
        ],
        "temperature": 1,
        "topP": 0.95,
        "topK": 64,
        "maxTemperature": 2,
        "thinking": True,
    },
    "gemini-embedding-001": {
        "name": "models/gemini-embedding-001",
        "version": "001",
        "displayName": "Gemini Embedding 001",
        "description": "Obtain a distributed representation of a text.",
        "inputTokenLimit": 2048,
        "outputTokenLimit": 1,
        "supportedGenerationMethods": [
            "embedContent",
            "countTextTokens",
            "countTokens",
            "asyncBatchEmbedContent",
        ],
    },
}

_GENERATE_MODELS = {"gemini-flash-latest", "gemini-2.5-flash"}
_EMBED_MODELS = {"gemini-embedding-001"}

_TASK_TYPES = {
    "TASK_TYPE_UNSPECIFIED",
    "RETRIEVAL_QUERY",
    "RETRIEVAL_DOCUMENT",
    "SEMANTIC_SIMILARITY",
    "CLASSIFICATION",
    "CLUSTERING",
    "QUESTION_ANSWERING",
    "FACT_VERIFICATION",
    "CODE_RETRIEVAL_QUERY",
}

# Top-level GenerateContentRequest fields the SDK may emit (mldev).
_GENERATE_FIELDS = {
    "model",
    "contents",
    "generationConfig",
    "systemInstruction",
    "safetySettings",
    "tools",
    "toolConfig",
    "cachedContent",
    "labels",
    "serviceTier",
    "store",
    "continuationToken",
}

_GENERATION_CONFIG_FIELDS = {
    "audioTimestamp",
    "audioTranscriptionConfig",
    "candidateCount",
    "enableEnhancedCivicAnswers",
    "frequencyPenalty",
    "imageConfig",
    "logprobs",
    "maxOutputTokens",
    "mediaResolution",
    "presencePenalty",
    "responseJsonSchema",
    "responseLogprobs",
    "responseMimeType",
    "responseModalities",
    "responseSchema",
    "seed",
    "speechConfig",
    "stopSequences",
    "temperature",
    "thinkingConfig",
    "topK",
    "topP",
}

_PART_DATA_FIELDS = {
    "text",
    "inlineData",
    "fileData",
    "functionCall",
    "functionResponse",
    "executableCode",
    "codeExecutionResult",
    "toolCall",
    "toolResponse",
}
_PART_FIELDS = _PART_DATA_FIELDS | {
    "thought",
    "thoughtSignature",
    "videoMetadata",
    "mediaResolution",
    "partMetadata",
}

_EMBED_REQUEST_FIELDS = {"model", "content", "taskType", "title", "outputDimensionality"}

_MAX_BATCH = 100
_DEFAULT_DIM = 3072

_STOP_WORDS = frozenset(
    """a an the and or but if of to in on at by for with from as is are was were be
    been being it its this that these those i you he she we they me my your our
    their do does did so not no can could should would will shall may might
    what which who whom how when where why there here than then into about over
    also just only very has have had""".split()
)

_SAFETY_CATEGORIES = (
    "HARM_CATEGORY_SEXUALLY_EXPLICIT",
    "HARM_CATEGORY_HATE_SPEECH",
    "HARM_CATEGORY_HARASSMENT",
    "HARM_CATEGORY_DANGEROUS_CONTENT",
)

_NO_CONTEXT_ANSWER = "The documentation I have does not cover this question."

_FAULT_KINDS = {
    "429",
    "500",
    "503",
    "slow",
    "hang",
    "block_prompt",
    "block_answer",
    "malformed",
}
_GENERATE_ONLY_FAULTS = {"block_prompt", "block_answer"}
_FAULT_TARGETS = {"generate", "embed", "any"}


def _safety_ratings(blocked_category: str | None = None) -> list[dict]:
    out = []
    for cat in _SAFETY_CATEGORIES:
        if cat == blocked_category:
            out.append({"category": cat, "probability": "HIGH", "blocked": True})
        else:
            out.append({"category": cat, "probability": "NEGLIGIBLE"})
    return out


# --------------------------------------------------------------------------
# Deterministic "model" behaviour
# --------------------------------------------------------------------------


def _count_tokens(text: str) -> int:
    return len(re.findall(r"\w+|[^\w\s]", text))


def _stem(tok: str) -> str:
    for suf in ("ing", "ed", "es", "s"):
        if tok.endswith(suf) and len(tok) - len(suf) >= 3:
            return tok[: -len(suf)]
    return tok


def _tokens(text: str) -> list[str]:
    raw = [t for t in re.split(r"[^a-z0-9]+", text.lower()) if t]
    toks = [_stem(t) for t in raw if t not in _STOP_WORDS]
    if not toks:
        toks = [_stem(t) for t in raw]
    if not toks:
        stripped = text.strip()
        toks = [stripped] if stripped else []
    return toks


def _hash_feature(feature: str, dim: int) -> tuple[int, float]:
    digest = hashlib.blake2b(feature.encode("utf-8"), digest_size=16).digest()
    h = int.from_bytes(digest, "big")
    idx = h % dim
    sign = 1.0 if (h >> 100) & 1 else -1.0
    return idx, sign


def embed_text(text: str, dim: int = _DEFAULT_DIM) -> list[float]:
    """Deterministic hashed bag-of-words (+ bigrams at 0.5) embedding.

    Normalised to unit length only at full dimensionality (3072), like the
    real gemini-embedding-001.
    """
    vec = [0.0] * dim
    toks = _tokens(text)
    for tok in toks:
        idx, sign = _hash_feature("u:" + tok, dim)
        vec[idx] += sign
    for a, b in zip(toks, toks[1:]):
        idx, sign = _hash_feature("b:" + a + " " + b, dim)
        vec[idx] += 0.5 * sign
    if dim >= _DEFAULT_DIM:
        norm = math.sqrt(sum(v * v for v in vec))
        if norm > 0:
            vec = [round(v / norm, 8) for v in vec]
    return vec


_PASSAGE_RE = re.compile(r"^\[(\d+)\] ", re.MULTILINE)
_QUESTION_LINE_RE = re.compile(r"^\s*(question|user question|q)\s*:", re.IGNORECASE)


def _first_sentences(text: str, n: int = 2, limit: int = 300) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    if not text:
        return ""
    sentences = re.split(r"(?<=[.!?])\s+", text)
    out = " ".join(sentences[:n]).strip()
    if len(out) > limit:
        cut = out[:limit]
        if " " in cut:
            cut = cut[: cut.rfind(" ")]
        out = cut.rstrip(" ,;:") + "..."
    return out


def build_answer(prompt: str) -> str:
    """Deterministic answer from the prompt text (see module docstring)."""
    matches = [m for m in _PASSAGE_RE.finditer(prompt) if m.group(1) == "1"]
    if not matches:
        return _NO_CONTEXT_ANSWER
    start = matches[-1].end()  # the latest "[1] " line wins
    rest = prompt[start:]
    nxt = _PASSAGE_RE.search(rest)
    block = rest[: nxt.start()] if nxt else rest
    lines = block.split("\n")
    first_line, body_lines = lines[0], []
    for line in lines[1:]:
        if _QUESTION_LINE_RE.match(line):
            break
        body_lines.append(line)
    body = _first_sentences("\n".join(body_lines))
    if not body:
        body = _first_sentences(first_line)
    if not body:
        return _NO_CONTEXT_ANSWER
    return "According to the Milvus docs, " + body + " [1]"


def _split_chunks(text: str, n: int = 3) -> list[str]:
    """Split into >= n non-empty chunks whose concatenation is ``text``."""
    pieces = re.findall(r"\S+\s*|\s+", text)
    if len(pieces) < n:
        # Fall back to character splitting for very short answers.
        size = max(1, math.ceil(len(text) / n))
        chunks = [text[i : i + size] for i in range(0, len(text), size)]
    else:
        per = math.ceil(len(pieces) / n)
        chunks = ["".join(pieces[i : i + per]) for i in range(0, len(pieces), per)]
    while len(chunks) < n and any(len(c) > 1 for c in chunks):
        i = max(range(len(chunks)), key=lambda j: len(chunks[j]))
        c = chunks[i]
        chunks[i : i + 1] = [c[: len(c) // 2], c[len(c) // 2 :]]
    return chunks


# --------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------


class _ApiError(Exception):
    def __init__(self, code: int, status: str, message: str, details=None, headers=None):
        super().__init__(message)
        self.code = code
        self.status = status
        self.message = message
        self.details = details
        self.headers = headers or {}

    def body(self) -> dict:
        err = {"code": self.code, "message": self.message, "status": self.status}
        if self.details:
            err["details"] = self.details
        return {"error": err}


def _bad_request(message: str, field: str | None = None) -> _ApiError:
    details = None
    if field is not None:
        details = [
            {
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "fieldViolations": [{"field": field, "description": message}],
            }
        ]
    return _ApiError(400, "INVALID_ARGUMENT", message, details)


def _invalid_json_field(name: str) -> _ApiError:
    return _bad_request(
        f'Invalid JSON payload received. Unknown name "{name}": Cannot find field.'
    )


def _not_found_model(model: str, version: str, method: str) -> _ApiError:
    return _ApiError(
        404,
        "NOT_FOUND",
        f"models/{model} is not found for API version {version}, or is not "
        f"supported for {method}. Call ListModels to see the list of available "
        "models and their supported methods.",
    )


_API_KEY_INVALID = _ApiError(
    400,
    "INVALID_ARGUMENT",
    "API key not valid. Please pass a valid API key.",
    [
        {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "API_KEY_INVALID",
            "domain": "googleapis.com",
            "metadata": {"service": "generativelanguage.googleapis.com"},
        }
    ],
)


def _fault_error(kind: str) -> _ApiError:
    if kind == "429":
        return _ApiError(
            429,
            "RESOURCE_EXHAUSTED",
            "Resource has been exhausted (e.g. check quota).",
            [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1s"}],
            headers={"Retry-After": "1"},
        )
    if kind == "500":
        return _ApiError(
            500,
            "INTERNAL",
            "An internal error has occurred. Please retry or report in "
            "https://developers.generativeai.google/guide/troubleshooting",
        )
    if kind == "503":
        return _ApiError(503, "UNAVAILABLE", "The model is overloaded. Please try again later.")
    raise ValueError(kind)


# --------------------------------------------------------------------------
# Request validation helpers
# --------------------------------------------------------------------------


def _validate_content(content, where: str, roles=("user", "model")) -> None:
    if not isinstance(content, dict):
        raise _bad_request(f"Invalid value at '{where}' (type.googleapis.com/google.ai.generativelanguage.v1beta.Content)")
    for key in content:
        if key not in ("parts", "role"):
            raise _invalid_json_field(key)
    role = content.get("role")
    if role is not None and role not in roles:
        raise _bad_request("Please use a valid role: user, model.")
    parts = content.get("parts")
    if not isinstance(parts, list) or not parts:
        raise _bad_request(f"* {where}.parts: contents.parts must not be empty.\n", f"{where}.parts")
    for j, part in enumerate(parts):
        pwhere = f"{where}.parts[{j}]"
        if not isinstance(part, dict):
            raise _bad_request(f"Invalid value at '{pwhere}'")
        for key in part:
            if key not in _PART_FIELDS:
                raise _invalid_json_field(key)
        data = [k for k in part if k in _PART_DATA_FIELDS]
        if "text" in part and not isinstance(part["text"], str):
            raise _bad_request(f"Invalid value at '{pwhere}.text' (TYPE_STRING), {json.dumps(part['text'])}")
        if not data or ("text" in data and len(data) == 1 and part["text"] == ""):
            raise _bad_request(
                f"* {pwhere}.data: required oneof field 'data' must have one initialized field\n",
                f"{pwhere}.data",
            )
        if len(data) > 1:
            raise _bad_request(f"Invalid JSON payload received. Oneof field 'data' is already set. Cannot set '{data[1]}'")


def _content_text(content) -> str:
    if not isinstance(content, dict):
        return ""
    return "".join(p.get("text", "") for p in content.get("parts") or [] if isinstance(p, dict) and isinstance(p.get("text"), str))


def _validate_generate(body: dict) -> str:
    """Validate a GenerateContentRequest; return the prompt text."""
    for key in body:
        if key not in _GENERATE_FIELDS:
            raise _invalid_json_field(key)
    contents = body.get("contents")
    if not contents:
        raise _bad_request("* GenerateContentRequest.contents: contents is not specified\n", "contents")
    if not isinstance(contents, list):
        raise _bad_request("Invalid value at 'contents' (type.googleapis.com/google.ai.generativelanguage.v1beta.Content)")
    for i, c in enumerate(contents):
        _validate_content(c, f"GenerateContentRequest.contents[{i}]")
    sys_inst = body.get("systemInstruction")
    if sys_inst is not None:
        _validate_content(sys_inst, "GenerateContentRequest.system_instruction", roles=("user", "model", "system"))
    gc = body.get("generationConfig")
    if gc is not None:
        if not isinstance(gc, dict):
            raise _bad_request("Invalid value at 'generation_config'")
        for key in gc:
            if key not in _GENERATION_CONFIG_FIELDS:
                raise _invalid_json_field(key)
        t = gc.get("temperature")
        if t is not None and (not isinstance(t, (int, float)) or not 0 <= t <= 2):
            raise _bad_request(
                "* GenerateContentRequest.generation_config.temperature: "
                "temperature must be in the range [0.0, 2.0]\n"
            )
        m = gc.get("maxOutputTokens")
        if m is not None and (not isinstance(m, int) or isinstance(m, bool) or m < 1 or m > 65536):
            raise _bad_request(
                "* GenerateContentRequest.generation_config.max_output_tokens: "
                "max_output_tokens must be positive.\n"
                if isinstance(m, int) and m < 1
                else "The specified max_output_tokens value is out of range."
            )
        cc = gc.get("candidateCount")
        if cc is not None and (not isinstance(cc, int) or not 1 <= cc <= 8):
            raise _bad_request("* GenerateContentRequest.generation_config.candidate_count: must be in [1, 8]\n")
    parts = []
    if isinstance(sys_inst, dict):
        parts.append(_content_text(sys_inst))
    parts.extend(_content_text(c) for c in contents)
    return "\n".join(parts)


def _validate_embed_request(req, where: str, url_model: str, top: bool = False) -> tuple[str, int]:
    """Validate one EmbedContentRequest; return (text, dimensionality)."""
    if not isinstance(req, dict):
        raise _bad_request(f"Invalid value at '{where}'")
    for key in req:
        if key not in _EMBED_REQUEST_FIELDS:
            raise _invalid_json_field(key)
    model = req.get("model")
    if model is None and not top:
        raise _bad_request(f"* {where}.model: model is required\n", f"{where}.model")
    if model is not None and model != f"models/{url_model}":
        raise _bad_request(
            f"* {where}.model: Model names should start with `models/` and match "
            f"the model in the URL (models/{url_model}); got {model!r}.\n",
            f"{where}.model",
        )
    content = req.get("content")
    if content is None:
        raise _bad_request(f"* {where}.content: content is required\n", f"{where}.content")
    _validate_content(content, f"{where}.content")
    text = _content_text(content)
    task = req.get("taskType")
    if task is not None and task not in _TASK_TYPES:
        raise _bad_request(
            f"Invalid value at '{where.split('.', 1)[-1]}.task_type' "
            "(type.googleapis.com/google.ai.generativelanguage.v1beta.TaskType), "
            f"{json.dumps(task)}",
            f"{where}.task_type",
        )
    title = req.get("title")
    if title is not None and not isinstance(title, str):
        raise _bad_request(f"Invalid value at '{where}.title' (TYPE_STRING)")
    dim = req.get("outputDimensionality")
    if dim is None:
        dim = _DEFAULT_DIM
    elif not isinstance(dim, int) or isinstance(dim, bool) or not 1 <= dim <= _DEFAULT_DIM:
        raise _bad_request(
            f"* {where}.output_dimensionality: output_dimensionality must be in "
            f"the range [1, {_DEFAULT_DIM}], got {dim}.\n",
            f"{where}.output_dimensionality",
        )
    return text, dim


# --------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------

_PATH_RE = re.compile(r"^/(?P<ver>v1|v1beta)/models/(?P<model>[^/:]+)(?::(?P<action>[A-Za-z]+))?/?$")


class _Handler(FakeHandler):
    server_version = "FakeGemini/1.0"

    def _send_json(self, status: int, obj, headers=None, raw: bytes | None = None) -> None:
        data = raw if raw is not None else json.dumps(obj).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _send_error(self, err: _ApiError) -> None:
        self._send_json(err.code, err.body(), err.headers)

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            return self.rfile.read(length)
        if (self.headers.get("Transfer-Encoding") or "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    break
                out += self.rfile.read(size)
                self.rfile.readline()
            return out
        return b""

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def do_PATCH(self):
        self._dispatch("PATCH")

    # -- routing ------------------------------------------------------------

    def _dispatch(self, method: str) -> None:
        fake = self.fake
        split = urlsplit(self.path)
        query = parse_qs(split.query)
        raw = self._read_body() if method in ("POST", "PUT", "PATCH") else b""
        m = _PATH_RE.match(split.path)
        version = m.group("ver") if m else None
        model = m.group("model") if m else None
        action = (m.group("action") or ("get" if method == "GET" else None)) if m else None

        body = None
        body_error = None
        if raw:
            try:
                body = json.loads(raw)
            except (ValueError, UnicodeDecodeError) as exc:
                body_error = _bad_request(f"Invalid JSON payload received. {exc}")
        fake._record(
            {
                "method": method,
                "path": self.path,
                "version": version,
                "model": model,
                "action": action,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "json": body,
            }
        )
        try:
            self._route(method, split.path, query, version, model, action, body, body_error, raw)
        except _ApiError as err:
            self._send_error(err)

    def _route(self, method, path, query, version, model, action, body, body_error, raw):
        fake = self.fake
        if version is None or action not in ("get", *_GENERATE_ACTIONS, *_EMBED_ACTIONS) or (
            (action == "get") != (method == "GET")
        ) or method not in ("GET", "POST"):
            raise _ApiError(404, "NOT_FOUND", f"Method not found: {method} {path}")

        key = self.headers.get("x-goog-api-key")
        if key is None:
            key = (query.get("key") or [None])[0]
        if key != fake.api_key:
            raise _API_KEY_INVALID

        if model not in _MODELS:
            raise _not_found_model(model, version, action if action != "get" else "get")

        if action == "get":
            self._send_json(200, _MODELS[model])
            return

        kind = "generate" if action in _GENERATE_ACTIONS else "embed"
        supported = _GENERATE_MODELS if kind == "generate" else _EMBED_MODELS
        if model not in supported:
            raise _not_found_model(model, version, action)

        if action == "streamGenerateContent" and (query.get("alt") or [None])[0] != "sse":
            # The SDK always asks for SSE; the JSON-array form is not faked.
            raise _bad_request("This fake only supports streamGenerateContent?alt=sse")

        if body_error is not None:
            raise body_error
        if not isinstance(body, dict):
            raise _bad_request("Invalid JSON payload received. Expected an object.")

        fault = fake._take_fault(kind)
        if fault is not None:
            fkind, delay = fault
            if fkind in ("429", "500", "503"):
                raise _fault_error(fkind)
            if fkind == "hang":
                fake._sleep(delay)
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            if fkind == "slow":
                fake._sleep(delay)
                fault = None
        fkind = fault[0] if fault else None

        if kind == "generate":
            prompt = _validate_generate(body)
            fake._sleep(fake.latency)
            # Count before writing, so a client that has its answer sees it.
            fake._count("generate_requests", 1)
            if action == "generateContent":
                self._generate(model, prompt, fkind)
            else:
                self._stream(model, prompt, fkind)
        else:
            if action == "batchEmbedContents":
                reqs = body.get("requests")
                for k in body:
                    if k != "requests":
                        raise _invalid_json_field(k)
                if not isinstance(reqs, list) or not reqs:
                    raise _bad_request(
                        "* BatchEmbedContentsRequest.requests: requests must not be empty\n",
                        "requests",
                    )
                if len(reqs) > _MAX_BATCH:
                    raise _bad_request(
                        "* BatchEmbedContentsRequest.requests: at most 100 requests can be in one batch\n",
                        "requests",
                    )
                items = [
                    _validate_embed_request(r, f"BatchEmbedContentsRequest.requests[{i}]", model)
                    for i, r in enumerate(reqs)
                ]
            else:
                items = [_validate_embed_request(body, "EmbedContentRequest", model, top=True)]
            fake._sleep(fake.latency)
            fake._count("embed_requests", 1)
            fake._count("embedded_texts", len(items))
            if fkind == "malformed":
                self._send_json(200, None, raw=b'{"embeddings": [{"values": [0.1, ')
            else:
                vectors = [{"values": embed_text(t, d)} for t, d in items]
                if action == "batchEmbedContents":
                    self._send_json(200, {"embeddings": vectors})
                else:
                    self._send_json(200, {"embedding": vectors[0]})

    # -- generation -----------------------------------------------------------

    def _usage(self, prompt: str, answer: str | None) -> dict:
        p = max(1, _count_tokens(prompt))
        usage = {
            "promptTokenCount": p,
            "totalTokenCount": p,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": p}],
        }
        if answer:
            c = _count_tokens(answer)
            usage["candidatesTokenCount"] = c
            usage["totalTokenCount"] = p + c
        return usage

    def _response_id(self, prompt: str) -> str:
        n = self.fake._next_id()
        return hashlib.sha256(f"{n}:{prompt}".encode()).hexdigest()[:22]

    def _generate(self, model: str, prompt: str, fkind: str | None) -> None:
        rid = self._response_id(prompt)
        if fkind == "malformed":
            self._send_json(200, None, raw=b'{"candidates": [')
            return
        if fkind == "block_prompt":
            self._send_json(
                200,
                {
                    "promptFeedback": {
                        "blockReason": "SAFETY",
                        "safetyRatings": _safety_ratings("HARM_CATEGORY_DANGEROUS_CONTENT"),
                    },
                    "usageMetadata": self._usage(prompt, None),
                    "modelVersion": model,
                    "responseId": rid,
                },
            )
            return
        if fkind == "block_answer":
            self._send_json(
                200,
                {
                    "candidates": [
                        {
                            "content": {"role": "model"},
                            "finishReason": "SAFETY",
                            "index": 0,
                            "safetyRatings": _safety_ratings("HARM_CATEGORY_DANGEROUS_CONTENT"),
                        }
                    ],
                    "usageMetadata": self._usage(prompt, None),
                    "modelVersion": model,
                    "responseId": rid,
                },
            )
            return
        answer = self.fake.answer_for(prompt)
        self._send_json(
            200,
            {
                "candidates": [
                    {
                        "content": {"parts": [{"text": answer}], "role": "model"},
                        "finishReason": "STOP",
                        "index": 0,
                    }
                ],
                "usageMetadata": self._usage(prompt, answer),
                "modelVersion": model,
                "responseId": rid,
            },
        )

    def _stream(self, model: str, prompt: str, fkind: str | None) -> None:
        rid = self._response_id(prompt)
        answer = self.fake.answer_for(prompt)
        chunks = _split_chunks(answer)
        usage_partial = {"promptTokenCount": max(1, _count_tokens(prompt)),
                         "totalTokenCount": max(1, _count_tokens(prompt))}
        frames: list[bytes] = []

        def frame(obj) -> bytes:
            return b"data: " + json.dumps(obj).encode("utf-8") + b"\r\n\r\n"

        def chunk_obj(text: str, last: bool) -> dict:
            cand = {"content": {"parts": [{"text": text}], "role": "model"}, "index": 0}
            if last:
                cand["finishReason"] = "STOP"
            return {
                "candidates": [cand],
                "usageMetadata": self._usage(prompt, answer) if last else dict(usage_partial),
                "modelVersion": model,
                "responseId": rid,
            }

        if fkind == "malformed":
            frames = [frame(chunk_obj(chunks[0], False)), b'data: {"candidates": [\r\n\r\n']
        elif fkind == "block_prompt":
            frames = [
                frame(
                    {
                        "promptFeedback": {
                            "blockReason": "SAFETY",
                            "safetyRatings": _safety_ratings("HARM_CATEGORY_DANGEROUS_CONTENT"),
                        },
                        "usageMetadata": self._usage(prompt, None),
                        "modelVersion": model,
                        "responseId": rid,
                    }
                )
            ]
        elif fkind == "block_answer":
            frames = [
                frame(chunk_obj(chunks[0], False)),
                frame(
                    {
                        "candidates": [
                            {
                                "content": {"role": "model"},
                                "finishReason": "SAFETY",
                                "index": 0,
                                "safetyRatings": _safety_ratings("HARM_CATEGORY_DANGEROUS_CONTENT"),
                            }
                        ],
                        "usageMetadata": self._usage(prompt, chunks[0]),
                        "modelVersion": model,
                        "responseId": rid,
                    }
                ),
            ]
        else:
            frames = [frame(chunk_obj(c, i == len(chunks) - 1)) for i, c in enumerate(chunks)]

        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        for i, f in enumerate(frames):
            if i == 1:
                self.fake._wait_streams()  # pause_streams(): the answer is half written
            self.wfile.write(b"%x\r\n%s\r\n" % (len(f), f))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


class FakeGemini(ServedFake):
    """In-process fake Gemini Developer API server (see module docstring)."""

    def __init__(self, api_key: str = "test-gemini-key", latency: float = 0.0):
        self.api_key = api_key
        self.latency = latency
        self.requests: list[dict] = []
        self.embed_requests = 0
        self.embedded_texts = 0
        self.generate_requests = 0
        self.base_url = ""
        self._lock = threading.Lock()
        self._faults: list[dict] = []
        self._streams_go = threading.Event()  # cleared by pause_streams()
        self._streams_go.set()
        self.streams_paused = 0  # streams now waiting after their first chunk
        self._init_server()
        self._ids = 0
        # A model that ignores the rule not to repeat the user: the answer ends with
        # "You asked: <the prompt's last `Question:` line>" (so hostile questions reach the reply).
        self.echo_question = False

    def answer_for(self, prompt: str) -> str:
        """The answer text for a prompt: ``build_answer``, plus the question if ``echo_question``."""
        answer = build_answer(prompt)
        if self.echo_question:
            asked = re.findall(r"^Question:[ \t]*(.*)$", prompt, re.MULTILINE)
            if asked:
                answer += "\n\nYou asked: " + asked[-1]
        return answer

    # -- lifecycle ----------------------------------------------------------

    handler = _Handler

    def _on_start(self, port: int) -> None:
        self.base_url = f"http://127.0.0.1:{port}/"

    # -- faults & counters --------------------------------------------------

    def set_fault(self, kind: str, times: int | None = 1, on: str = "any", delay: float = 30.0) -> None:
        """Queue a fault. ``times=None`` means forever; ``on`` is
        "generate" | "embed" | "any". Each matching request consumes one use.
        block_prompt/block_answer never match embed requests."""
        if kind not in _FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {sorted(_FAULT_KINDS)}")
        if on not in _FAULT_TARGETS:
            raise ValueError(f"unknown fault target {on!r}; expected one of {sorted(_FAULT_TARGETS)}")
        if times is not None and times < 1:
            raise ValueError("times must be >= 1 or None")
        with self._lock:
            self._faults.append({"kind": kind, "times": times, "on": on, "delay": float(delay)})

    def pause_streams(self) -> None:
        """Streamed answers send their first chunk, then wait for resume_streams() (or stop()):
        answers in flight, with a partial reply already posted in Slack."""
        self._streams_go.clear()

    def resume_streams(self) -> None:
        self._streams_go.set()

    def _wait_streams(self) -> None:
        if self._streams_go.is_set():
            return
        self._count("streams_paused", 1)
        try:
            while not self._streams_go.wait(0.05) and not self._stopping.is_set():
                pass
        finally:
            self._count("streams_paused", -1)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def reset_counters(self) -> None:
        with self._lock:
            self.requests.clear()
            self.embed_requests = 0
            self.embedded_texts = 0
            self.generate_requests = 0

    # -- internals used by the handler ----------------------------------------

    def _record(self, entry: dict) -> None:
        with self._lock:
            self.requests.append(entry)

    def _count(self, attr: str, n: int) -> None:
        with self._lock:
            setattr(self, attr, getattr(self, attr) + n)

    def _next_id(self) -> int:
        with self._lock:
            self._ids += 1
            return self._ids

    def _sleep(self, seconds: float) -> None:
        if seconds and seconds > 0:
            self._stopping.wait(seconds)

    def _take_fault(self, kind: str):
        with self._lock:
            for f in self._faults:
                if f["on"] not in ("any", kind):
                    continue
                if kind == "embed" and f["kind"] in _GENERATE_ONLY_FAULTS:
                    continue
                if f["times"] is not None:
                    f["times"] -= 1
                    if f["times"] <= 0:
                        self._faults.remove(f)
                return f["kind"], f["delay"]
        return None
