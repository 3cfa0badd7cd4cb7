"""In-process fake of the Slack Web API and Socket Mode, for tests.

* Web API: stdlib ``ThreadingHTTPServer`` on 127.0.0.1 (random port).  Point a
  client at it with ``WebClient(token=..., base_url=fake.api_url)``.
* Socket Mode: a ``websockets`` sync server (``fake.socket``) reachable through
  the URL that ``apps.connections.open`` returns.

The fake validates what real Slack validates (auth, required params, Block Kit
limits, streaming state, ...) and answers with the real response shapes, so a
client that gets it wrong fails here too.  The rules, with the documents they
come from, live beside this file: slack_blockkit.py (Block Kit), slack_streams.py
(chat.startStream/appendStream/stopStream), slack_views.py (views.publish).

Faults a test can switch on (each ``FakeSlack`` is fresh per test):

* ``fail(method, error, times=1, retry_after=1)``: the next calls answer ``error``
  (``ratelimited`` -> HTTP 429 with ``Retry-After``; ``internal_error`` -> 500), e.g.
  ``fail("chat.startStream", "channel_type_not_supported")``.
* ``expire_streams(after_appends=N, after_seconds=T)``: Slack's stream timeout; later
  appendStream/stopStream calls get ``message_not_in_streaming_state``.
* ``end_stream(channel, ts, reason="stopped_by_user")``: the user pressed Stop.
* ``hold(method)`` / ``release(method)``: calls take effect but get no response until released
  (a client that dies after posting, before it learns the ts).
* Socket Mode with several connections: each envelope goes to one of them at random; with
  ``socket.redeliver_after = T`` an unacknowledged events_api envelope is sent again after T s to
  another connection (``retry_attempt`` + 1), as Slack retries.
* ``messages_tab_enabled = False`` (streams in DMs: ``messages_tab_disabled``),
  ``home_tab_enabled = False`` (views.publish: ``not_enabled``).

What a test can read: ``messages``/``message()``, ``streams``/``stream()`` (chunks, tasks,
plan title, calls in order, ignored arguments), ``home_views``/``home_view(user)``,
``assistant_threads`` (``(channel, None)`` = prompts of the agent Messages tab), ``calls``.

Socket Mode note: ``drop_connections()`` aborts the TCP connection with an RST
(SO_LINGER 0, no close frame, no FIN).  slack_sdk's builtin client then gets
ECONNRESET and reconnects on its next monitor tick (``ping_interval``
seconds).  A plain FIN would not be noticed by that client for about
``5 * ping_interval`` seconds (it keeps reading EOF until five pings fail).
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import random
import re
import socket
import struct
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, urlparse

from websockets.sync.server import ServerConnection, serve

from testkit.fakes.slack_blockkit import validate_blocks
from testkit.fakes.slack_errors import SlackApiErrorResponse
from testkit.fakes.slack_errors import err as _err
from testkit.fakes import slack_streams as streams
from testkit.fakes import slack_views as views
from testkit.fakes.slack_errors import invalid_arguments
from testkit.fakes.slack_errors import invalid_blocks as _invalid_blocks

__all__ = ["Call", "FakeSlack", "FakeSocketMode"]


@dataclass
class Call:
    method: str
    params: dict
    headers: dict  # lower-cased names
    status: int = 200
    response: Any = None
    time: float = field(default_factory=time.time)

    @property
    def ok(self) -> bool:
        return isinstance(self.response, dict) and bool(self.response.get("ok"))


_JSON_PARAMS = ("blocks", "attachments", "chunks", "prompts", "metadata", "unfurl_links_json")
_TS_RE = re.compile(r"^\d{10}\.\d{6}$")
_EMOJI_RE = re.compile(r"^[a-z0-9_+'\-]+(::skin-tone-[2-6])?$")

# HTTP status used by ``fail()`` for some errors (everything else is 200).
_ERROR_STATUS = {"ratelimited": 429, "internal_error": 500, "fatal_error": 500, "service_unavailable": 503}


# --------------------------------------------------------------------------------------
# Socket Mode
# --------------------------------------------------------------------------------------

class FakeSocketMode:
    """Socket Mode server (``fake.socket``)."""

    def __init__(self, owner: "FakeSlack"):
        self._owner = owner
        self._lock = threading.Condition()
        self._server = None
        self._thread: threading.Thread | None = None
        self._conns: list[ServerConnection] = []
        self.port: int | None = None
        self.connected = threading.Event()
        self.connection_count = 0
        self.acks: list[dict] = []
        self.received: list[Any] = []  # every message a client sent (parsed JSON when possible)
        self.sent: list[dict] = []  # every envelope sent
        self.tickets: set[str] = set()
        self.app_id = "A1"
        self._retiring: list[ServerConnection] = []  # told to disconnect; closed once a new one connects
        # Several connections (replicas): like Slack, each envelope goes to ONE open connection, picked
        # at random; `delivered_to[envelope_id]` / `acked_on[envelope_id]` name it (1 = the first ever
        # accepted). With `redeliver_after` set (seconds), an events_api envelope not acknowledged by then
        # is sent again, to another connection when there is one, with retry_attempt + 1 and
        # retry_reason "timeout" (a new envelope_id, the same payload), up to `max_retries` times.
        self.redeliver_after: float | None = None
        self.max_retries = 3
        self.delivered_to: dict[str, int] = {}
        self.acked_on: dict[str, int] = {}
        self.redelivered: list[dict] = []  # the retry envelopes sent by redelivery
        self._numbers: dict[ServerConnection, int] = {}
        self._pending: dict[str, dict] = {}  # envelope_id -> {"env", "at", "conn"} until acknowledged
        self._random = random.Random(20240611)

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> None:
        self._server = serve(
            self._handler,
            "127.0.0.1",
            0,
            process_request=self._process_request,
            server_header=None,
            compression=None,
        )
        self.port = self._server.socket.getsockname()[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-slack-socket", daemon=True)
        self._thread.start()
        self._stopped = threading.Event()
        threading.Thread(target=self._redeliver_loop, name="fake-slack-redeliver", daemon=True).start()

    def stop(self) -> None:
        if getattr(self, "_stopped", None) is not None:
            self._stopped.set()
        if self._server is not None:
            self.drop_connections()
            self._server.shutdown()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def new_url(self) -> str:
        ticket = str(uuid.uuid4())
        with self._lock:
            self.tickets.add(ticket)
        return f"ws://127.0.0.1:{self.port}/link/?ticket={ticket}&app_id={self.app_id}"

    # -- server callbacks ------------------------------------------------------------
    def _process_request(self, connection, request):
        q = parse_qs(urlparse(request.path).query)
        ticket = (q.get("ticket") or [""])[0]
        if urlparse(request.path).path.rstrip("/") != "/link" or ticket not in self.tickets:
            return connection.respond(401, "invalid or missing ticket\n")
        return None

    def _handler(self, ws: ServerConnection) -> None:
        hello = {
            "type": "hello",
            "num_connections": 1,
            "debug_info": {"host": "applink-fake-1", "build_number": 1, "approximate_connection_time": 18060},
            "connection_info": {"app_id": self.app_id},
        }
        with self._lock:
            self._conns.append(ws)
            self.connection_count += 1
            self._numbers[ws] = self.connection_count
            hello["num_connections"] = len(self._conns)
        try:
            ws.send(json.dumps(hello))
            with self._lock:
                retiring, self._retiring = [c for c in self._retiring if c is not ws], []
            for old in retiring:  # like Slack: drop the old link once the client is back
                old.close_socket()
            self.connected.set()
            with self._lock:
                self._lock.notify_all()
            for raw in ws:
                try:
                    msg = json.loads(raw)
                except (TypeError, ValueError):
                    msg = raw
                with self._lock:
                    self.received.append(msg)
                    if isinstance(msg, dict) and "envelope_id" in msg:
                        self.acks.append(msg)
                        self.acked_on.setdefault(str(msg["envelope_id"]), self._numbers[ws])
                        self._pending.pop(str(msg["envelope_id"]), None)
                    self._lock.notify_all()
        except Exception:
            pass
        finally:
            with self._lock:
                if ws in self._conns:
                    self._conns.remove(ws)
                if not self._conns:
                    self.connected.clear()
                self._lock.notify_all()

    # -- test API ----------------------------------------------------------------------
    @property
    def active_connections(self) -> int:
        with self._lock:
            return len(self._conns)

    def wait_connected(self, timeout: float = 10.0) -> None:
        if not self.connected.wait(timeout):
            raise AssertionError(f"no Socket Mode client connected within {timeout}s")

    def wait_connection_count(self, n: int, timeout: float = 15.0) -> None:
        """Block until ``n`` connections were accepted in total and one is open."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while not (self.connection_count >= n and self._conns):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"expected >= {n} Socket Mode connections, got {self.connection_count} "
                        f"(open: {len(self._conns)})"
                    )
                self._lock.wait(left)

    def send(
        self,
        type: str,
        payload: dict,
        retry_attempt: int = 0,
        retry_reason: str = "",
        accepts_response_payload: bool | None = None,
        envelope_id: str | None = None,
    ) -> str:
        """Send an envelope to one open connection (at random, as Slack does); returns its envelope_id.

        ``accepts_response_payload`` defaults to what Slack sends: True for
        ``slash_commands``, False otherwise.  ``retry_attempt``/``retry_reason``
        are only part of ``events_api`` envelopes (as on real Slack).
        """
        if type not in ("events_api", "slash_commands", "interactive"):
            raise ValueError(f"unknown envelope type {type!r}")
        eid = envelope_id or str(uuid.uuid4())
        if accepts_response_payload is None:
            accepts_response_payload = type == "slash_commands"
        env: dict[str, Any] = {"envelope_id": eid, "payload": payload, "type": type,
                               "accepts_response_payload": accepts_response_payload}
        if type == "events_api":
            env["retry_attempt"] = retry_attempt
            env["retry_reason"] = retry_reason
        self._deliver(env)
        return eid

    def _deliver(self, env: dict, avoid: int | None = None) -> None:
        """Send an envelope to one open connection, at random (not `avoid` when there is another)."""
        conn = self._send_raw(env, avoid)
        with self._lock:
            self.sent.append(env)
            self.delivered_to[env["envelope_id"]] = conn
            if env["type"] == "events_api" and env["envelope_id"] not in self.acked_on:
                self._pending[env["envelope_id"]] = {"env": env, "at": time.monotonic(), "conn": conn}

    def _send_raw(self, message: dict, avoid: int | None = None) -> int:
        """Send on one open connection (a random one of those not told to disconnect; another if that
        send fails); returns its number."""
        with self._lock:
            conns = [c for c in self._conns if c not in self._retiring] or list(self._conns)
            numbers = dict(self._numbers)
        if not conns:
            raise AssertionError("no Socket Mode client is connected")
        self._random.shuffle(conns)
        conns.sort(key=lambda c: numbers.get(c) == avoid)  # stable: `avoid` last, the others at random
        for ws in conns:
            try:
                ws.send(json.dumps(message))
                return numbers[ws]
            except Exception:  # that connection is closing: Slack picks another
                continue
        raise AssertionError("no open Socket Mode connection took the message")

    def _redeliver_loop(self) -> None:
        while not self._stopped.wait(0.05):
            after = self.redeliver_after
            if after is None:
                continue
            now = time.monotonic()
            with self._lock:
                due = [(eid, p) for eid, p in self._pending.items() if now - p["at"] >= after]
                for eid, _ in due:
                    del self._pending[eid]
            for eid, p in due:
                env = p["env"]
                if env.get("retry_attempt", 0) >= self.max_retries:
                    continue
                retry = dict(env, envelope_id=str(uuid.uuid4()), retry_attempt=env.get("retry_attempt", 0) + 1,
                             retry_reason="timeout")
                try:
                    self._deliver(retry, avoid=p["conn"])
                except AssertionError:  # nobody connected right now: try again later
                    with self._lock:
                        self._pending[eid] = dict(p, at=time.monotonic())
                    continue
                with self._lock:
                    self.redelivered.append(retry)

    def wait_ack(self, envelope_id: str, timeout: float = 5.0) -> dict:
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                for a in self.acks:
                    if a.get("envelope_id") == envelope_id:
                        return a
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"no ack for envelope {envelope_id} within {timeout}s; acks seen: {self.acks!r}"
                    )
                self._lock.wait(left)

    def send_disconnect(self, reason: str = "warning") -> None:
        """Send ``{"type": "disconnect"}`` on the newest connection.

        The fake then closes that connection as soon as the client has opened a
        new one (slack_sdk's builtin client keeps reading the old socket until
        it returns, so without this its next messages would wait up to 3 s).
        """
        with self._lock:
            if not self._conns:
                raise AssertionError("no Socket Mode client is connected")
            ws = self._conns[-1]
            self._retiring.append(ws)
        ws.send(json.dumps({"type": "disconnect", "reason": reason, "debug_info": {"host": "applink-fake-1"}}))

    def drop_connections(self, rst: bool = True) -> None:
        """Close every client connection abruptly: no close frame.

        ``rst=True`` (default) aborts with a TCP RST, as a dead Slack edge would;
        ``rst=False`` sends a plain FIN instead.
        """
        with self._lock:
            conns = list(self._conns)
        for ws in conns:
            if rst:
                # Close with SO_LINGER 0 *before* waking websockets' reader thread:
                # that thread would otherwise shutdown(SHUT_WR) first and the client
                # would see a FIN (which slack_sdk's builtin client notices only
                # after ~5 failed pings).
                try:
                    ws.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    ws.socket.close()  # -> RST
                except OSError:
                    pass
            ws.close_socket()  # wakes the reader thread so the handler ends


