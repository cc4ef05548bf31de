"""The service's own database: accounts, the job queue, scan results, match records, and
the live-stream monitors with their events.

By default one SQLite file (``service.sqlite``, WAL) next to the library's
``library.sqlite``; every thread gets its own connection, and writes that must happen
together (a job finishing with its result and its match rows) happen in one ``BEGIN
IMMEDIATE`` transaction. Given a ``postgresql://`` URL instead, the same tables live in
PostgreSQL (``storage.postgres``), shared by several service processes: the statements
here are the SQL both accept, and ``Database`` says where they differ (``insert``,
``skip_locked``, ``clock``, ``shared``).

Job queue semantics
-------------------
``queued -> running -> done | failed``. A worker claims the oldest queued job in one
transaction (so two workers never claim the same job; on PostgreSQL the row is taken
``FOR UPDATE SKIP LOCKED``, so workers of other processes pass over it), bumping
``attempts`` and writing who holds it (``claimed_by``: this ``ServiceDB``'s ``instance``)
and until when (``lease_until``, on the database's clock). It finishes the job with a
guarded update (``WHERE status='running' AND attempts=<its attempt>``), so a stale worker
can never complete a job twice.

Jobs of a server that died: on SQLite (one server per file) the next start puts every
``running`` job back in the queue. On a shared database a start must not take the jobs of
the other live servers, so each server renews the leases of the jobs it holds every third
of ``lease_s``, and a job is put back only once its lease has run out (checked when a worker
asks for work, every third of a lease at most); a server that stops gives its leases up at
once. Either way a job interrupted ``MAX_ATTEMPTS`` times fails instead.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import socket
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone

from ..storage import databases
from .rightsdb import SCHEMA as RIGHTS_SCHEMA
from .rightsdb import RightsTables
from .rows import MATCH_COLUMNS, insert_match, select

ROLES = ("admin", "owner", "scanner")
MONITOR_PREFIX = "m-"
"""Monitor ids are ``m-`` + 12 random hex digits. A monitor's reuses are match rows whose
``scan_id`` is the monitor's id (scans' ids start ``s-``)."""
MAX_ATTEMPTS = 3
LEASE_S = 60.0
"""How long a claimed job stays its server's without a renewal (``ServiceDB(lease_s=...)``,
``serve --job-lease-s``): on a shared database, a job of a server that died runs again this
long after its last renewal."""
TOKEN_PREFIX = "rt_"
RECORD_KEY = "record"
"""The key of a scan's lossless record inside the stored result (the ``result`` column keeps
its place in the schema); ``Job.result`` never holds it. Jobs stored before records were
kept have none."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    owner_name TEXT NOT NULL DEFAULT '',
    token_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS work_accounts (
    work_id TEXT PRIMARY KEY,
    account_id INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    account_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    params TEXT NOT NULL,
    result TEXT,
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    claimed_by TEXT,
    lease_until REAL
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status, seq);
CREATE INDEX IF NOT EXISTS jobs_account ON jobs(account_id, kind, seq);
CREATE TABLE IF NOT EXISTS matches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    scan_id TEXT NOT NULL,
    scan_account_id INTEGER NOT NULL,
    query_name TEXT NOT NULL,
    work_id TEXT NOT NULL,
    title TEXT NOT NULL,
    owner TEXT NOT NULL,
    modality TEXT NOT NULL,
    match_score REAL NOT NULL,
    query_start REAL NOT NULL,
    query_end REAL NOT NULL,
    work_start REAL NOT NULL,
    work_end REAL NOT NULL,
    score REAL NOT NULL,
    found_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS matches_work ON matches(work_id);
