"""Late interaction: how well a chunk's words, in context, cover the question's (local model only).

The local model (all-MiniLM-L6-v2) gives every word piece of a text a vector in context, on the
way to the one vector per text the dense search uses. Matching the question's word pieces one by
one against a chunk's (each question piece takes its best match in the chunk, and the chunk's
score is the mean over the question) tells apart chunks that one vector per chunk ranks alike:
this is ColBERT's MaxSim, here with an off-the-shelf model and as one feature of the learned
ranking (rag_core.rerank), not as a search of its own.

Stored per chunk at ingest, from the same forward pass as the dense vector (no extra model
work): one vector per distinct word piece (the mean of its occurrences), projected from the
model's width to PROJ_DIM dimensions by a fixed random projection (seeded: the same for every
deployment and every model of a width), L2-normalised and quantised to int8, base64 in a VARCHAR.
A median chunk of the 3.0 docs holds about 120 distinct word pieces: ~10 KB.

Pure: numpy only, no model and no I/O.
"""

from __future__ import annotations

import base64
import re
from functools import lru_cache

import numpy as np

FORMAT = "rp64-int8-1"  # recorded in the collection: a change of the numbers below needs a new one
PROJ_DIM = 64
SEED = 7
SCALE = 254.0  # int8 = round(x * SCALE), clipped: projected unit vectors have components well under 0.5
MAX_PIECES = 720  # distinct word pieces kept per chunk (first seen first): the base64 fits 65,535 bytes
_PUNCT = re.compile(r"^[\W_]+$")


@lru_cache(maxsize=4)
def projection(width: int) -> np.ndarray:
    """The fixed (width x PROJ_DIM) Gaussian projection for a model `width` wide."""
    rng = np.random.default_rng(SEED)
    return (rng.standard_normal((width, PROJ_DIM)) / np.sqrt(PROJ_DIM)).astype(np.float32)


def _project(vectors: np.ndarray) -> np.ndarray:
    out = np.asarray(vectors, dtype=np.float32) @ projection(vectors.shape[1])
    return out / (np.linalg.norm(out, axis=1, keepdims=True) + 1e-9)


def piece_vectors(ids, vectors) -> tuple[np.ndarray, np.ndarray]:
    """One embedded text's word pieces: (ids, their vectors projected and L2-normalised, float16),
    special tokens already left out. Kept per text so a chunk's pieces combine (chunk_matrix)."""
    ids = np.asarray(ids, dtype=np.int64).reshape(-1)
    if not len(ids):
        return ids, np.zeros((0, PROJ_DIM), np.float16)
    return ids, _project(np.asarray(vectors, dtype=np.float32)).astype(np.float16)


def chunk_matrix(pieces: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """A chunk's stored matrix (int8, distinct word pieces x PROJ_DIM) from its texts'
    piece_vectors: each distinct word piece's vectors summed, in order of first appearance (at
    most MAX_PIECES), L2-normalised and quantised."""
    pieces = [(i, v) for i, v in pieces if len(i)]
    if not pieces:
        return np.zeros((0, PROJ_DIM), np.int8)
    ids = np.concatenate([i for i, _ in pieces])
    vecs = np.concatenate([np.asarray(v, dtype=np.float32) for _, v in pieces])
    distinct, first, inverse = np.unique(ids, return_index=True, return_inverse=True)
    summed = np.zeros((len(distinct), PROJ_DIM), np.float32)
    np.add.at(summed, inverse, vecs)
    summed = summed[np.argsort(first, kind="stable")][:MAX_PIECES]
    summed /= np.linalg.norm(summed, axis=1, keepdims=True) + 1e-9
    return np.clip(np.round(summed * SCALE), -127, 127).astype(np.int8)


def encode(matrix: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(matrix, dtype=np.int8).tobytes()).decode("ascii")


def decode(text: str) -> np.ndarray:
    """The stored matrix as float32 (unit-scale), or an empty one."""
    raw = base64.b64decode(text) if text else b""
    return np.frombuffer(raw, dtype=np.int8).reshape(-1, PROJ_DIM).astype(np.float32) / SCALE


def query_matrix(tokens: list[str], vectors: np.ndarray) -> np.ndarray:
    """The question's projected word-piece vectors, punctuation left out (special tokens already)."""
    keep = [k for k, t in enumerate(tokens) if not _PUNCT.match(t)]
    if not keep:
        return np.zeros((0, PROJ_DIM), np.float32)
    return _project(np.asarray(vectors, dtype=np.float32)[keep])


def maxsim(query: np.ndarray, chunk: np.ndarray) -> float:
    """Mean over the question's word pieces of the best dot product with the chunk's (0 if either
    is empty)."""
    if not len(query) or not len(chunk):
        return 0.0
    return float((query @ chunk.T).max(axis=1).mean())
