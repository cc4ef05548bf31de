"""Monitors: live sources the service follows, one thread each, with ``live.watch_source``
(the watch ``reeltrace watch`` runs), their events stored as they come.

Each event goes to ``ServiceDB.add_monitor_event``: the event log the API and the event
streams read, and for a reuse (start, updates, end) its one match row, inserted at its start
and rewritten in place as it grows. Then the monitor's event streams are woken
(``Listeners``). The reuses open now (``on_air``) are kept in memory: only a running watch
has them, and a watch started again begins with none.

Lifecycle: ``create`` starts a monitor; ``stop`` ends it at once (its open reuses end with
``end`` events, and whatever its thread says afterwards is dropped); a monitor whose source
ends, or fails for good, stops or fails by itself. When the service shuts down (``close``)
every thread is asked to stop and given ``MonitorConfig.stop_wait_s``; reuses still open
then are ended, and the monitors stay ``running`` in the database, so that the next start
(``start``) follows them again.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from ..live.tracker import LiveEvent, ReuseTracker
from ..live.watch import SourceState, WatchParams, watch_source
from .db import Account, Monitor, ServiceDB

log = logging.getLogger("reeltrace.service")

REUSE_EVENTS = ("start", "update", "end")


@dataclass(frozen=True)
class MonitorConfig:
    """How many monitors may run, and what they keep."""

    max_running: int = 16  # on the whole server: each runs its own decoder and model
    max_per_account: int = 4
    events_kept: int = 10_000  # per monitor: older events are deleted as new ones come
    keepalive_s: float = 15.0  # an event stream sends a comment when nothing else was sent for this long
    max_streams_per_account: int = 16  # open event streams of one account
    stop_wait_s: float = 5.0  # at shutdown, how long the threads get to end their sources
    source_networks: tuple[str, ...] = ()  # networks (CIDR) a source URL's host may be in besides public ones (``sources``)
    watch: WatchParams = field(default_factory=WatchParams)


def reuse_row(event: dict) -> dict:
    """The match row of a reuse event (``rows.MATCH_COLUMNS``): the stream is the query."""
    return {"work_id": event["work_id"], "title": event["title"], "owner": event["owner"],
            "modality": event["modality"], "match_score": event["score"], "query_start": event["stream_start"],
            "query_end": event["stream_end"], "work_start": event["work_start"], "work_end": event["work_end"],
            "score": event["score"]}  # fmt: skip


@dataclass
class MonitorRun:
    """One running monitor: its thread, its tracker state (shared with the thread, so that
    ``stop`` can end its reuses at once), and the reuses on air."""

    monitor: Monitor
    state: SourceState
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)  # held while an event is stored
    listening: bool = True  # False once stopped: what the thread emits after is dropped
    on_air: dict[int, dict] = field(default_factory=dict)  # match row id -> the reuse's last event
    rows: dict[int, int] = field(default_factory=dict)  # the watch's reuse number -> its match row id
    last_error: str | None = None
    thread: threading.Thread | None = None


class Listeners:
    """The open event streams of each monitor, woken (in their event loop) when one of its
    events is stored or its state changes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = {}
        self._per_account: Counter[int] = Counter()

    def count(self, account_id: int) -> int:
        with self._lock:
            return self._per_account[account_id]

    def add(self, monitor_id: str, account_id: int) -> asyncio.Event:
        """A wake-up for a stream of ``monitor_id``, in the running event loop."""
        entry = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            self._waiting.setdefault(monitor_id, set()).add(entry)
            self._per_account[account_id] += 1
        return entry[1]

    def remove(self, monitor_id: str, account_id: int, wake: asyncio.Event) -> None:
        with self._lock:
            waiting = self._waiting.get(monitor_id, set())
            waiting.difference_update({e for e in waiting if e[1] is wake})
            if not waiting:
                self._waiting.pop(monitor_id, None)
            self._per_account[account_id] -= 1

    def wake(self, monitor_id: str) -> None:
        with self._lock:
            waiting = list(self._waiting.get(monitor_id, ()))
        for loop, event in waiting:
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # its loop is closed: the server is going down
                pass