# --------------------------------------------------------------------------------------
# Web API
# --------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    server_version = "FakeSlack/1.0"
    disable_nagle_algorithm = True  # like a real server: no 40 ms Nagle/delayed-ACK stalls
    fake: "FakeSlack"  # set on subclass

    def log_message(self, format, *args):  # noqa: A002 - silence stderr
        pass

    def do_GET(self):  # noqa: N802
        self._dispatch()

    def do_POST(self):  # noqa: N802
        self._dispatch()

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, resp_headers, payload = self.fake._handle_http(self.command, self.path, headers, body)
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode("utf-8")
        self.send_response(status)
        ctype = "text/plain; charset=utf-8" if isinstance(payload, bytes) else "application/json; charset=utf-8"
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in resp_headers.items():
            self.send_header(k, str(v))
        self.end_headers()
        self.wfile.write(data)


def _parse_params(path: str, headers: dict, body: bytes) -> dict:
    params: dict[str, Any] = {}
    for k, v in parse_qs(urlparse(path).query, keep_blank_values=True).items():
        params[k] = v[-1]
    ctype = headers.get("content-type", "")
    if body:
        if ctype.startswith("application/json"):
            data = json.loads(body.decode("utf-8"))
            if isinstance(data, dict):
                params.update(data)
        elif ctype.startswith("multipart/form-data"):
            msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body
            )
            for part in msg.iter_parts():
                name = part.get_param("name", header="content-disposition")
                content = part.get_payload(decode=True) or b""
                if part.get_filename():
                    params[name] = content
                else:
                    params[name] = content.decode("utf-8")
        else:  # application/x-www-form-urlencoded (also the default)
            for k, v in parse_qs(body.decode("utf-8"), keep_blank_values=True).items():
                params[k] = v[-1]
    for k in _JSON_PARAMS:
        v = params.get(k)
        if isinstance(v, str) and v[:1] in ("[", "{"):
            try:
                params[k] = json.loads(v)
            except ValueError:
                pass  # left as a string; validators reject it
    return params


