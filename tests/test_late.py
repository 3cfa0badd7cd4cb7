"""rag_core.late: the local model's word pieces, stored per chunk and matched against a question's."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rag_core import late
from rag_core.store import _LIMITS

WIDTH = 384


def vectors(n, seed=0):
    return np.random.default_rng(seed).standard_normal((n, WIDTH)).astype(np.float32)


def test_the_projection_is_fixed_and_seeded():
    p = late.projection(WIDTH)
    assert p.shape == (WIDTH, late.PROJ_DIM) and p.dtype == np.float32
    late.projection.cache_clear()
    assert np.array_equal(p, late.projection(WIDTH))  # every process and deployment projects alike


def test_a_word_piece_seen_twice_is_one_row_in_order_of_first_appearance():
    v = vectors(4)
    m = late.chunk_matrix([late.piece_vectors([7, 3, 7], v[:3]), late.piece_vectors([5, 3], v[2:])])
    assert m.dtype == np.int8 and m.shape == (3, late.PROJ_DIM)  # pieces 7, 3, 5
    rows = late.decode(late.encode(m))
    assert np.allclose(np.linalg.norm(rows, axis=1), 1.0, atol=0.02)
    # piece 5 occurs once (the second text's first vector, v[2]): its row is that vector, projected
    alone = late.piece_vectors([5], v[2:3])[1].astype(np.float32)[0]
    assert float(rows[2] @ alone) > 0.99


def test_empty_texts_and_empty_questions_score_zero():
    assert late.chunk_matrix([]).shape == (0, late.PROJ_DIM)
    assert late.chunk_matrix([late.piece_vectors([], np.zeros((0, WIDTH)))]).shape == (0, late.PROJ_DIM)
    assert late.decode("").shape == (0, late.PROJ_DIM)
    q = late.query_matrix(["milvus"], vectors(1))
    assert late.maxsim(q, late.decode("")) == 0.0
    assert late.maxsim(late.query_matrix(["?", "!"], vectors(2)), late.decode(late.encode(late.chunk_matrix(
        [late.piece_vectors([1], vectors(1))])))) == 0.0  # punctuation only: nothing to match


def test_the_question_drops_punctuation_pieces():
    q = late.query_matrix(["where", "is", "milvus", "?", "##s", "_"], vectors(6))
    assert q.shape == (4, late.PROJ_DIM)


def test_a_chunk_holding_the_questions_own_vectors_scores_highest():
    v = vectors(6, seed=3)
    q = late.query_matrix(["a", "b", "c"], v[:3])
    same = late.decode(late.encode(late.chunk_matrix([late.piece_vectors([1, 2, 3], v[:3])])))
    other = late.decode(late.encode(late.chunk_matrix([late.piece_vectors([4, 5, 6], v[3:])])))
    assert late.maxsim(q, same) == pytest.approx(1.0, abs=0.02) and late.maxsim(q, other) < 0.5


def test_a_long_chunk_keeps_its_first_pieces_and_fits_its_varchar():
    n = late.MAX_PIECES + 50
    m = late.chunk_matrix([late.piece_vectors(np.arange(n), vectors(n))])
    assert m.shape == (late.MAX_PIECES, late.PROJ_DIM)
    assert len(late.encode(m)) <= _LIMITS["late"]


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 12), st.integers(1, 30), st.integers(0, 20), st.integers(0, 10_000))
def test_more_chunk_pieces_never_lower_the_score(nq, nd, extra, seed):
    v = vectors(nq + nd + extra, seed=seed)
    q = late.query_matrix([f"w{i}" for i in range(nq)], v[:nq])
    small = late.decode(late.encode(late.chunk_matrix([late.piece_vectors(np.arange(nd), v[nq:nq + nd])])))
    big = late.decode(late.encode(late.chunk_matrix([late.piece_vectors(np.arange(nd), v[nq:nq + nd]),
                                                     late.piece_vectors(np.arange(nd, nd + extra), v[nq + nd:])])))
    s_small, s_big = late.maxsim(q, small), late.maxsim(q, big)
    assert -1.01 <= s_small <= s_big + 1e-6 <= 1.01