class Monitors:
    """The monitors of one service: their threads, their events, their reuses on air."""

    def __init__(self, folder: str, db: ServiceDB, config: MonitorConfig, model: str | None = None):
        self.folder = folder
        self.db = db
        self.config = config
        self.model = model
        self.listeners = Listeners()
        self._runs: dict[str, MonitorRun] = {}
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._adopter: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Follow again the monitors a previous server left running (oldest first, up to
        ``max_running``; the rest fail, saying why). On a shared database (several servers,
        ``db.ServiceDB.shared``) only those no live server follows, and from then on, every
        third of a lease, those whose server died or stopped (``adopt_monitors``): each
        monitor is followed by one server, whichever started it."""
        if self.db.shared:
            self._adopt()
            self._adopter = threading.Thread(target=self._adopt_loop, name="reeltrace-monitor-leases", daemon=True)
            self._adopter.start()
            return
        for monitor in self.db.adopt_monitors(limit=1 << 30):
            if len(self._runs) < self.config.max_running:
                self._launch(monitor)
            else:
                self.db.set_monitor_state(monitor.id, "failed", f"not started again: this server runs at most "
                                                                f"{self.config.max_running} monitors")  # fmt: skip

    def _adopt(self) -> None:
        """Take the orphaned monitors this server has room for, and let go of the ones
        another server stopped through its API (their state is no longer ``running``)."""
        with self._lock:
            mine = list(self._runs.values())
        for run in mine:
            now = self.db.monitor(run.monitor.id)
            if now is None or now.state != "running":
                self._let_go(run.monitor.id)
        for monitor in self.db.adopt_monitors(self.config.max_running - len(self._runs)):
            if not self._closing.is_set():
                self._launch(monitor)

    def _adopt_loop(self) -> None:
        while not self._closing.wait(self.db.lease_s / 3):
            try:
                self._adopt()
            except Exception:  # the database went away for a moment: the next beat tries again
                log.exception("monitors: adopting orphaned monitors failed")

    def _let_go(self, monitor_id: str) -> None:
        """Stop following a monitor here, without changing its state: its open reuses end
        (``end`` events, match rows closed), and what its thread says afterwards is dropped."""
        with self._lock:
            run = self._runs.pop(monitor_id, None)
        if run is not None:
            run.stop.set()
            with run.lock:
                run.listening = False
                for event in run.state.close():
                    self._store(run, event)
        self.listeners.wake(monitor_id)

    def create(self, acct: Account, source: str, name: str) -> Monitor:
        """A new monitor of ``acct``, running; ``db.MonitorLimit`` when too many run."""
        monitor = self.db.add_monitor(acct.id, name, source, self.config.max_running, self.config.max_per_account)
        self._launch(monitor)
        return monitor

    def stop(self, monitor_id: str) -> None:
        """Stop a monitor now: its open reuses end (``end`` events, match rows closed), and it
        is ``stopped``. Its thread may take a while to let go of its source; what it says
        meanwhile is dropped."""
        self._let_go(monitor_id)
        self.db.set_monitor_state(monitor_id, "stopped")
        self.listeners.wake(monitor_id)

    def remove(self, monitor_id: str) -> None:
        """Stop a monitor and delete it and its events (its match rows stay)."""
        self.stop(monitor_id)
        self.db.delete_monitor(monitor_id)
        self.listeners.wake(monitor_id)

    def close(self) -> None:
        """Service shutdown: every thread is asked to stop and given ``stop_wait_s`` (it ends
        its own reuses); those still open after are ended here. The monitors stay ``running``
        for the next start."""
        self._closing.set()
        with self._lock:
            runs = list(self._runs.values())
            self._runs.clear()
        for run in runs:
            run.stop.set()
        deadline = time.monotonic() + self.config.stop_wait_s
        for run in runs:
            if run.thread is not None:
                run.thread.join(max(deadline - time.monotonic(), 0.0))
        for run in runs:
            with run.lock:
                for event in run.state.close():
                    self._store(run, event)
                run.listening = False
            self.listeners.wake(run.monitor.id)

    # -- what the API shows ------------------------------------------------------------------

    def on_air(self, monitor_id: str) -> list[dict]:
        """The reuses open now (each its last event), in the order they started."""
        with self._lock:
            run = self._runs.get(monitor_id)
        if run is None:
            return []
        with run.lock:
            return sorted(run.on_air.values(), key=lambda e: e["stream_start"])

    # -- the threads -------------------------------------------------------------------------

    def _launch(self, monitor: Monitor) -> None:
        run = MonitorRun(monitor, SourceState(ReuseTracker(monitor.source, self.config.watch.tracker)))
        run.thread = threading.Thread(target=self._follow, args=(run,), name=f"reeltrace-monitor-{monitor.id}",
                                      daemon=True)  # fmt: skip
        with self._lock:
            self._runs[monitor.id] = run
        run.thread.start()

    def _follow(self, run: MonitorRun) -> None:
        error = None
        try:
            ok = watch_source(self.folder, run.monitor.source, lambda e: self._emit(run, e), run.stop,
                              self.config.watch, self.model, run.state)  # fmt: skip
            if not ok:
                error = run.last_error or "the source could not be read"
        except Exception as err:  # a bug must not pass unseen: the monitor fails, saying so
            log.exception("monitor %s failed", run.monitor.id)
            error = f"internal error: {type(err).__name__}: {err}"
        with run.lock:
            if run.stop.is_set() or not run.listening:
                return  # stopped, removed or shut down: whoever did it decided its state
            run.listening = False
        # The source ended (an HLS playlist or a file that stopped growing) or failed for good.
        with self._lock:
            if self._runs.get(run.monitor.id) is run:
                del self._runs[run.monitor.id]
        self.db.set_monitor_state(run.monitor.id, "failed" if error else "stopped", " ".join((error or "").split()) or None)
        self.listeners.wake(run.monitor.id)

    def _emit(self, run: MonitorRun, event: LiveEvent) -> None:
        """``watch_source``'s ``emit``: store the event, unless the monitor was stopped."""
        with run.lock:
            if not run.listening:
                return
            try:
                self._store(run, event)
            except Exception:  # an event lost is better than a watch killed
                log.exception("monitor %s: an event could not be stored", run.monitor.id)

    def _store(self, run: MonitorRun, event: LiveEvent) -> None:
        """Store one event (the caller holds ``run.lock``), keep ``on_air`` and wake the streams."""
        public = event.public()
        if event.event == "error":
            run.last_error = event.message
        match = None
        if event.event in REUSE_EVENTS:
            # The API names a reuse by its match row, unique on the server; the watch numbers
            # them per source. A start inserts the row (no ``reuse`` yet), the rest rewrite it.
            match = reuse_row(public)
            public["reuse"] = run.rows.get(event.reuse) if event.event != "start" else None
        stored = self.db.add_monitor_event(run.monitor, public, self.config.events_kept, match)
        if event.event == "start":
            run.rows[event.reuse] = stored["reuse"]
        if match is not None:
            run.on_air.pop(stored["reuse"], None)
            if event.event != "end":
                run.on_air[stored["reuse"]] = stored
        self.listeners.wake(run.monitor.id)