class FakeSlack:
    def __init__(
        self,
        bot_token: str = "xoxb-test-token",
        app_token: str = "xapp-test-token",
        bot_user_id: str = "UBOT",
        bot_id: str = "BBOT",
        team_id: str = "T1",
        app_id: str = "A1",
        team_domain: str = "fake-team",
        strict_channels: bool = False,
    ):
        self.bot_token = bot_token
        self.app_token = app_token
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.team_id = team_id
        self.app_id = app_id
        self.team_domain = team_domain
        self.strict_channels = strict_channels  # unknown channels -> channel_not_found

        self.calls: list[Call] = []
        self._cond = threading.Condition()
        self._failures: dict[str, list[dict]] = {}
        self._latency: dict[str, float] = {}
        self._holds: dict[str, threading.Event] = {}  # method -> set when its held calls may answer
        self._stopping = threading.Event()
        self._channels: dict[str, dict] = {}
        self.messages: dict[str, dict[str, dict]] = {}  # channel -> ts -> message
        self.streams: dict[tuple[str, str], dict] = {}  # (channel, ts) -> record, see slack_streams.new_stream
        self._stream_limits: dict[str, Any] = {"after_appends": None, "after_seconds": None}
        self.messages_tab_enabled = True  # False: streams in DMs get messages_tab_disabled
        self.home_tab_enabled = True  # False: views.publish gets not_enabled
        self.home_views: dict[str, dict] = {}  # user_id -> the Home tab last published for them
        # (channel_id, thread_ts) -> status/title/prompts; thread_ts None = the Messages tab (agent_view)
        self.assistant_threads: dict[tuple[str, str | None], dict] = {}
        self._response_urls: dict[str, int] = {}
        self._ts_lock = threading.Lock()
        self._last_ts_us = 0
        self._httpd: ThreadingHTTPServer | None = None
        self._http_thread: threading.Thread | None = None
        self.port: int | None = None
        self.socket = FakeSocketMode(self)
        self.socket.app_id = app_id
        self._methods: dict[str, Callable[[dict], dict]] = {
            "api.test": self._api_test,
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.delete": self._chat_delete,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.getPermalink": self._chat_get_permalink,
            "chat.startStream": self._chat_start_stream,
            "chat.appendStream": self._chat_append_stream,
            "chat.stopStream": self._chat_stop_stream,
            "reactions.add": self._reactions_add,
            "reactions.remove": self._reactions_remove,
            "conversations.replies": self._conversations_replies,
            "conversations.info": self._conversations_info,
            "users.info": self._users_info,
            "assistant.threads.setStatus": self._assistant_set_status,
            "assistant.threads.setSuggestedPrompts": self._assistant_set_prompts,
            "assistant.threads.setTitle": self._assistant_set_title,
            "apps.connections.open": self._apps_connections_open,
            "views.publish": self._views_publish,
        }

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "FakeSlack":
        handler = type("_BoundHandler", (_Handler,), {"fake": self})
        server_cls = type("_Server", (ThreadingHTTPServer,), {"request_queue_size": 256})  # listen backlog
        self._httpd = server_cls(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._http_thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-slack-http", daemon=True)
        self._http_thread.start()
        self.socket.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self.release()
        self.socket.stop()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._http_thread is not None:
            self._http_thread.join(timeout=5)
            self._http_thread = None

    def __enter__(self) -> "FakeSlack":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/"

    # ------------------------------------------------------------------ test controls
    def calls_to(self, method: str) -> list[Call]:
        with self._cond:
            return [c for c in self.calls if c.method == method]

    def wait_for(self, method: str, count: int = 1, timeout: float = 10.0,
                 pred: Callable[[Call], bool] | None = None) -> list[Call]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [c for c in self.calls if c.method == method and (pred is None or pred(c))]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [(c.method, c.status, c.params, c.response) for c in self.calls]
                    raise AssertionError(
                        f"expected >= {count} matching {method} call(s) within {timeout}s, got {len(found)}. "
                        f"Calls seen: {seen!r}"
                    )
                self._cond.wait(left)

    def fail(self, method: str, error: str, times: int | None = 1, retry_after: int = 1) -> None:
        """Make the next ``times`` calls to ``method`` fail (``None`` = until cleared)."""
        with self._cond:
            self._failures.setdefault(method, []).append(
                {"error": error, "times": times, "retry_after": retry_after}
            )

    def clear_failures(self, method: str | None = None) -> None:
        with self._cond:
            if method is None:
                self._failures.clear()
            else:
                self._failures.pop(method, None)

    def set_latency(self, method: str, seconds: float) -> None:
        with self._cond:
            self._latency[method] = seconds

    def hold(self, method: str) -> None:
        """Calls to ``method`` take effect (a message is stored, and the call recorded) but their
        response waits until ``release(method)``: a client killed meanwhile has posted without
        learning the ts — what a process that dies between Slack's answer and its own bookkeeping leaves."""
        with self._cond:
            self._holds.setdefault(method, threading.Event()).clear()

    def release(self, method: str | None = None) -> None:
        """Let held calls (of ``method``, or of every method) answer; later calls are not held."""
        with self._cond:
            for name in [method] if method else list(self._holds):
                gate = self._holds.pop(name, None)
                if gate is not None:
                    gate.set()

    # -- streaming faults
    def expire_streams(self, after_appends: int | None = None, after_seconds: float | None = None) -> None:
        """Close every stream (open or future) once it has had ``after_appends`` appends or is
        ``after_seconds`` old, as Slack's own stream timeout does: the next appendStream or
        stopStream then gets ``message_not_in_streaming_state``."""
        with self._cond:
            self._stream_limits = {"after_appends": after_appends, "after_seconds": after_seconds}

    def end_stream(self, channel: str, ts: str, reason: str = "expired") -> None:
        """End one stream now: ``expired`` (Slack's timeout) or ``stopped_by_user`` (the user
        pressed Stop: appends get ``stopped_by_user``, stopStream ``message_not_in_streaming_state``)."""
        if reason not in ("expired", "stopped_by_user"):
            raise ValueError(f"unknown reason {reason!r}")
        with self._cond:
            self.streams[(channel, ts)]["state"] = reason

    def home_view(self, user_id: str) -> dict | None:
        """A copy of the Home tab last published for ``user_id`` (as views.publish answered it)."""
        with self._cond:
            view = self.home_views.get(user_id)
            return json.loads(json.dumps(view)) if view is not None else None

    def stream(self, channel: str, ts: str) -> dict:
        """A copy of what the fake recorded for one stream (see slack_streams.new_stream)."""
        with self._cond:
            return json.loads(json.dumps(self.streams[(channel, ts)]))

    def add_channel(self, channel_id: str, members_include_bot: bool = True, name: str | None = None,
                    is_private: bool = False) -> None:
        with self._cond:
            self._channels[channel_id] = {
                "id": channel_id, "name": name or channel_id.lower(), "is_member": members_include_bot,
                "is_private": is_private,
            }

    def seed_thread(self, channel: str, thread_ts: str, messages: list[dict]) -> None:
        """Store a thread; ``messages[0]`` is the parent (its ts is forced to ``thread_ts``)."""
        with self._cond:
            store = self.messages.setdefault(channel, {})
            for i, m in enumerate(messages):
                m = dict(m)
                m.setdefault("type", "message")
                if i == 0:
                    m["ts"] = thread_ts
                else:
                    m.setdefault("ts", self._next_ts())
                m["thread_ts"] = thread_ts
                m.setdefault("text", "")
                self._saw_ts(m["ts"])
                store[m["ts"]] = m
                if i > 0:
                    self._note_reply(channel, thread_ts, m)

    def add_message(self, channel: str, message: dict) -> dict:
        """Store a (user) message, e.g. the one an event refers to; returns the stored copy."""
        with self._cond:
            m = dict(message)
            m.setdefault("type", "message")
            m.setdefault("ts", self._next_ts())
            self._saw_ts(m["ts"])
            self.messages.setdefault(channel, {})[m["ts"]] = m
            if m.get("thread_ts") and m["thread_ts"] != m["ts"]:
                self._note_reply(channel, m["thread_ts"], m)
            return m

    def thread(self, channel: str, thread_ts: str) -> list[dict]:
        with self._cond:
            return self._thread_messages(channel, thread_ts)

    def message(self, channel: str, ts: str) -> dict | None:
        with self._cond:
            return self.messages.get(channel, {}).get(ts)

    def new_response_url(self) -> str:
        rid = uuid.uuid4().hex
        with self._cond:
            self._response_urls[rid] = 0
        return f"{self.base_url}/response/{rid}"

    # ------------------------------------------------------------------ HTTP plumbing
    def _handle_http(self, verb: str, path: str, headers: dict, body: bytes):
        u = urlparse(path)
        if u.path.startswith("/response/"):
            return self._handle_response_url(u.path[len("/response/"):], headers, body)
        if not u.path.startswith("/api/"):
            return 404, {}, b"not found"
        method = u.path[len("/api/"):]
        try:
            params = _parse_params(path, headers, body)
        except Exception as ex:  # noqa: BLE001
            params = {"_unparseable_body": body.decode("utf-8", "replace")}
            status, rh, resp = 200, {}, {"ok": False, "error": "invalid_json" if "json" in headers.get(
                "content-type", "") else "invalid_form_data", "_detail": str(ex)}
            self._record(method, params, headers, status, resp)
            return status, rh, resp
        with self._cond:
            delay = self._latency.get(method, 0.0)
        if delay:
            time.sleep(delay)
        status, rh, resp = self._call_method(method, params, headers)
        self._record(method, params, headers, status, resp)
        with self._cond:
            gate = self._holds.get(method)
        while gate is not None and not gate.wait(0.1) and not self._stopping.is_set():
            pass
        return status, rh, resp

    def _record(self, method, params, headers, status, resp) -> None:
        with self._cond:
            self.calls.append(Call(method=method, params=params, headers=headers, status=status, response=resp))
            self._cond.notify_all()

    def _call_method(self, method: str, params: dict, headers: dict):
        handler = self._methods.get(method)
        if handler is None:
            return 200, {}, {"ok": False, "error": "unknown_method", "req_method": method}
        # --- auth
        token = None
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            token = auth[7:].strip()
        elif params.get("token"):
            token = params["token"]
        if method != "api.test":
            if not token:
                return 200, {}, {"ok": False, "error": "not_authed"}
            wanted = self.app_token if method == "apps.connections.open" else self.bot_token
            if token != wanted:
                if method == "apps.connections.open" and token == self.bot_token:
                    return 200, {}, {"ok": False, "error": "not_allowed_token_type"}
                return 200, {}, {"ok": False, "error": "invalid_auth"}
        # --- injected failures
        with self._cond:
            queue = self._failures.get(method)
            f = queue[0] if queue else None
            if f is not None and f["times"] is not None:
                f["times"] -= 1
                if f["times"] <= 0:
                    queue.pop(0)
        if f is not None:
            err = f["error"]
            status = _ERROR_STATUS.get(err, 200)
            rh = {"Retry-After": str(f["retry_after"])} if status == 429 else {}
            return status, rh, {"ok": False, "error": err}
        # --- real work
        try:
            with self._cond:
                resp = handler(params)
            return 200, {}, resp
        except SlackApiErrorResponse as ex:
            return ex.status, ex.headers, {"ok": False, "error": ex.error, **ex.extra}

    def _handle_response_url(self, rid: str, headers: dict, body: bytes):
        ctype = headers.get("content-type", "")
        try:
            params = json.loads(body.decode("utf-8")) if ctype.startswith("application/json") else \
                _parse_params("", headers, body)
        except ValueError:
            params = {"_raw": body.decode("utf-8", "replace")}
        with self._cond:
            delay = self._latency.get("response_url", 0.0)
        if delay:
            time.sleep(delay)
        with self._cond:
            used = self._response_urls.get(rid)
            if used is None:
                status, resp = 404, {"ok": False, "error": "expired_url"}
            elif used >= 5:  # a response_url may be used up to 5 times
                status, resp = 404, {"ok": False, "error": "used_url"}
            elif not isinstance(params, dict) or not (params.get("text") or params.get("blocks")
                                                      or params.get("delete_original")):
                status, resp = 400, {"ok": False, "error": "no_text"}
            elif params.get("blocks") is not None and validate_blocks(params["blocks"]):
                errs = validate_blocks(params["blocks"])
                status, resp = 400, {"ok": False, "error": "invalid_blocks",
                                     "response_metadata": {"messages": [f"[ERROR] {m}" for m in errs]}}
            else:
                self._response_urls[rid] = used + 1
                status, resp = 200, {"ok": True}
        self._record("response_url", dict(params, _url_id=rid) if isinstance(params, dict) else params,
                     headers, status, resp)
        return status, {}, resp

    # ------------------------------------------------------------------ helpers
    def _next_ts(self) -> str:
        """Unique, increasing ts from the wall clock, later than every ts stored so far."""
        with self._ts_lock:
            n = max(int(time.time() * 1_000_000), self._last_ts_us + 100)
            self._last_ts_us = n
        return f"{n // 1_000_000}.{n % 1_000_000:06d}"

    def _saw_ts(self, ts: Any) -> None:
        try:
            n = int(round(float(ts) * 1_000_000))
        except (TypeError, ValueError):
            return
        with self._ts_lock:
            self._last_ts_us = max(self._last_ts_us, n)

    def _check_channel(self, channel: Any, post: bool = True) -> str:
        if not channel or not isinstance(channel, str):
            raise _err("channel_not_found")
        ch = self._channels.get(channel)
        if ch is None:
            if self.strict_channels:
                raise _err("channel_not_found")
            return channel
        if post and not ch["is_member"] and not channel.startswith("D"):
            raise _err("not_in_channel")
        return channel

    def _note_reply(self, channel: str, thread_ts: str, reply: dict) -> None:
        parent = self.messages.get(channel, {}).get(thread_ts)
        if parent is None:
            return
        parent["thread_ts"] = thread_ts
        parent["reply_count"] = parent.get("reply_count", 0) + 1
        users = parent.setdefault("reply_users", [])
        u = reply.get("user")
        if u and u not in users:
            users.append(u)
        parent["reply_users_count"] = len(users)
        parent["latest_reply"] = reply["ts"]

    def _thread_messages(self, channel: str, thread_ts: str) -> list[dict]:
        store = self.messages.get(channel, {})
        msgs = [m for ts, m in store.items() if ts == thread_ts or m.get("thread_ts") == thread_ts]
        return sorted((json.loads(json.dumps(m)) for m in msgs), key=lambda m: float(m["ts"]))

    def _bot_message(self, text: str, ts: str, **extra: Any) -> dict:
        m = {
            "user": self.bot_user_id,
            "type": "message",
            "ts": ts,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "text": text,
            "team": self.team_id,
            "bot_profile": {"id": self.bot_id, "app_id": self.app_id, "name": "fakebot", "deleted": False,
                            "team_id": self.team_id},
        }
        m.update({k: v for k, v in extra.items() if v is not None})
        return m

    def _check_text_and_blocks(self, p: dict, require: bool = True) -> None:
        blocks = p.get("blocks")
        text = p.get("text")
        if require and not (text or blocks or p.get("attachments") or p.get("markdown_text")):
            raise _err("no_text")
        if text is not None and not isinstance(text, str):
            raise _err("invalid_arguments")
        if isinstance(text, str) and len(text) > 40000:
            raise _err("msg_too_long")
        if blocks is not None:
            if isinstance(blocks, str):
                raise _err("invalid_blocks_format")
            errs = validate_blocks(blocks)
            if errs:
                raise _invalid_blocks(errs)
        mt = p.get("markdown_text")
        if mt is not None and len(mt) > 12000:
            raise _err("msg_too_long")

    # ------------------------------------------------------------------ methods
    def _api_test(self, p: dict) -> dict:
        return {"ok": True, "args": {k: v for k, v in p.items() if k != "token"}}

    def _auth_test(self, p: dict) -> dict:
        return {
            "ok": True,
            "url": f"https://{self.team_domain}.slack.com/",
            "team": "Fake Team",
            "user": "fakebot",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    @staticmethod
    def _check_metadata(p: dict) -> None:
        """chat.postMessage/update `metadata`: {"event_type": str, "event_payload": {...}}."""
        meta = p.get("metadata")
        if meta is None:
            return
        if isinstance(meta, str):
            try:
                meta = json.loads(meta)
            except ValueError:
                raise _err("invalid_metadata_format") from None
            p["metadata"] = meta
        if not (isinstance(meta, dict) and isinstance(meta.get("event_type"), str) and meta["event_type"]
                and isinstance(meta.get("event_payload"), dict)):
            raise _err("invalid_metadata_schema")

    def _chat_post_message(self, p: dict) -> dict:
        channel = self._check_channel(p.get("channel"))
        self._check_text_and_blocks(p)
        self._check_metadata(p)
        ts = self._next_ts()
        thread_ts = p.get("thread_ts") or None
        if thread_ts is not None and not _TS_RE.match(str(thread_ts)):
            raise _err("invalid_thread_ts")
        text = p.get("text") or p.get("markdown_text") or ""
        msg = self._bot_message(text, ts, blocks=p.get("blocks"), attachments=p.get("attachments"),
                                thread_ts=thread_ts, metadata=p.get("metadata"))
        if thread_ts:
            parent = self.messages.get(channel, {}).get(thread_ts)
            msg["parent_user_id"] = parent.get("user") if parent else None
            if msg["parent_user_id"] is None:
                del msg["parent_user_id"]
        self.messages.setdefault(channel, {})[ts] = msg
        if thread_ts:
            self._note_reply(channel, thread_ts, msg)
        return {"ok": True, "channel": channel, "ts": ts, "message": json.loads(json.dumps(msg))}

    def _own_message(self, p: dict, not_mine: str) -> tuple[str, str, dict]:
        """(channel, ts, message) of the bot's own message that `p` names; Slack's errors otherwise."""
        channel = self._check_channel(p.get("channel"), post=False)
        ts = p.get("ts")
        msg = self.messages.get(channel, {}).get(ts) if ts else None
        if msg is None:
            raise _err("message_not_found")
        if msg.get("user") != self.bot_user_id:
            raise _err(not_mine)
        return channel, ts, msg

    def _chat_update(self, p: dict) -> dict:
        channel, ts, msg = self._own_message(p, "cant_update_message")
        self._check_text_and_blocks(p, require=False)
        self._check_metadata(p)
        if p.get("metadata") is not None:
            msg["metadata"] = p["metadata"]
        if "text" in p:
            msg["text"] = p["text"]
        if "blocks" in p:
            msg["blocks"] = p["blocks"]
        if "attachments" in p:
            msg["attachments"] = p["attachments"]
        msg["edited"] = {"user": self.bot_user_id, "ts": self._next_ts()}
        return {"ok": True, "channel": channel, "ts": ts, "text": msg.get("text", ""),
                "message": json.loads(json.dumps(msg))}

    def _chat_delete(self, p: dict) -> dict:
        channel, ts, _ = self._own_message(p, "cant_delete_message")
        del self.messages[channel][ts]
        return {"ok": True, "channel": channel, "ts": ts}

    def _chat_post_ephemeral(self, p: dict) -> dict:
        self._check_channel(p.get("channel"))
        if not p.get("user"):
            raise _err("user_not_found")
        self._check_text_and_blocks(p)
        return {"ok": True, "message_ts": self._next_ts()}

    def _chat_get_permalink(self, p: dict) -> dict:
        channel = self._check_channel(p.get("channel"), post=False)
        ts = p.get("message_ts")
        if not ts or ts not in self.messages.get(channel, {}):
            raise _err("message_not_found")
        return {"ok": True, "channel": channel,
                "permalink": f"https://{self.team_domain}.slack.com/archives/{channel}/p{ts.replace('.', '')}"}

    # -- streaming (rules and their sources: testkit/fakes/slack_streams.py)
    def _check_messages_tab(self, channel: str) -> None:
        """A stream in the app's DM needs the Messages tab (``messages_tab_disabled``)."""
        if channel.startswith("D") and not self.messages_tab_enabled:
            raise _err("messages_tab_disabled")

    def _chat_start_stream(self, p: dict) -> dict:
        channel = self._check_channel(p.get("channel"))
        self._check_messages_tab(channel)
        streams.check_start_args(p, in_dm=channel.startswith("D"))
        content = streams.read_content(p)
        st = streams.new_stream(p, streams.ignored_args(p, streams.START_ARGS))
        streams.apply_content(st, content, "start")
        ts = self._next_ts()
        msg = self._bot_message(content.text, ts, thread_ts=p["thread_ts"])
        self.messages.setdefault(channel, {})[ts] = msg
        self._note_reply(channel, p["thread_ts"], msg)
        self.streams[(channel, ts)] = st
        return {"ok": True, "channel": channel, "ts": ts}

    def _stream_for(self, p: dict, appending: bool) -> tuple[str, str, dict]:
        """The live stream a call names, or the error Slack gives for that message."""
        channel = self._check_channel(p.get("channel"), post=False)
        self._check_messages_tab(channel)
        ts = p.get("ts")
        if not ts:
            raise invalid_arguments(["missing required field: ts"])
        st = self.streams.get((channel, ts))
        if st is None:
            msg = self.messages.get(channel, {}).get(ts)
            if msg is not None and msg.get("user") != self.bot_user_id:
                raise _err("message_not_owned_by_app")
            raise _err("message_not_in_streaming_state")
        streams.close_if_due(st, **self._stream_limits)
        if st["state"] == "stopped_by_user" and appending:
            raise _err("stopped_by_user")
        if st["state"] != "streaming":
            raise _err("message_not_in_streaming_state")
        return channel, ts, st

    def _chat_append_stream(self, p: dict) -> dict:
        channel, ts, st = self._stream_for(p, appending=True)
        content = streams.read_content(p)
        if not content.text and not content.chunks:
            raise _err("no_text")
        streams.apply_content(st, content, "append")
        st["ignored_args"] += streams.ignored_args(p, streams.APPEND_ARGS)
        self.messages[channel][ts]["text"] += content.text
        st["appends"] += 1
        return {"ok": True, "channel": channel, "ts": ts}

    def _chat_stop_stream(self, p: dict) -> dict:
        channel, ts, st = self._stream_for(p, appending=False)
        streams.check_stop_args(p)
        self._check_metadata(p)
        content = streams.read_content(p)
        streams.apply_content(st, content, "stop")
        st["ignored_args"] += streams.ignored_args(p, streams.STOP_ARGS)
        st.update(state="stopped", stop_blocks=p.get("blocks"), metadata=p.get("metadata"),
                  session_status=p.get("session_status"))
        msg = self.messages[channel][ts]
        msg["text"] += content.text
        if st["blocks"] or st["stop_blocks"]:
            msg["blocks"] = st["blocks"] + (st["stop_blocks"] or [])  # stop blocks render last
        if st["metadata"] is not None:
            msg["metadata"] = st["metadata"]
        return {"ok": True, "channel": channel, "ts": ts, "message": json.loads(json.dumps(msg))}

    # -- reactions
    def _reaction_target(self, p: dict) -> tuple[str, str, str]:
        channel = self._check_channel(p.get("channel"), post=False)
        ts = p.get("timestamp")
        name = p.get("name")
        if not ts:
            raise _err("no_item_specified")
        if not _TS_RE.match(str(ts)):
            raise _err("bad_timestamp")
        if not name or not _EMOJI_RE.match(name):
            raise _err("invalid_name")
        return channel, ts, name

    def _reactions_add(self, p: dict) -> dict:
        channel, ts, name = self._reaction_target(p)
        msg = self.messages.setdefault(channel, {}).get(ts)
        if msg is None:  # the event's message isn't stored: remember the reaction anyway
            msg = self.messages[channel][ts] = {"type": "message", "ts": ts, "text": "", "_placeholder": True}
        for r in msg.setdefault("reactions", []):
            if r["name"] == name:
                if self.bot_user_id in r["users"]:
                    raise _err("already_reacted")
                r["users"].append(self.bot_user_id)
                r["count"] += 1
                return {"ok": True}
        msg["reactions"].append({"name": name, "users": [self.bot_user_id], "count": 1})
        return {"ok": True}

    def _reactions_remove(self, p: dict) -> dict:
        channel, ts, name = self._reaction_target(p)
        msg = self.messages.get(channel, {}).get(ts)
        for r in (msg or {}).get("reactions", []):
            if r["name"] == name and self.bot_user_id in r["users"]:
                r["users"].remove(self.bot_user_id)
                r["count"] -= 1
                if r["count"] == 0:
                    msg["reactions"].remove(r)
                return {"ok": True}
        raise _err("no_reaction")

    def reactions(self, channel: str, ts: str) -> list[str]:
        """Names of the reactions the bot currently has on a message."""
        with self._cond:
            msg = self.messages.get(channel, {}).get(ts) or {}
            return [r["name"] for r in msg.get("reactions", []) if self.bot_user_id in r["users"]]

    # -- conversations / users
    def _conversations_replies(self, p: dict) -> dict:
        channel = self._check_channel(p.get("channel"), post=False)
        ts = p.get("ts")
        if not ts:
            raise _err("invalid_arguments")
        msgs = [m for m in self._thread_messages(channel, ts) if not m.get("_placeholder")]
        if not msgs:
            raise _err("thread_not_found")
        limit = int(p.get("limit") or 1000)
        start = int(p.get("cursor") or 0) if str(p.get("cursor") or "0").isdigit() else 0
        page = msgs[start:start + limit]
        if str(p.get("include_all_metadata", "")).lower() not in ("true", "1"):
            # like Slack: message metadata is returned only when asked for
            page = [{k: v for k, v in m.items() if k != "metadata"} for m in page]
        has_more = start + limit < len(msgs)
        resp: dict[str, Any] = {"ok": True, "messages": page, "has_more": has_more}
        resp["response_metadata"] = {"next_cursor": str(start + limit) if has_more else ""}
        return resp

    def _conversations_info(self, p: dict) -> dict:
        channel = p.get("channel")
        if not channel:
            raise _err("channel_not_found")
        ch = self._channels.get(channel)
        if ch is None and self.strict_channels:
            raise _err("channel_not_found")
        ch = ch or {"id": channel, "name": channel.lower(), "is_member": True, "is_private": False}
        is_im = channel.startswith("D")
        return {"ok": True, "channel": {
            "id": channel, "name": ch["name"], "is_channel": not is_im and not ch["is_private"],
            "is_group": False, "is_im": is_im, "is_mpim": False, "is_private": ch["is_private"] or is_im,
            "is_archived": False, "is_general": False, "is_member": ch["is_member"],
            "created": 1700000000, "context_team_id": self.team_id,
        }}

    def _users_info(self, p: dict) -> dict:
        user = p.get("user")
        if not user or not re.match(r"^[UW][A-Z0-9]+$", user):
            raise _err("user_not_found")
        is_bot = user == self.bot_user_id
        name = "fakebot" if is_bot else user.lower()
        return {"ok": True, "user": {
            "id": user, "team_id": self.team_id, "name": name, "deleted": False, "real_name": name.title(),
            "tz": "UTC", "tz_offset": 0, "is_bot": is_bot, "is_admin": False, "is_app_user": False,
            "profile": {"real_name": name.title(), "display_name": name, "team": self.team_id,
                        **({"bot_id": self.bot_id} if is_bot else {})},
        }}

    # -- assistant
    def _assistant_key(self, p: dict) -> tuple[str, str]:
        ch = p.get("channel_id")
        tts = p.get("thread_ts")
        if not ch:
            raise _err("channel_not_found")
        if not tts or not _TS_RE.match(str(tts)):
            raise _err("invalid_thread_ts" if tts else "invalid_arguments")
        return ch, tts

    def _assistant_set_status(self, p: dict) -> dict:
        key = self._assistant_key(p)
        if "status" not in p or not isinstance(p["status"], str):
            raise _err("invalid_arguments")
        lm = p.get("loading_messages")
        if lm is not None and (not isinstance(lm, list) or len(lm) > 10):
            raise _err("invalid_arguments")
        self.assistant_threads.setdefault(key, {})["status"] = p["status"]
        return {"ok": True}

    def _prompts_key(self, p: dict) -> tuple[str, str | None]:
        """Prompts go to a thread, or (agent_view) to the top of the app's Messages tab: no
        thread_ts there (bolt-python docs/english/concepts/adding-agent-features.md; slack_sdk
        3.48 makes thread_ts optional). Leaving thread_ts out outside a DM: the fake's guess."""
        if p.get("thread_ts") is None and str(p.get("channel_id") or "").startswith("D"):
            return p["channel_id"], None
        return self._assistant_key(p)

    def _assistant_set_prompts(self, p: dict) -> dict:
        key = self._prompts_key(p)
        prompts = p.get("prompts")
        if not isinstance(prompts, list) or not prompts or len(prompts) > 4:
            raise _err("invalid_arguments")
        for pr in prompts:
            if not isinstance(pr, dict) or not pr.get("title") or not pr.get("message"):
                raise _err("invalid_arguments")
        self.assistant_threads.setdefault(key, {})["prompts"] = prompts
        if p.get("title"):
            self.assistant_threads[key]["prompts_title"] = p["title"]
        return {"ok": True}

    def _assistant_set_title(self, p: dict) -> dict:
        key = self._assistant_key(p)
        if not p.get("title"):
            raise _err("invalid_arguments")
        self.assistant_threads.setdefault(key, {})["title"] = p["title"]
        return {"ok": True}

    # -- App Home (rules and their sources: testkit/fakes/slack_views.py)
    def _views_publish(self, p: dict) -> dict:
        user = p.get("user_id")
        for name in ("user_id", "view"):
            if p.get(name) is None:
                raise invalid_arguments([f"missing required field: {name}"])
        view = views.read_view(p["view"])
        if not self.home_tab_enabled:
            raise _err("not_enabled")
        problems = views.check_home_view(view)
        if problems:
            raise invalid_arguments(problems)
        views.check_size(view)
        current = self.home_views.get(user)
        views.check_hash(p.get("hash"), current)
        self._check_external_id(view.get("external_id"), user)
        view_id = current["id"] if current else "V" + uuid.uuid4().hex[:10].upper()
        self.home_views[user] = views.published_view(view, view_id=view_id, team_id=self.team_id,
                                                     app_id=self.app_id, bot_id=self.bot_id)
        return {"ok": True, "view": json.loads(json.dumps(self.home_views[user]))}

    def _check_external_id(self, external_id: str | None, user: str) -> None:
        """An external_id is unique across the team's views."""
        if external_id and any(v["external_id"] == external_id for u, v in self.home_views.items() if u != user):
            raise _err("duplicate_external_id")

    # -- socket mode
    def _apps_connections_open(self, p: dict) -> dict:
        return {"ok": True, "url": self.socket.new_url()}
