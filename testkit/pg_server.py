"""A throwaway PostgreSQL for the tests and benchmarks: Debian's binaries (/usr/lib/postgresql/*/bin), `initdb` in a temp
dir, `pg_ctl` on a free 127.0.0.1 port with fsync off. PostgreSQL refuses to run as root: as root the
server runs as the `postgres` system user (via runuser), else as the current user. `.ci/run` installs the
`postgresql` package when the binaries are missing; without them the tests fail (never skip).

    server = PostgresServer().start()
    url = server.create_database("t1")   # postgresql://faqbot:…@127.0.0.1:PORT/t1
    url = server.create_schema("s1")     # …/postgres?options=-csearch_path%3Ds1 (instant; a database takes ~0.4 s)
    server.restart()                     # same port, same data
    server.stop()
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

USER = "faqbot"
PASSWORD = "pg-test-password-4711"  # tests check it never shows up in messages


def find_bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parts[4]))
    if found:
        return Path(found[-1]).parent
    pg_ctl = shutil.which("pg_ctl")
    if pg_ctl and shutil.which("initdb"):
        return Path(pg_ctl).parent
    raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) not found under /usr/lib/postgresql/*/bin or "
                       "on PATH: .ci/run installs them (apt-get install postgresql); on a dev machine run "
                       "`apt-get install -y postgresql`")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    def __init__(self):
        self.bindir = find_bindir()
        self.root = Path(tempfile.mkdtemp(prefix="faqbot-pg-"))  # not under pytest's 0700 root-owned tmp
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = free_port()
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                raise RuntimeError("running as root, PostgreSQL needs the `postgres` system user, which Debian's "
                                   "postgresql package creates: .ci/run installs it (apt-get install postgresql)")
        self._initialised = False

    # ---- running commands as the server's user ------------------------------------------------
    def _cmd(self, *args: str) -> list[str]:
        if self.as_postgres:
            return ["runuser", "-u", "postgres", "--", *args]
        return list(args)

    def _run(self, *args: str, timeout: float = 60) -> None:
        proc = subprocess.run(self._cmd(*args), capture_output=True, text=True, timeout=timeout, cwd=self.root)
        if proc.returncode != 0:
            tail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{' '.join(args[:2])} failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}\n{tail}")

    def _init(self) -> None:
        if self.as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
        pwfile = self.root / "pw"
        pwfile.write_text(PASSWORD + "\n")
        if self.as_postgres:
            shutil.chown(pwfile, "postgres", "postgres")
        pwfile.chmod(0o600)
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-U", USER, f"--pwfile={pwfile}",
                  "--auth-host=scram-sha-256", "--auth-local=trust", "-E", "UTF8", "--locale=C", "--no-sync")
        pwfile.unlink()
        self._initialised = True

    # ---- lifecycle -------------------------------------------------------------------------------
    def start(self) -> "PostgresServer":
        if not self._initialised:
            self._init()
        opts = (f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200 "
                "-c shared_buffers=32MB")
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", opts,
                  "-w", "-t", "60", "start")
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"PostgreSQL did not listen on 127.0.0.1:{self.port}")

    def stop(self, mode: str = "fast") -> None:
        if (self.data / "postmaster.pid").exists():
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self) -> None:
        """Stop (dropping every connection) and start again on the same port with the same data."""
        self.stop()
        self.start()

    def cleanup(self) -> None:
        try:
            self.stop("immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    # ---- databases ---------------------------------------------------------------------------------
    def url(self, dbname: str = "postgres", password: str | None = PASSWORD) -> str:
        auth = f"{USER}:{password}" if password is not None else USER
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def create_schema(self, name: str) -> str:
        """A new empty schema in database `postgres`; the URL makes it the search_path, so everything a
        store creates and uses lives there."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE SCHEMA "{name}"')
        return f"{self.url()}?options=-csearch_path%3D{name}"
