"""rag_core/coalesce.py: concurrent searches of one shape become one Milvus call."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from rag_core.coalesce import Coalescer


def test_a_lone_call_runs_at_once_and_concurrent_calls_share_calls_with_their_own_results():
    c = Coalescer(max_batch=8)
    batches = []

    def many(items):
        batches.append(list(items))
        time.sleep(0.02)  # a call in flight: others queue behind it
        return [x * 10 for x in items]

    assert c.run("k", 1, many) == 10 and batches == [[1]]
    with ThreadPoolExecutor(40) as pool:
        results = list(pool.map(lambda x: c.run("k", x, many), range(40)))
    assert results == [x * 10 for x in range(40)]  # each caller gets its own result
    assert sorted(x for b in batches[1:] for x in b) == list(range(40))  # each item in exactly one call
    assert len(batches) - 1 < 40 and max(len(b) for b in batches) <= 8  # shared calls, never over max_batch


def test_other_keys_run_apart_and_a_failed_call_fails_only_its_batch():
    c = Coalescer()
    gate = threading.Event()

    def slow(items):
        gate.wait(5)
        return list(items)

    def broken(items):
        raise ValueError("milvus said no")

    with ThreadPoolExecutor(2) as pool:
        held = pool.submit(c.run, "a", 1, slow)
        time.sleep(0.05)
        assert c.run("b", 2, lambda items: [x + 1 for x in items]) == 3  # not stuck behind key "a"
        gate.set()
        assert held.result(5) == 1
    with pytest.raises(ValueError, match="milvus said no"):
        c.run("a", 1, broken)
    assert c.run("a", 5, lambda items: list(items)) == 5  # the key works again after a failure


def test_a_call_returning_the_wrong_number_of_results_is_an_error():
    with pytest.raises(RuntimeError, match="2 results for 1 inputs"):
        Coalescer().run("k", 1, lambda items: [1, 2])

