"""A throwaway PostgreSQL server for the tests marked ``backend`` and the service suites
run with ``REELTRACE_TEST_DATABASE=postgres``: Debian's ``postgresql``
package (``.ci/run`` installs it), ``initdb`` into a temporary folder, started with
``pg_ctl`` on a free port of 127.0.0.1, its socket in that folder, stopped and deleted at the
end. Never a mock.

PostgreSQL refuses to run as root: when the tests run as root (CI's containers), the
server runs as the ``postgres`` user (``runuser``), in a folder made for it outside
pytest's (root-only) temporary folders. As any other user it runs as that user.

``pg_server`` is a session fixture (import it into a test module); ``server.new_database()``
gives each test its own empty database, as a ``postgresql://`` URL.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

USER = "reeltrace"  # the database superuser initdb creates (trust authentication, local only)


def bin_dir() -> str | None:
    """The newest installed PostgreSQL's programs (``/usr/lib/postgresql/N/bin``), or the PATH's."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[-3]))
    if found:
        return os.path.dirname(found[-1])
    initdb = shutil.which("initdb")
    return os.path.dirname(initdb) if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """One PostgreSQL server in a temporary folder of its own."""

    def __init__(self, bindir: str):
        self.bindir = bindir
        self.as_root = os.geteuid() == 0
        self.folder = tempfile.mkdtemp(prefix="reeltrace-pg-")
        self.data = os.path.join(self.folder, "data")
        self.log = os.path.join(self.folder, "server.log")
        self.port = _free_port()
        self.url = f"postgresql://{USER}@127.0.0.1:{self.port}/postgres"
        if self.as_root:
            user = pwd.getpwnam("postgres")
            os.chown(self.folder, user.pw_uid, user.pw_gid)

    def _run(self, program: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        cmd = [os.path.join(self.bindir, program), *args]
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=self.folder)
        if done.returncode != 0:
            log = open(self.log).read()[-3000:] if os.path.exists(self.log) else ""
            raise RuntimeError(f"{program} failed ({done.returncode}): {done.stderr[-3000:]}\n{log}")
        return done

    def start(self) -> PostgresServer:
        self._run("initdb", "-D", self.data, "-U", USER, "--auth=trust", "--encoding=UTF8", "--locale=C")
        options = (f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")  # fmt: skip
        self._run("pg_ctl", "-D", self.data, "-l", self.log, "-o", options, "-w", "-t", "60", "start")
        return self

    def new_database(self, prefix: str = "t") -> str:
        """A new, empty database on this server; its URL."""
        import psycopg

        name = f"{prefix}_{secrets.token_hex(4)}"
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url.rsplit("/", 1)[0] + "/" + name

    def copy_database(self, url: str) -> str:
        """A new database holding what the database at ``url`` (on this server) holds; its URL.
        PostgreSQL copies only a database nobody is connected to: a closed pool's connections
        may take a moment to go."""
        import psycopg

        name = f"copy_{secrets.token_hex(4)}"
        with psycopg.connect(self.url, autocommit=True) as conn:
            for attempt in range(300):
                try:
                    conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{url.rsplit("/", 1)[1]}"')
                    break
                except psycopg.errors.ObjectInUse:
                    if attempt == 299:
                        raise
                    time.sleep(0.1)
        return self.url.rsplit("/", 1)[0] + "/" + name

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop", timeout=60)
        except (RuntimeError, subprocess.TimeoutExpired):
            self._run("pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop", timeout=60)
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


def _wait_ready(url: str, timeout: float = 30.0) -> None:
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        try:
            psycopg.connect(url, connect_timeout=2).close()
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.fixture(scope="session")
def pg_server():
    """A PostgreSQL server for the session (skips when psycopg or PostgreSQL is missing:
    ``make test-backends`` installs the one, ``.ci/run`` the other)."""
    pytest.importorskip("psycopg", reason="psycopg is in the scale extra: pip install -e '.[scale]'")
    pytest.importorskip("psycopg_pool", reason="psycopg_pool is in the scale extra: pip install -e '.[scale]'")
    bindir = bin_dir()
    if bindir is None:
        pytest.skip("no PostgreSQL server programs (apt-get install postgresql)")
    server = PostgresServer(bindir).start()
    try:
        _wait_ready(server.url)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def new_database(request):
    """A maker of new databases for a service's tables: each call gives a new PostgreSQL
    database's URL with ``REELTRACE_TEST_DATABASE=postgres`` (``make test-backends``), else
    None (the server's default, the library's service.sqlite). The service suites run
    both ways, with the same tests and the same answers."""
    if os.environ.get("REELTRACE_TEST_DATABASE", "sqlite") == "postgres":
        return request.getfixturevalue("pg_server").new_database
    return lambda: None
