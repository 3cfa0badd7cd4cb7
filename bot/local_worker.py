"""`faqbot serve` on one machine: its worker in a child process.

Acks are CPU work in Python (Bolt, the signature check, one store commit) and so is answering
(Milvus Lite runs inside the process that opens the .db file; Slack and Gemini replies are JSON).
In one process they share one GIL and acks queue behind answers, so serve starts the worker as a
child at a lower CPU priority. Jobs go through the job store like everywhere else; the pipe only
carries the child's status: ready (or why it could not start), health every 2 s, and "stop".

The child dies with its parent (PR_SET_PDEATHSIG): a restarted bot never races an orphan for the
Lite file. The new child first releases what the previous one held (owners '<machine>/local/…'),
so unfinished questions are answered at once, not after their leases run out. If only the child
dies, the parent starts a new one.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import socket
import threading
import time

from rag_core.errors import ServeError

log = logging.getLogger(__name__)

# CPU priority of the child: acks first. bench_ack's p99 ratio to bare Bolt at 50 concurrent
# measured 1.56-1.78x with nice 10 and 1.36-1.43x with 19 (2 cores, 2026-11-25).
ANSWER_NICE = 19
HEALTH_EVERY_S = 2.0
READY_TIMEOUT_S = 60.0


def local_prefix() -> str:
    return f"{socket.gethostname()}/local/"


class LocalWorker:
    """The parent's handle on the child: start it, read its status, restart it if it dies."""

    def __init__(self, rag_settings, bot_settings, bot_user_id: str | None, acks=None):
        self.rag_settings, self.bot_settings, self.bot_user_id = rag_settings, bot_settings, bot_user_id
        self.acks = acks  # AckGate.shared: requests serve is acknowledging (the child pauses for them)
        self.milvus = "unknown"
        self.in_flight = 0
        self.stats: dict = {}
        self.restarts = 0
        self._conn = self._proc = None
        self._stopping = False
        self._lock = threading.Lock()

    def start(self) -> "LocalWorker":
        from concurrent.futures import Future

        first: Future = Future()
        threading.Thread(target=self._supervise, args=(first,), name="worker-supervisor", daemon=True).start()
        first.result()  # ServeError if the child could not start (e.g. a locked Lite file)
        return self

    def _spawn(self):
        ctx = mp.get_context("spawn")
        parent_conn, child_conn = ctx.Pipe()
        proc = ctx.Process(target=child_main, name="faqbot-worker", daemon=True,
                           args=(child_conn, self.rag_settings, self.bot_settings, self.bot_user_id, os.getpid(),
                                 self.acks))
        proc.start()
        child_conn.close()
        try:
            first = parent_conn.recv() if parent_conn.poll(READY_TIMEOUT_S) else ("timeout", "no report in time")
        except (EOFError, OSError):
            first = ("exited", "it exited at start; see its log above")
        if first[0] != "ready":
            proc.join(5)
            if proc.is_alive():
                proc.kill()
                proc.join(5)
            raise ServeError(first[1] if first[0] == "fatal" else f"The answer worker failed to start: {first[1]}")
        self.milvus = first[1]
        return parent_conn, proc

    def _supervise(self, first) -> None:
        while not self._stopping:
            try:
                conn, proc = self._spawn()
            except Exception as exc:
                if not first.done():
                    first.set_exception(exc)
                    return
                log.error("could not restart the answer worker (%s); retrying in 5 s", exc)
                time.sleep(5)
                continue
            with self._lock:
                self._conn, self._proc = conn, proc
                if self._stopping:  # stop() came while this child was starting
                    self._stop_child(conn, proc)
                    return
            if first.done():
                self.restarts += 1
                log.info("answer worker restarted")
            else:
                first.set_result(None)
            self._read(conn)
            if self._stopping:
                return
            proc.join(1)
            log.error("the answer worker exited (code %s); starting a new one", proc.exitcode)
            self.milvus, self.in_flight = "unavailable: the answer worker is restarting", 0

    def _read(self, conn) -> None:
        while True:
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                return
            if msg[0] == "health":
                self.milvus, self.in_flight, self.stats = msg[1], msg[2], msg[3]
            elif msg[0] == "stopped":
                return

    def status(self) -> dict:
        return {"milvus": self.milvus, "in_flight": self.in_flight, "stats": dict(self.stats)}

    def stop(self, drain_s: float = 10.0) -> None:
        self._stopping = True
        with self._lock:
            conn, proc = self._conn, self._proc
        if proc is not None:
            self._stop_child(conn, proc, drain_s)

    @staticmethod
    def _stop_child(conn, proc, drain_s: float = 10.0) -> None:
        """Let the child finish the answers it is writing (up to `drain_s`), then make sure it is gone."""
        try:
            conn.send(("stop", drain_s))
        except (OSError, AttributeError):
            pass
        proc.join(drain_s + 5)
        if proc.is_alive():
            proc.kill()
            proc.join(5)


# ---------------------------------------------------------------------------- the child
def _die_with_parent(parent_pid: int) -> None:
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:  # not Linux: the pipe's EOF below still ends the child
        pass
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(0)


def start_local(pipeline, bot_settings, store, client, bot_user_id, acks=None):
    """The answering side on one machine (serve's child, or threads in serve): it first takes back
    what the previous run held (a restart answers that at once, no lease wait), then claims jobs,
    pausing while serve acknowledges (`acks`: the shared counter of bot/ackgate.py)."""
    from .ackgate import AckPause, no_pause
    from .answering import Answering
    from .worker import owner_name

    released = store.release_owner(local_prefix())
    if released:
        log.info("answering %d question(s) the previous run left unfinished", released)
    return Answering(pipeline, bot_settings, store, client, bot_user_id, owner_name("local"),
                     pause=AckPause(acks) if acks is not None else no_pause).start()


def child_main(conn, rag_settings, bot_settings, bot_user_id, parent_pid: int, acks=None) -> None:
    import signal

    # Ctrl-C reaches the whole process group: the parent decides when to stop (it sends "stop").
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent(parent_pid)
    try:
        os.nice(ANSWER_NICE)
    except (OSError, AttributeError):  # not permitted, or not a Unix
        pass
    from .logs import configure

    configure(bot_settings.log_format)
    from rag_core.errors import describe
    from rag_core.pipeline import Pipeline
    from rag_core.store import StoreLocked

    from .answering import check_milvus
    from .app import web_client
    from .jobstore import open_store

    send_lock = threading.Lock()

    def send(*msg) -> None:
        with send_lock:
            try:
                conn.send(msg)
            except OSError:
                os._exit(0)  # the parent is gone

    pipeline = Pipeline(rag_settings)
    try:
        milvus = check_milvus(pipeline)
    except StoreLocked as exc:
        send("fatal", describe(exc))
        return
    store = open_store(bot_settings.state_db, bot_settings.state_url)
    answering = start_local(pipeline, bot_settings, store, web_client(bot_settings), bot_user_id, acks)
    send("ready", milvus)

    def report_health():
        while True:
            time.sleep(HEALTH_EVERY_S)
            status = answering.status()
            send("health", status["milvus"], status["in_flight"], status["stats"])

    threading.Thread(target=report_health, name="health", daemon=True).start()
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            os._exit(0)  # the parent is gone: a restarted bot answers what is left
        if msg[0] == "stop":
            answering.stop(drain_s=msg[1])
            store.close()
            send("stopped")
            return
