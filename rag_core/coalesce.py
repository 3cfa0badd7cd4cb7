"""Concurrent calls of the same shape run as one call with all their inputs.

A Milvus search accepts many queries at once (`nq`), and Milvus Lite evaluates its calls one after
another in its own process: 100 questions arriving together made 300 searches queue there (~2.5 s
on 2 cores, `make bench`, throughput). With `Coalescer.run`, a caller whose key has no call in
flight runs at once (no added latency when the bot is idle); callers arriving while one is in flight
wait, and the next of them runs a single call for all of them (up to `max_batch`).
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Hashable, Sequence


class _Request:
    __slots__ = ("item", "event", "lead", "result", "error")

    def __init__(self, item):
        self.item = item
        self.event = threading.Event()
        self.lead = False
        self.result = None
        self.error: BaseException | None = None

    def outcome(self):
        if self.error is not None:
            raise self.error
        return self.result


class Coalescer:
    def __init__(self, max_batch: int = 64):
        self.max_batch = max_batch
        self._lock = threading.Lock()
        self._waiting: dict[Hashable, list[_Request]] = {}
        self._busy: set[Hashable] = set()
        self.calls = 0  # how many batched calls ran (tests, benchmarks)

    def run(self, key: Hashable, item: Any, call_many: Callable[[Sequence[Any]], Sequence[Any]]) -> Any:
        """`call_many(items)` returns one result per item, in order; its exception goes to every caller
        of that batch."""
        req = _Request(item)
        with self._lock:
            self._waiting.setdefault(key, []).append(req)
            if key not in self._busy:
                self._busy.add(key)
                req.lead = True
        if not req.lead:
            req.event.wait()
            if not req.lead:  # answered by another caller's call
                return req.outcome()
        with self._lock:
            queue = self._waiting.get(key, [])
            batch, self._waiting[key] = queue[: self.max_batch], queue[self.max_batch:]
        try:
            results = list(call_many([r.item for r in batch]))
            if len(results) != len(batch):
                raise RuntimeError(f"a batched call returned {len(results)} results for {len(batch)} inputs")
            for r, res in zip(batch, results):
                r.result = res
        except BaseException as exc:
            for r in batch:
                r.error = exc
        finally:
            self.calls += 1
            with self._lock:
                rest = self._waiting.get(key)
                if rest:  # the next waiting caller runs the next call
                    rest[0].lead = True
                    rest[0].event.set()
                else:
                    self._busy.discard(key)
                    self._waiting.pop(key, None)
            for r in batch:
                if r is not req:
                    r.event.set()
        return req.outcome()