CREATE TABLE IF NOT EXISTS work_ids (
    work_id TEXT PRIMARY KEY,
    job_id TEXT NOT NULL,
    state TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS matches_scan ON matches(scan_id);
CREATE TABLE IF NOT EXISTS monitors (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    account_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    source TEXT NOT NULL,
    state TEXT NOT NULL,
    error TEXT,
    created_at TEXT NOT NULL,
    stopped_at TEXT,
    claimed_by TEXT,
    lease_until REAL
);
CREATE INDEX IF NOT EXISTS monitors_state ON monitors(state, account_id);
CREATE TABLE IF NOT EXISTS monitor_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    monitor_id TEXT NOT NULL,
    event TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS monitor_events_monitor ON monitor_events(monitor_id, seq);
"""


_NEW_COLUMNS = {"jobs": (("claimed_by", "TEXT"), ("lease_until", "REAL")),
                "monitors": (("claimed_by", "TEXT"), ("lease_until", "REAL"))}
"""Columns added since the first schema: a service.sqlite made before them gets them."""

log = logging.getLogger("reeltrace.service")


def _migrate(database) -> None:
    for table, columns in _NEW_COLUMNS.items():
        have = set(database.columns(table))
        for name, kind in columns:
            if name not in have:
                database.execute(database.ddl(f"ALTER TABLE {table} ADD COLUMN {name} {kind}"))


def open_database(target: str, schema: str, on_open=None):
    """``target``'s database (``storage.databases``); ServiceError without psycopg."""
    try:
        return databases.open_database(target, schema, on_open=on_open)
    except databases.MissingExtra as err:
        raise ServiceError(str(err)) from None


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    """A fresh API token: 32 random bytes, URL-safe."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Account:
    id: int
    name: str
    role: str
    owner_name: str
    created_at: str

    @property
    def display_owner(self) -> str:
        """The owner name written on works this account registers."""
        return self.owner_name or self.name

    def to_dict(self) -> dict:
        return {"id": self.id, "name": self.name, "role": self.role, "owner_name": self.display_owner,
                "created_at": self.created_at}  # fmt: skip


@dataclass(frozen=True)
class Job:
    id: str
    kind: str  # "register" | "scan"
    account_id: int
    name: str  # what the user submitted (file name or path)
    status: str  # queued | running | done | failed
    params: dict
    result: dict | None
    error: str | None
    attempts: int
    created_at: str
    started_at: str | None
    finished_at: str | None
    seq: int = 0
    record: dict | None = None  # a scan's lossless ``ScanResult.to_dict()``; None before it was kept
    claimed_by: str | None = None  # the ``ServiceDB.instance`` of the server that ran (or runs) its last attempt

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "kind": self.kind,
            "name": self.name,
            "status": self.status,
            "error": self.error,
            "attempts": self.attempts,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
        }


@dataclass(frozen=True)
class Monitor:
    """A live source followed by the service (``monitors.Monitors`` runs it)."""

    id: str
    account_id: int
    name: str
    source: str  # as it is opened: a URL, or the real path of an allowed server file
    state: str  # running | stopped | failed
    error: str | None
    created_at: str
    stopped_at: str | None

    def to_dict(self) -> dict:
        return {"id": self.id, "name": self.name, "source": self.source, "state": self.state, "error": self.error,
                "created_at": self.created_at, "stopped_at": self.stopped_at}  # fmt: skip


def _account(row) -> Account:
    return Account(row["id"], row["name"], row["role"], row["owner_name"], row["created_at"])


def _job(row) -> Job:
    stored = json.loads(row["result"]) if row["result"] else None
    record = stored.pop(RECORD_KEY, None) if stored is not None else None
    return Job(
        id=row["id"],
        kind=row["kind"],
        account_id=row["account_id"],
        name=row["name"],
        status=row["status"],
        params=json.loads(row["params"]),
        result=stored,
        error=row["error"],
        attempts=row["attempts"],
        created_at=row["created_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        seq=row["seq"],
        record=record,
        claimed_by=row["claimed_by"],
    )


def _monitor(row) -> Monitor:
    return Monitor(row["id"], row["account_id"], row["name"], row["source"], row["state"], row["error"],
                   row["created_at"], row["stopped_at"])  # fmt: skip


class ServiceError(Exception):
    pass


class MonitorLimit(ServiceError):
    """A monitor cannot start: as many are running as the service allows (overall or for the
    account)."""


_SET_WORK_ACCOUNT = ("INSERT INTO work_accounts (work_id, account_id) VALUES (?, ?) "
                     "ON CONFLICT(work_id) DO UPDATE SET account_id = excluded.account_id")  # fmt: skip

class ServiceDB:
    """The service's tables over one ``Database``: the SQLite file at ``path`` (one
    connection per thread), or the PostgreSQL database ``path`` names (``postgresql://...``,
    a pool of connections). ``lease_s``: see ``LEASE_S``."""

    def __init__(self, path: str, lease_s: float | None = None):
        self.database = open_database(path, _SCHEMA + RIGHTS_SCHEMA, on_open=_migrate)
        self.path = getattr(self.database, "path", path)  # a URL without its password
        self.rights = RightsTables(self.database)
        self.lease_s = float(lease_s) if lease_s else LEASE_S
        self.instance = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        """Who claims this object's jobs (``jobs.claimed_by``): host, process, and a random
        part, since a restarted process may get the same id."""
        self._closing = threading.Event()
        self._lease_keeper: threading.Thread | None = None
        self._lease_lock = threading.Lock()
        self._next_expiry_check = 0.0

    @property
    def shared(self) -> bool:
        """Whether other service processes may use the same database (PostgreSQL)."""
        return self.database.shared

    def close(self) -> None:
        self._closing.set()
        with self._lease_lock:
            keeper, self._lease_keeper = self._lease_keeper, None
        if keeper is not None:
            keeper.join(10)
            try:  # the jobs this server leaves running are another server's to take, now
                self.give_up_leases()
            except Exception:
                log.exception("job queue: could not give up the leases of %s", self.instance)
        self.database.close()

    # -- accounts ----------------------------------------------------------------------------

    def create_account(self, name: str, role: str, owner_name: str = "", token: str | None = None) -> tuple[Account, str]:
        """A new account and its token (shown once: only its hash is stored)."""
        if role not in ROLES:
            raise ServiceError(f"unknown role {role!r}; choose from {', '.join(ROLES)}")
        token = token or new_token()
        try:
            with self.database.transaction() as tx:
                new_id = self.database.insert(
                    tx,
                    "INSERT INTO accounts (name, role, owner_name, token_hash, created_at) VALUES (?, ?, ?, ?, ?)",
                    (name, role, owner_name, hash_token(token), now()),
                )
                row = tx.execute("SELECT * FROM accounts WHERE id = ?", (new_id,)).fetchone()
        except self.database.IntegrityError:
            raise ServiceError(f"an account named {name!r} already exists") from None
        return _account(row), token

    def set_token(self, account_id: int, token: str | None = None) -> str:
        token = token or new_token()
        with self.database.transaction() as tx:
            tx.execute("UPDATE accounts SET token_hash = ? WHERE id = ?", (hash_token(token), account_id))
        return token

    def account_by_token(self, token: str) -> Account | None:
        if not token:
            return None
        row = self.database.execute("SELECT * FROM accounts WHERE token_hash = ?", (hash_token(token),)).fetchone()
        return _account(row) if row else None

    def account(self, account_id: int) -> Account | None:
        row = self.database.execute("SELECT * FROM accounts WHERE id = ?", (account_id,)).fetchone()
        return _account(row) if row else None

    def account_by_name(self, name: str) -> Account | None:
        row = self.database.execute("SELECT * FROM accounts WHERE name = ?", (name,)).fetchone()
        return _account(row) if row else None

    def accounts(self) -> list[Account]:
        return [_account(r) for r in self.database.execute("SELECT * FROM accounts ORDER BY id")]

    def delete_account(self, account_id: int) -> None:
        with self.database.transaction() as tx:
            tx.execute("DELETE FROM accounts WHERE id = ?", (account_id,))

    def has_admin(self) -> bool:
        return self.database.execute("SELECT 1 FROM accounts WHERE role = 'admin' LIMIT 1").fetchone() is not None

    # -- work attribution --------------------------------------------------------------------

    def set_work_account(self, work_id: str, account_id: int) -> None:
        with self.database.transaction() as tx:
            tx.execute(_SET_WORK_ACCOUNT, (work_id, account_id))

    def clear_work_account(self, work_id: str) -> None:
        with self.database.transaction() as tx:
            tx.execute("DELETE FROM work_accounts WHERE work_id = ?", (work_id,))

    def work_account(self, work_id: str) -> int | None:
        row = self.database.execute("SELECT account_id FROM work_accounts WHERE work_id = ?", (work_id,)).fetchone()
        return row[0] if row else None

    def work_accounts(self) -> dict[str, int]:
        return {r[0]: r[1] for r in self.database.execute("SELECT work_id, account_id FROM work_accounts")}

    def forget_work(self, work_id: str) -> None:
        """A work was removed: its attribution and match rows go, and its id is tombstoned
        (never registered again through the service)."""
        with self.database.transaction() as tx:
            tx.execute("DELETE FROM work_accounts WHERE work_id = ?", (work_id,))
            tx.execute("DELETE FROM matches WHERE work_id = ?", (work_id,))
            tx.execute("INSERT INTO work_ids (work_id, job_id, state) VALUES (?, '', 'deleted') "
                       "ON CONFLICT(work_id) DO UPDATE SET state = 'deleted'", (work_id,))  # fmt: skip

    # -- work ids: reservations and tombstones ---------------------------------------------
    #
    # A register job reserves its work id when it is submitted (state 'reserved', with the
    # job's id), the job marks it 'registered' once the work is in the library, and deleting
    # the work leaves it 'deleted' for good. So an id is never handed to a second holder
    # (what scans found of the first must never reach the second), and a job re-run after a
    # crash recognises the work it registered by its reservation, which only it holds.

    def work_id_holder(self, work_id: str) -> tuple[str, str] | None:
        """(job id, state) of the reservation or tombstone of ``work_id``; None when unused."""
        row = self.database.execute("SELECT job_id, state FROM work_ids WHERE work_id = ?", (work_id,)).fetchone()
        return (row[0], row[1]) if row else None

    def work_registered(self, work_id: str, job_id: str, account_id: int | None) -> None:
        """The job holding ``work_id`` registered it: its reservation becomes the work's, and
        the work is attributed to ``account_id`` (None: to no account, admin only)."""
        with self.database.transaction() as tx:
            tx.execute("UPDATE work_ids SET state = 'registered' WHERE work_id = ? AND job_id = ?", (work_id, job_id))
            # Rows a scan wrote under this id before it was registered cannot be about this
            # work (a scan matches only works in the library): never show them to its holder.
            tx.execute("DELETE FROM matches WHERE work_id = ?", (work_id,))
            if account_id is not None:
                tx.execute(_SET_WORK_ACCOUNT, (work_id, account_id))

    def release_work_id(self, work_id: str, job_id: str) -> None:
        """Give back an id the job reserved but did not register (it failed or found its
        content already in the library)."""
        with self.database.transaction() as tx:
            tx.execute("DELETE FROM work_ids WHERE work_id = ? AND job_id = ? AND state = 'reserved'", (work_id, job_id))

    # -- jobs --------------------------------------------------------------------------------

    def add_job(self, kind: str, account_id: int, name: str, params: dict, work_id: str | None = None) -> Job | None:
        """Queue a job. With ``work_id`` (a register job), the id is reserved for it in the
        same transaction; None when the id was ever used."""
        job_id = ("s-" if kind == "scan" else "r-") + secrets.token_hex(6)
        with self.database.transaction() as tx:
            if work_id is not None:
                # Nothing inserted: the id is reserved, registered or deleted already (or
                # being reserved by another transaction, which this one waited for).
                taken = tx.execute("INSERT INTO work_ids (work_id, job_id, state) VALUES (?, ?, 'reserved') "
                                   "ON CONFLICT(work_id) DO NOTHING", (work_id, job_id)).rowcount != 1  # fmt: skip
                if taken:
                    return None
            tx.execute(
                "INSERT INTO jobs (id, kind, account_id, name, status, params, created_at) VALUES (?, ?, ?, ?, 'queued', ?, ?)",
                (job_id, kind, account_id, name, json.dumps(params), now()),
            )
        return self.job(job_id)

    def job(self, job_id: str) -> Job | None:
        row = self.database.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return _job(row) if row else None

    def jobs(self, kind: str | None = None, account_id: int | None = None, limit: int = 200) -> list[Job]:
        sql, args = select("jobs", {"kind": kind or None, "account_id": account_id}, "seq DESC", limit)
        return [_job(r) for r in self.database.execute(sql, args)]

    def claim_job(self) -> Job | None:
        """Atomically take the oldest queued job; it becomes ``running`` with attempts+1,
        held by this ``instance`` for ``lease_s`` (renewed while this object is open)."""
        if self.shared and time.monotonic() >= self._next_expiry_check:
            self._next_expiry_check = time.monotonic() + self.lease_s / 3
            requeued, failed = self.requeue_running()
            if requeued or failed:
                log.warning("job queue: %d job(s) whose server stopped renewing their lease queued again, %d given up",
                            requeued, failed)  # fmt: skip
        with self.database.transaction() as tx:
            row = tx.execute("SELECT seq FROM jobs WHERE status = 'queued' ORDER BY seq LIMIT 1"
                             + self.database.skip_locked).fetchone()  # fmt: skip
            if row is None:
                return None
            tx.execute(
                "UPDATE jobs SET status = 'running', attempts = attempts + 1, started_at = ?, error = NULL, "
                f"claimed_by = ?, lease_until = {self.database.clock} + ? WHERE seq = ?",
                (now(), self.instance, self.lease_s, row[0]),
            )
            job = _job(tx.execute("SELECT * FROM jobs WHERE seq = ?", (row[0],)).fetchone())
        if self.shared:
            self._keep_leases()
        return job

    # -- leases (a shared database) -----------------------------------------------------------

    def _keep_leases(self) -> None:
        """Start, once, the thread that renews this instance's leases until ``close``."""
        with self._lease_lock:
            if self._lease_keeper is None and not self._closing.is_set():
                self._lease_keeper = threading.Thread(target=self._renew_loop, name="reeltrace-job-leases", daemon=True)
                self._lease_keeper.start()

    def _renew_loop(self) -> None:
        while not self._closing.wait(self.lease_s / 3):
            try:
                self.renew_leases()
            except Exception:  # the database went away for a moment: the next beat tries again
                log.exception("job queue: lease renewal failed")

    def renew_leases(self) -> int:
        """Extend the lease of every job this instance runs and every monitor it follows; how many."""
        with self.database.transaction() as tx:
            jobs = tx.execute(f"UPDATE jobs SET lease_until = {self.database.clock} + ? "
                              "WHERE claimed_by = ? AND status = 'running'", (self.lease_s, self.instance)).rowcount  # fmt: skip
            return jobs + tx.execute(f"UPDATE monitors SET lease_until = {self.database.clock} + ? "
                                     "WHERE claimed_by = ? AND state = 'running'", (self.lease_s, self.instance)).rowcount  # fmt: skip

    def give_up_leases(self) -> int:
        """End the leases of the jobs this instance leaves running and the monitors it
        follows (it stops): any server may take them at once; how many."""
        with self.database.transaction() as tx:
            jobs = tx.execute(f"UPDATE jobs SET lease_until = {self.database.clock} - 1 "
                              "WHERE claimed_by = ? AND status = 'running'", (self.instance,)).rowcount  # fmt: skip
            return jobs + tx.execute(f"UPDATE monitors SET lease_until = {self.database.clock} - 1 "
                                     "WHERE claimed_by = ? AND state = 'running'", (self.instance,)).rowcount  # fmt: skip

    def finish_job(
        self,
        job: Job,
        result: dict | None,
        error: str | None,
        matches: list[dict] | None = None,
        record: dict | None = None,
    ) -> bool:
        """Complete a claimed job once. False when the claim is no longer current.

        ``result`` is what the API shows; ``record``, a scan's lossless result, is kept
        beside it (see ``RECORD_KEY``)."""
        stored = result
        if result is not None and record is not None:
            stored = {**result, RECORD_KEY: record}
        with self.database.transaction() as tx:
            cur = tx.execute(
                "UPDATE jobs SET status = ?, result = ?, error = ?, finished_at = ? "
                "WHERE id = ? AND status = 'running' AND attempts = ?",
                ("failed" if error else "done", json.dumps(stored) if stored is not None else None, error, now(),
                 job.id, job.attempts),
            )  # fmt: skip
            if cur.rowcount != 1:
                return False
            found = now()
            for m in matches or []:
                insert_match(self.database, tx, job.id, job.account_id, job.name, m, found)
        return True

    def requeue_running(self) -> tuple[int, int]:
        """Jobs a dead server left running go back to the queue, or fail after
        ``MAX_ATTEMPTS`` (requeued, failed). On SQLite (run at start; one server per file)
        every running job; on a shared database those whose lease has run out (never a job
        another live server runs)."""
        orphaned = "status = 'running'"
        if self.shared:
            orphaned += f" AND (lease_until IS NULL OR lease_until < {self.database.clock})"
        with self.database.transaction() as tx:
            failed = tx.execute(
                f"UPDATE jobs SET status = 'failed', finished_at = ?, error = ? WHERE {orphaned} AND attempts >= ?",
                (now(), f"interrupted {MAX_ATTEMPTS} times; given up", MAX_ATTEMPTS),
            ).rowcount
            requeued = tx.execute(f"UPDATE jobs SET status = 'queued' WHERE {orphaned}").rowcount
        return requeued, failed

    # -- matches -----------------------------------------------------------------------------

    def matches(
        self,
        work_ids: list[str] | None = None,
        scan_id: str | None = None,
        scan_account_id: int | None = None,
        owner: str | None = None,
        limit: int = 5000,
    ) -> list[dict]:
        """Match rows (one per segment), newest first. ``work_ids=[]`` matches nothing."""
        if work_ids is not None and not work_ids:
            return []
        equal = {"scan_id": scan_id, "scan_account_id": scan_account_id, "owner": owner}
        sql, args = select("matches", equal, "id DESC", limit, work_id=work_ids)
        return [dict(r) for r in self.database.execute(sql, args)]

    # -- monitors ----------------------------------------------------------------------------
    #
    # A monitor's events are rows of ``monitor_events`` (the event's JSON, in order of
    # ``seq``); only the last ``keep`` of each monitor are kept, so that a monitor that runs
    # for days uses bounded disk (and a stream that replays them, bounded work). Each reuse
    # (start, updates, end) is also one row of ``matches``, written with the event that
    # changes it: works' pages and the match APIs show live reuses with the same visibility
    # rules as scan matches.

    def add_monitor(self, account_id: int, name: str, source: str, max_running: int, max_per_account: int) -> Monitor:
        """A new ``running`` monitor; MonitorLimit when ``max_running`` monitors already run,
        or ``max_per_account`` of the account's (counted in the same transaction as the
        insert, so that two requests at once cannot both pass)."""
        monitor_id = MONITOR_PREFIX + secrets.token_hex(6)
        with self.database.transaction(exclusive="monitors") as tx:
            running = tx.execute("SELECT COUNT(*) FROM monitors WHERE state = 'running'").fetchone()[0]
            if running >= max_running:
                raise MonitorLimit(f"too many running monitors: this server runs at most {max_running}")
            mine = tx.execute("SELECT COUNT(*) FROM monitors WHERE state = 'running' AND account_id = ?",
                              (account_id,)).fetchone()[0]  # fmt: skip
            if mine >= max_per_account:
                raise MonitorLimit(f"too many running monitors: an account may run at most {max_per_account}")
            tx.execute("INSERT INTO monitors (id, account_id, name, source, state, created_at, claimed_by, lease_until) "
                       f"VALUES (?, ?, ?, ?, 'running', ?, ?, {self.database.clock} + ?)",
                       (monitor_id, account_id, name, source, now(), self.instance, self.lease_s))  # fmt: skip
        if self.shared:
            self._keep_leases()
        return self.monitor(monitor_id)

    def adopt_monitors(self, limit: int) -> list[Monitor]:
        """Take up to ``limit`` running monitors that no live server follows, oldest first,
        and hold them as this instance's (their leases renewed with the jobs'). On SQLite
        (one server per file, run at start) every running monitor is such; on a shared
        database only those whose lease has run out (their server died or stopped): never
        one another live server follows, which would store its events twice."""
        orphaned = "state = 'running'"
        if self.shared:
            orphaned += f" AND (claimed_by IS NULL OR lease_until IS NULL OR lease_until < {self.database.clock})"
        taken = []
        with self.database.transaction(exclusive="monitors") as tx:
            rows = tx.execute(f"SELECT id FROM monitors WHERE {orphaned} ORDER BY seq LIMIT ?", (max(limit, 0),)).fetchall()
            for row in rows:
                tx.execute(f"UPDATE monitors SET claimed_by = ?, lease_until = {self.database.clock} + ? WHERE id = ?",
                           (self.instance, self.lease_s, row[0]))  # fmt: skip
                taken.append(row[0])
        if taken and self.shared:
            self._keep_leases()
        return [m for m in (self.monitor(i) for i in taken) if m is not None]

    def running_monitors(self) -> int:
        """How many monitors run on the whole database (every server's)."""
        return self.database.execute("SELECT COUNT(*) FROM monitors WHERE state = 'running'").fetchone()[0]

    def monitor(self, monitor_id: str) -> Monitor | None:
        row = self.database.execute("SELECT * FROM monitors WHERE id = ?", (monitor_id,)).fetchone()
        return _monitor(row) if row else None

    def monitors(self, account_id: int | None = None, state: str | None = None, limit: int = 500) -> list[Monitor]:
        """Monitors, newest first."""
        sql, args = select("monitors", {"account_id": account_id, "state": state}, "seq DESC", limit)
        return [_monitor(r) for r in self.database.execute(sql, args)]

    def set_monitor_state(self, monitor_id: str, state: str, error: str | None = None) -> bool:
        """A running monitor stops (``stopped``) or fails (``failed``, with ``error``); False
        when it was not running (another thread decided first)."""
        with self.database.transaction() as tx:
            cur = tx.execute("UPDATE monitors SET state = ?, error = ?, stopped_at = ? WHERE id = ? AND state = 'running'",
                             (state, error, now(), monitor_id))  # fmt: skip
        return cur.rowcount == 1

    def delete_monitor(self, monitor_id: str) -> None:
        """The monitor and its events go; the reuses it found stay as match rows (they are
        the works' owners' record of where their works were on air, as scans' matches are)."""
        with self.database.transaction() as tx:
            tx.execute("DELETE FROM monitor_events WHERE monitor_id = ?", (monitor_id,))
            tx.execute("DELETE FROM monitors WHERE id = ?", (monitor_id,))

    def add_monitor_event(self, monitor: Monitor, event: dict, keep: int, match: dict | None = None) -> dict:
        """Store one event of ``monitor``; the event as stored, with its ``seq``.

        ``match`` (``MATCH_COLUMNS``), for a reuse event: a start (no ``reuse`` in
        ``event``) inserts the reuse's match row, and its id becomes the event's ``reuse``;
        an update or an end rewrites the row ``event["reuse"]`` in place (a row deleted
        meanwhile with its work stays deleted). The events of ``monitor`` beyond the last
        ``keep`` are deleted in the same transaction."""
        stored = dict(event)
        with self.database.transaction() as tx:
            if match is not None and stored.get("reuse") is None:
                stored["reuse"] = insert_match(self.database, tx, monitor.id, monitor.account_id, monitor.name, match, now())
            elif match is not None:
                tx.execute("UPDATE matches SET " + ", ".join(f"{c} = ?" for c in MATCH_COLUMNS) + " WHERE id = ? AND scan_id = ?",
                           (*(match[c] for c in MATCH_COLUMNS), stored["reuse"], monitor.id))  # fmt: skip
            seq = self.database.insert(tx, "INSERT INTO monitor_events (monitor_id, event, created_at) VALUES (?, ?, ?)",
                                       (monitor.id, json.dumps(stored), now()), key="seq")  # fmt: skip
            tx.execute("DELETE FROM monitor_events WHERE monitor_id = ? AND seq <= (SELECT seq FROM monitor_events "
                       "WHERE monitor_id = ? ORDER BY seq DESC LIMIT 1 OFFSET ?)", (monitor.id, monitor.id, keep))  # fmt: skip
        return {**stored, "seq": seq}

    def monitor_events(self, monitor_id: str, after: int = 0, limit: int = 500, since: str | None = None) -> list[dict]:
        """The events of a monitor after ``seq`` ``after`` (and stored at or after the time
        ``since``), oldest first, each with its ``seq``."""
        sql = "SELECT seq, event FROM monitor_events WHERE monitor_id = ? AND seq > ?"
        args: list = [monitor_id, after]
        if since is not None:
            sql += " AND created_at >= ?"
            args.append(since)
        rows = self.database.execute(sql + " ORDER BY seq LIMIT ?", [*args, limit])
        return [{**json.loads(event), "seq": seq} for seq, event in rows]

    def monitor_counts(self, monitor_id: str) -> dict:
        """How many events of a monitor are kept, the last one's ``seq``, and how many reuses
        it found (its match rows)."""
        events, last = self.database.execute("SELECT COUNT(*), COALESCE(MAX(seq), 0) FROM monitor_events "
                                             "WHERE monitor_id = ?", (monitor_id,)).fetchone()  # fmt: skip
        reuses = self.database.execute("SELECT COUNT(*) FROM matches WHERE scan_id = ?", (monitor_id,)).fetchone()[0]
        return {"events": events, "last_seq": last, "reuses": reuses}
