"""A monitor's events as server-sent events (``text/event-stream``), for the console's
``EventSource`` and any HTTP client.

Each stored event is one message, ``id: <seq>`` and ``data: <the event's JSON>`` (the JSON
of ``GET /api/monitors/{id}/events``). A client that reconnects sends the last id it saw as
``Last-Event-ID`` (browsers do) or ``?after=``, and gets what it missed. When nothing was
sent for ``keepalive_s``, a comment line (``: keep-alive``) is: proxies keep the connection
open, and a client gone away is noticed. Once the monitor is no longer running, the events
left are sent, then one ``event: state`` message (``{"state", "error"}``) that tells the
client not to reconnect, and the stream ends. It also ends when the caller's token stops
working or the monitor is deleted.

The stream runs in the event loop and never blocks it: database reads go to worker
threads, and the runner wakes the stream (``monitors.Listeners``) when it stores an event.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable

from anyio import to_thread

from .db import Monitor, ServiceDB
from .monitors import Listeners

BATCH = 500  # events read (and sent) at a time
RETRY_MS = 3000  # how long a browser waits before it reconnects


def message(event: dict) -> str:
    """One stored event as an SSE message (JSON holds no line breaks)."""
    return f"id: {event['seq']}\ndata: {json.dumps(event, ensure_ascii=False)}\n\n"


def state_message(monitor: Monitor) -> str:
    return f"event: state\ndata: {json.dumps({'state': monitor.state, 'error': monitor.error})}\n\n"


async def monitor_stream(db: ServiceDB, listeners: Listeners, monitor_id: str, account_id: int, after: int,
                         visible: Callable[[], Monitor | None], keepalive_s: float) -> AsyncIterator[str]:  # fmt: skip
    """The stream of ``monitor_id``'s events after ``seq`` ``after``. ``visible()`` gives the
    monitor while the caller may still read it (its token works, the monitor exists), else
    None; it is asked again before every read."""
    wake = listeners.add(monitor_id, account_id)
    try:
        yield f"retry: {RETRY_MS}\n\n"
        while True:
            wake.clear()  # before reading: an event stored from now on wakes the wait below
            monitor = await to_thread.run_sync(visible)
            if monitor is None:
                return
            # The state is read before the events: a monitor seen stopped has stored all of its.
            events = await to_thread.run_sync(db.monitor_events, monitor_id, after, BATCH)
            if events:
                after = events[-1]["seq"]
                yield "".join(message(e) for e in events)
            if len(events) == BATCH:
                continue
            if monitor.state != "running":
                yield state_message(monitor)
                return
            try:
                await asyncio.wait_for(wake.wait(), keepalive_s)
            except TimeoutError:
                yield ": keep-alive\n\n"
    finally:
        listeners.remove(monitor_id, account_id, wake)
