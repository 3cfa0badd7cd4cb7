"""Plumbing the HTTP fakes share: a threaded server on 127.0.0.1 with a real listen backlog, a
handler that tolerates clients hanging up, and start/stop that return promptly even while a
"hang" fault sleeps (handlers sleep on `fake._stopping`)."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # listen backlog: a real API takes many connections at once
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, addr, handler, fake):
        self.fake = fake
        super().__init__(addr, handler)


class FakeHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    sys_version = ""
    disable_nagle_algorithm = True  # like a real server: no 40 ms Nagle/delayed-ACK stalls

    def log_message(self, format, *args):  # noqa: A002 - silence stderr noise
        pass

    def handle_one_request(self):
        try:
            super().handle_one_request()
        except (BrokenPipeError, ConnectionResetError, socket.timeout, OSError):
            self.close_connection = True

    @property
    def fake(self):
        return self.server.fake  # type: ignore[attr-defined]


class ServedFake:
    """start()/stop()/with for a fake whose requests `handler` serves."""

    handler: type[FakeHandler]

    def _init_server(self) -> None:
        self._stopping = threading.Event()
        self._server: FakeHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def _on_start(self, port: int) -> None:
        """Set the fake's base URLs."""

    def start(self):
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = FakeHTTPServer(("127.0.0.1", 0), self.handler, self)
        port = self._server.server_address[1]
        self._on_start(port)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"{type(self).__name__}:{port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()  # wakes sleeping slow/hang handlers
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
