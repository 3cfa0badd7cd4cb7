"""Acks first, on one machine: the local worker pauses between the steps of an answer while serve
is acknowledging a request.

Serve and its child worker share the machine's CPUs and the SQLite file's write lock. Without a
pause, an ack that arrives while answers are being written waits for them: `make bench` (ack, 50
concurrent senders) measured the ack p99 at 3.5x a bare Bolt app with the worker running freely,
against 1.1x with no answer work at all. Serve counts the requests it is acknowledging in a shared
integer (`AckGate`); the worker's `AckPause` waits (at most `max_wait`) while it is above zero —
before each claim and between the steps of an answer. Replicas on other machines do not pause.
"""

from __future__ import annotations

import multiprocessing as mp
import threading
import time


class AckGate:
    """Serve's side: `wrap(dispatch)` counts the requests being acknowledged."""

    def __init__(self):
        self.shared = mp.get_context("spawn").RawValue("i", 0)  # read by the worker process
        self._lock = threading.Lock()

    def wrap(self, dispatch):
        def gated(*args, **kwargs):
            with self._lock:
                self.shared.value += 1
            try:
                return dispatch(*args, **kwargs)
            finally:
                with self._lock:
                    self.shared.value -= 1

        return gated


class AckPause:
    """The worker's side: `pause()` returns once no ack is in progress, or after `max_wait`."""

    def __init__(self, shared, poll_s: float = 0.001):
        self.shared, self.poll_s = shared, poll_s

    def __call__(self, max_wait: float = 0.5) -> None:
        if self.shared.value <= 0:
            return
        deadline = time.monotonic() + max_wait
        while self.shared.value > 0 and time.monotonic() < deadline:
            time.sleep(self.poll_s)


def no_pause(max_wait: float = 0.5) -> None:
    """Replicas: nothing to wait for."""
