"""Answers in a child process, acknowledgements in the parent.

Slack redelivers an event that is not acknowledged within 3 s, and every ack is
CPU work in Python (Bolt, signature check, one SQLite commit). So is answering:
Milvus Lite is pure Python and runs inside the process that opens the .db file,
and the Slack/Gemini clients parse JSON. In one process all of that shares one
GIL, and acks queue behind answers (`make bench`, ack section). `faqbot serve`
therefore answers in a child process running at a lower CPU priority:

    parent: Bolt → Intake.submit → State.accept (durable) → pipe ─┐
    child:  pipe → worker threads → Responder.handle → Slack   ←──┘
    child → parent: ready/fatal, done per job, health (Milvus, answers in flight)

The child owns Milvus (the Lite file, the re-indexer, warm-up); the parent
never opens it. Both write the same SQLite state file (WAL). The child dies
with the parent (PR_SET_PDEATHSIG), so a restarted bot never races an orphan
for the Lite file or for a question; if only the child dies, the parent
starts a new one and hands it the unanswered jobs again (posted answers are
edited, not re-posted: `reply_ts` is in the job row).
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import queue
import threading
import time

from rag_core.errors import ServeError

from .jobs import Intake
from .state import OPEN, Job, State

log = logging.getLogger(__name__)

# CPU priority of the child: acks first. bench_ack's p99 ratio to bare Bolt at 50 concurrent
# measured 1.56-1.78x with nice 10 and 1.36-1.43x with 19 (2 cores, 2026-11-25).
ANSWER_NICE = 19
HEALTH_EVERY_S = 2.0
READY_TIMEOUT_S = 60.0


class ProcessIntake(Intake):
    """The parent's side: accept, dedupe and rate-limit as `Intake`; dispatch = hand the job to a
    sender thread that pipes it to the child (the ack itself makes no system call for it).

    A supervisor thread starts the child, reads what it reports, and starts a new one if it dies
    (the child's death signal follows the thread that started it, so one long-lived thread does)."""

    def __init__(self, state: State, notify, rag_settings, bot_settings, workers: int, queue_size: int,
                 rate_limit: int):
        super().__init__(state, handle=None, notify=notify, workers=workers, queue_size=queue_size,
                         rate_limit=rate_limit)
        self.rag_settings, self.bot_settings = rag_settings, bot_settings
        self.bot_user_id: str | None = None  # set by the Bot before start()
        self._bound = workers + queue_size  # like the in-process queue: running + waiting
        self._pending: dict[int, Job] = {}  # handed to the child and not finished
        self._running = 0  # as the child last reported (every HEALTH_EVERY_S)
        self._outbox: queue.SimpleQueue = queue.SimpleQueue()
        self._pending_lock = threading.Lock()  # the ack path takes only this one, briefly
        self._send_lock = threading.Lock()  # held while writing to the pipe (may block)
        self._conn = None
        self._proc = None
        self._stopping = False
        self.milvus_status = "unknown"
        self.restarts = 0
        self.acks_in_flight = mp.get_context("spawn").RawValue("i", 0)  # the Bot's AckGate writes it

    # ---- lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        from concurrent.futures import Future

        first: Future = Future()
        self._supervisor = threading.Thread(target=self._supervise, args=(first,), name="answers-supervisor",
                                            daemon=True)
        self._supervisor.start()
        threading.Thread(target=self._send_loop, name="answers-sender", daemon=True).start()
        first.result()  # raises ServeError if the child could not start (e.g. a locked Lite file)

    def _spawn(self):
        ctx = mp.get_context("spawn")
        parent_conn, child_conn = ctx.Pipe()
        proc = ctx.Process(target=child_main, name="faqbot-answers", daemon=True,
                           args=(child_conn, self.rag_settings, self.bot_settings, self.bot_user_id, os.getpid(),
                                 self.acks_in_flight))
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
            detail = first[1] if first[0] == "fatal" else repr(first)
            raise ServeError(detail if first[0] == "fatal" and proc.exitcode == 0
                             else f"The answer process failed to start: {detail}")
        self.milvus_status = first[1]
        return parent_conn, proc

    def _supervise(self, first) -> None:
        while not self._stopping:
            try:
                conn, proc = self._spawn()
            except Exception as exc:
                if not first.done():
                    first.set_exception(exc)
                    return
                log.error("could not restart the answer process (%s); retrying in 5 s", exc)
                time.sleep(5)
                continue
            with self._send_lock:
                if self._stopping:  # stop() came while this child was starting
                    self._stop_child(conn, proc)
                    return
                self._conn, self._proc = conn, proc
                with self._pending_lock:
                    resend = sorted(self._pending.values(), key=lambda j: j.id)
                for job in resend:  # the child skips any it already has, and any finished meanwhile
                    conn.send(("job", job.id))
            if first.done():
                self.restarts += 1
                log.info("answer process restarted; re-sent %d unanswered question(s)", len(resend))
            else:
                first.set_result(None)
            self._read(conn)
            if self._stopping:
                return
            with self._send_lock:
                self._conn = None
            proc.join(1)
            log.error("the answer process exited (code %s); starting a new one", proc.exitcode)
            self._running = 0
            self.milvus_status = "unavailable: the answer process is restarting"  # /healthz: degraded

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping = True
        with self._send_lock:
            conn, proc = self._conn, self._proc
        if proc is not None:
            self._stop_child(conn, proc, timeout)
        self._outbox.put(None)
        supervisor = getattr(self, "_supervisor", None)
        if supervisor is not None and supervisor is not threading.current_thread():
            supervisor.join(READY_TIMEOUT_S)
        self.notices.shutdown(wait=False)

    @staticmethod
    def _stop_child(conn, proc, timeout: float = 10.0) -> None:
        """Let the child finish the answers it is writing (up to `timeout`), then make sure it is gone."""
        try:
            conn.send(("stop", timeout))
        except (OSError, AttributeError):
            pass
        proc.join(timeout + 5)
        if proc.is_alive():
            proc.kill()
            proc.join(5)

    # ---- parent → child -------------------------------------------------------------------
    def _dispatch(self, job: Job) -> None:
        with self._pending_lock:
            if len(self._pending) >= self._bound:
                raise queue.Full
            self._pending[job.id] = job
        self._outbox.put(job)

    def _send_loop(self) -> None:
        while True:
            job = self._outbox.get()
            if job is None:
                return
            with self._send_lock:
                if self._conn is not None:  # else: resent by the supervisor when a child is back
                    try:
                        self._conn.send(("job", job.id))  # the child reads the job from the state DB
                    except OSError:
                        pass

    # ---- child → parent -------------------------------------------------------------------
    def _read(self, conn) -> None:
        while True:
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                return
            kind = msg[0]
            if kind == "done":
                with self._pending_lock:
                    self._pending.pop(msg[1], None)
                if msg[2] is not None:
                    self._count("answered" if msg[2] else "failed")
            elif kind == "health":
                self.milvus_status, self._running = msg[1], msg[2]
            elif kind == "stopped":
                return

    # ---- health ---------------------------------------------------------------------------
    @property
    def depth(self) -> int:
        return len(self._pending) - self.in_flight

    @property
    def in_flight(self) -> int:
        return min(self._running, len(self._pending))

    def wait_idle(self, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self._pending:
                return True
            time.sleep(0.02)
        return False


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


def child_main(conn, rag_settings, bot_settings, bot_user_id, parent_pid: int, acks_in_flight) -> None:
    import signal

    # Ctrl-C reaches the whole process group: the parent decides when to stop (it sends "stop",
    # letting answers in progress finish). SIGTERM keeps its default, so multiprocessing can still
    # end the child if the parent exits without stopping it.
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
    from rag_core.store import StoreError, StoreLocked

    from .app import milvus_status, warm_up, web_client
    from .jobs import RemoteAckGate
    from .reindex import start_reindexer
    from .reply import Responder

    send_lock = threading.Lock()

    def send(*msg) -> None:
        with send_lock:
            try:
                conn.send(msg)
            except OSError:
                os._exit(0)  # the parent is gone

    pipeline = Pipeline(rag_settings)
    try:
        pipeline.store.ping()
        milvus = "ok"
    except StoreLocked as exc:
        send("fatal", describe(exc))
        return
    except StoreError as exc:  # a server that is down: answers apologise until it is back
        log.warning("starting degraded — %s (answers resume when Milvus is back)", exc)
        milvus = f"unavailable: {str(exc)[:200]}"
    state = State(bot_settings.state_db)
    responder = Responder(web_client(bot_settings), pipeline, state, bot_settings, gate=RemoteAckGate(acks_in_flight))
    responder.bot_user_id = bot_user_id
    holding: set[int] = set()  # jobs queued or running here (a resend after a restart may repeat one)

    def done(job_id: int, ok: bool) -> None:
        holding.discard(job_id)
        send("done", job_id, ok)

    intake = Intake(state, responder.handle, responder.notify, workers=bot_settings.workers,
                    queue_size=100000, rate_limit=0, on_done=done)
    intake.start()
    send("ready", milvus)

    def report_health():
        while True:
            time.sleep(HEALTH_EVERY_S)
            send("health", milvus_status(pipeline.store), intake.in_flight)

    threading.Thread(target=warm_up, args=(pipeline,), name="warm-up", daemon=True).start()
    threading.Thread(target=report_health, name="health", daemon=True).start()
    start_reindexer(pipeline, bot_settings.reindex_seconds)
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            os._exit(0)  # the parent is gone: a restarted bot recovers the unanswered jobs
        if msg[0] == "job":
            job_id = msg[1]
            if job_id in holding:
                continue
            job = state.job(job_id)  # fresh: a previous child may have posted (reply_ts) or finished it
            if job is None or job.status not in OPEN:
                send("done", job_id, None)
                continue
            holding.add(job_id)
            intake.queue.put(job)
        elif msg[0] == "stop":
            intake.stop(timeout=msg[1])
            try:
                pipeline.store.close()
            finally:
                send("stopped")
            return
