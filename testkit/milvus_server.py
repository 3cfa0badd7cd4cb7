"""A real Milvus gRPC server (milvus-lite's `server` command) that tests and benchmarks can stop and
start: MILVUS_URI=http://… code paths, Milvus outages, and several worker processes sharing one
collection (a Milvus Lite file opens in one process only)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MilvusServer:
    def __init__(self, data_dir: Path, port: int | None = None):
        self.data_dir = data_dir
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> "MilvusServer":
        exe = Path(sys.executable).with_name("milvus-lite")
        self.proc = subprocess.Popen([str(exe), "server", "--data-dir", str(self.data_dir), "--host", "127.0.0.1",
                                      "--port", str(self.port)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError("milvus-lite server exited")
                time.sleep(0.1)
        raise TimeoutError("milvus-lite server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None
