"""One SQLite database file: the plumbing the library's store and the service's database share.

WAL journal, so readers never wait for a writer; one connection per thread, because a
``sqlite3`` connection carries its transaction state and two threads must not interleave
statements on one; write transactions begin ``IMMEDIATE``, taking the write lock up front
so that a transaction never fails half-way on a lock it could not upgrade to.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

BUSY_SECONDS = 60.0  # how long one statement waits for a lock before SQLite gives up
LOCK_ATTEMPTS = 600  # BEGIN IMMEDIATE attempts, 0.1 s apart, beyond the busy wait
"""SQLite answers "locked" or "busy" without waiting in a few cases (WAL recovery by another
process, for one); retrying the BEGIN covers them."""


class DatabaseLocked(Exception):
    """The write lock stayed taken by another connection for every attempt."""


class DatabaseUnavailable(Exception):
    """A database server cannot be reached (``storage.postgres``): one line, no password."""


class Database:
    """The SQLite file at ``path``, with ``schema`` (``CREATE ... IF NOT EXISTS`` statements)
    applied when it is opened.

    ``on_open(database)`` runs in the same transaction as the schema, so that a version
    check or first-time metadata is written together with the tables, or not at all.
    ``locked()`` makes the exception raised when the write lock cannot be had.
    Safe to share between threads: each gets its own connection.

    ``storage.postgres.Database`` has the same interface (what differs is said there); the
    attributes below are what callers consult where the two differ.
    """

    dialect = "sqlite"
    shared = False
    """One process at a time writes the file: the service runs one server per library."""
    skip_locked = ""
    """Appended to a ``SELECT`` whose rows the transaction will update (PostgreSQL: ``FOR UPDATE
    SKIP LOCKED``); nothing here, where a write transaction holds the whole file."""
    clock = "((julianday('now') - 2440587.5) * 86400.0)"
    """An SQL expression: the time now, in seconds since the epoch."""
    IntegrityError = sqlite3.IntegrityError

    def __init__(
        self,
        path: str,
        schema: str,
        *,
        on_open: Callable[[Database], None] | None = None,
        locked: Callable[[], Exception] | None = None,
    ):
        self.path = path
        self._locked = locked or (lambda: DatabaseLocked(f"{path} is locked by another process"))
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self.connection.execute("PRAGMA journal_mode=WAL")  # a property of the file: once is enough
        with self.transaction() as db:
            for statement in schema.split(";"):
                if statement.strip():
                    db.execute(statement)
            if on_open is not None:
                on_open(self)

    @property
    def connection(self) -> sqlite3.Connection:
        """This thread's connection (autocommit: transactions are explicit)."""
        db = getattr(self._local, "db", None)
        if db is None:
            # check_same_thread=False only so that close() may close every thread's connection.
            db = sqlite3.connect(self.path, timeout=BUSY_SECONDS, isolation_level=None, check_same_thread=False)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA foreign_keys=ON")
            self._local.db = db
            with self._lock:
                self._connections.append(db)
        return db

    def execute(self, sql: str, parameters: tuple | list = ()) -> sqlite3.Cursor:
        """One statement on this thread's connection."""
        return self.connection.execute(sql, parameters)

    def insert(self, tx: sqlite3.Connection, sql: str, parameters: tuple | list = (), key: str = "id") -> int:
        """An ``INSERT`` of one row in ``tx``; the new row's ``key`` (its INTEGER PRIMARY KEY)."""
        return tx.execute(sql, parameters).lastrowid

    def columns(self, table: str) -> list[str]:
        return [r["name"] for r in self.execute(f"PRAGMA table_info({table})")]

    def has_table(self, table: str) -> bool:
        return bool(self.columns(table))

    @staticmethod
    def ddl(statement: str) -> str:
        """A schema statement as this database takes it (the schemas are written for SQLite)."""
        return statement

    def close(self) -> None:
        """Close every thread's connection; a later use opens a new one."""
        with self._lock:
            for db in self._connections:
                try:
                    db.close()
                except sqlite3.Error:
                    pass
            self._connections.clear()
        self._local = threading.local()

    @contextmanager
    def transaction(self, exclusive: str | None = None) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on any exception), retried while another
        connection holds the write lock. ``exclusive`` (PostgreSQL: transactions of one name
        never overlap) changes nothing here: every write transaction holds the file."""
        db = self.connection
        for _ in range(LOCK_ATTEMPTS):
            try:
                db.execute("BEGIN IMMEDIATE")
                break
            except sqlite3.OperationalError as err:
                if "locked" not in str(err) and "busy" not in str(err):
                    raise
                time.sleep(0.1)
        else:
            raise self._locked()
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        else:
            db.execute("COMMIT")

    @contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: every statement inside sees the same state of the file."""
        db = self.connection
        db.execute("BEGIN")
        try:
            yield db
        finally:
            db.execute("COMMIT")

    # -- meta: for schemas with a ``meta(key TEXT PRIMARY KEY, value TEXT)`` table --------

    def meta(self, key: str) -> str | None:
        row = self.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.execute("INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)", (key, value))
