"""When the reuses a monitor found were on air, on the wall clock: the timeline of a
monitor's page (one row per work, one bar per reuse, over the last hours).

A reuse event says when it was decided (``detected_at``, UTC) and how much stream had been
read then (``stream_now``), so a stretch of stream ``[stream_start, stream_end]`` was on air
``stream_now - stream_start`` seconds before ``detected_at`` and so on. That holds while the
watch keeps up with the stream (a live source is read as it plays); the console's script
places the bars it adds the same way (``static/console.js``, ``wallSpan``).
"""

from __future__ import annotations

from datetime import datetime, timezone

HOURS = 3.0  # how far back the timeline goes
MIN_SPAN = 60.0  # seconds: a monitor started a moment ago still gets a readable axis


def epoch(iso: str) -> float:
    """An ISO time (``Z`` or an offset) in seconds since the epoch."""
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def iso(seconds: float) -> str:
    """Seconds since the epoch as the service database writes times (``db.now``)."""
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="seconds")


def wall_span(event: dict) -> tuple[float, float]:
    """(start, end) of a reuse event's stretch, in seconds since the epoch."""
    decided = epoch(event["detected_at"])
    return decided - (event["stream_now"] - event["stream_start"]), decided - (event["stream_now"] - event["stream_end"])


def timeline(events: list[dict], on_air: set[int], since: float, now: float) -> dict:
    """The timeline from ``since`` (the later of the monitor's creation and ``HOURS`` ago) to
    ``now`` (seconds since the epoch), from a monitor's stored ``events`` (oldest first):
    ``{"start", "end", "rows": [{"work_id", "title", "bars": [{"reuse", "start", "end",
    "left", "width", "on_air"}]}]}``, times in seconds since the epoch, ``left`` and
    ``width`` in percent of the axis; works in the order they first came on air."""
    start = min(since, now - MIN_SPAN)
    latest: dict[int, dict] = {}
    for e in events:
        if e.get("reuse") is not None:
            latest[e["reuse"]] = e  # a reuse's last event holds its whole stretch
    rows: dict[str, dict] = {}
    for reuse, e in sorted(latest.items(), key=lambda item: wall_span(item[1])[0]):
        s, t = wall_span(e)
        if t < start:
            continue
        left = max(s, start)
        bar = {"reuse": reuse, "start": s, "end": t, "on_air": reuse in on_air,
               "left": 100 * (left - start) / (now - start), "width": max(100 * (min(t, now) - left) / (now - start), 0.4)}  # fmt: skip
        rows.setdefault(e["work_id"], {"work_id": e["work_id"], "title": e["title"], "bars": []})["bars"].append(bar)
    return {"start": start, "end": now, "rows": list(rows.values())}
