"""``/api/monitors``: live sources the service follows (``monitors.Monitors``), their events
(stored, and as server-sent events), and the reuses on air now.

Admins see every monitor, a scanner its own; another scanner's answer 404, as scans do.
Owners may not use monitors (403), as they may not use scans: a monitor is a platform's
watch over its own streams (its source URL may carry the platform's credentials), and what
it finds of an owner's works reaches the owner as match rows (``/api/matches``,
``/api/works/{id}/matches``, the work's page), with the same rules as scan matches.
"""

from __future__ import annotations

from fastapi import APIRouter, Header, HTTPException, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from ..auth import AdminOrScanner, request_token
from ..db import Account, Monitor, MonitorLimit
from ..sources import MAX_NAME, MAX_SOURCE, check_source, clean_name, default_name
from ..sse import monitor_stream
from ..state import Service, ServiceDep

router = APIRouter(tags=["monitors"])


class NewMonitor(BaseModel):
    """What ``POST /api/monitors`` takes."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(..., min_length=1, max_length=MAX_SOURCE, description=(
        "an http(s) (HLS), rtmp(s), rtsp, srt or udp URL with a host, or a file under a server folder the admin allows"))  # fmt: skip
    name: str | None = Field(None, max_length=MAX_NAME, description="shown in lists, and as the query of its match rows")


def monitor_public(service: Service, monitor: Monitor, accounts: dict[int, str] | None = None) -> dict:
    """A monitor as the API shows it: with the name of its account."""
    out = monitor.to_dict()
    if accounts is None:
        holder = service.db.account(monitor.account_id)
        out["account"] = holder.name if holder else None
    else:
        out["account"] = accounts.get(monitor.account_id)
    return out


def monitor_detail(service: Service, monitor: Monitor) -> dict:
    """One monitor with the reuses on air now and its counts."""
    on_air = service.monitors.on_air(monitor.id)
    return {**monitor_public(service, monitor), "on_air": on_air,
            "counts": {**service.db.monitor_counts(monitor.id), "on_air": len(on_air)}}  # fmt: skip


@router.get("/api/monitors", summary="List monitors (admin: all; scanner: its own)")
def list_monitors(service: ServiceDep, acct: AdminOrScanner):
    monitors = service.db.monitors(account_id=None if acct.role == "admin" else acct.id)
    names = {a.id: a.name for a in service.db.accounts()}
    return {"monitors": [monitor_public(service, m, names) for m in monitors]}


@router.post("/api/monitors", status_code=201,
             summary="Follow a live source (HLS/HTTP, RTMP, RTSP, SRT, UDP URL, or an allowed server file)")  # fmt: skip
def create_monitor(body: NewMonitor, service: ServiceDep, acct: AdminOrScanner):
    source = check_source(body.source, service.config.allowed_paths, service.config.monitors.source_networks)
    name = clean_name(body.name) if body.name and body.name.strip() else default_name(source)
    try:
        monitor = service.monitors.create(acct, source, name)
    except MonitorLimit as err:
        raise HTTPException(429, str(err)) from None
    return JSONResponse(monitor_detail(service, monitor), status_code=201,
                        headers={"Location": f"/api/monitors/{monitor.id}"})  # fmt: skip


@router.get("/api/monitors/{monitor_id}", summary="One monitor, with the reuses on air now and its counts")
def show_monitor(monitor_id: str, service: ServiceDep, acct: AdminOrScanner):
    return monitor_detail(service, service.monitor_for(acct, monitor_id))


@router.post("/api/monitors/{monitor_id}/stop", summary="Stop a monitor (its open reuses end)")
def stop_monitor(monitor_id: str, service: ServiceDep, acct: AdminOrScanner):
    service.monitor_for(acct, monitor_id)
    service.monitors.stop(monitor_id)
    return monitor_detail(service, service.monitor_for(acct, monitor_id))


@router.delete("/api/monitors/{monitor_id}", summary="Stop a monitor and delete it and its events (its matches stay)")
def delete_monitor(monitor_id: str, service: ServiceDep, acct: AdminOrScanner):
    service.monitor_for(acct, monitor_id)
    service.monitors.remove(monitor_id)
    return {"deleted": monitor_id}


@router.get("/api/monitors/{monitor_id}/events", summary="A monitor's stored events after a sequence number, oldest first")
def monitor_events(monitor_id: str, service: ServiceDep, acct: AdminOrScanner,
                   after: int = Query(0, ge=0, description="only events with a greater seq"),
                   limit: int = Query(100, ge=1, le=1000)):  # fmt: skip
    service.monitor_for(acct, monitor_id)
    return {"events": service.db.monitor_events(monitor_id, after, limit)}


@router.get("/api/monitors/{monitor_id}/events/stream", response_class=StreamingResponse,
            summary="A monitor's events as server-sent events (text/event-stream), live",
            responses={200: {"content": {"text/event-stream": {}}, "description": (
                "`id: <seq>` and `data: <event JSON>` per event; `: keep-alive` comments; a last "
                "`event: state` once the monitor no longer runs")}})  # fmt: skip
def monitor_event_stream(monitor_id: str, request: Request, service: ServiceDep, acct: AdminOrScanner,
                         after: int = Query(0, ge=0, description="only events with a greater seq"),
                         last_event_id: str | None = Header(None, description="sent by a reconnecting EventSource: wins over `after`")):  # fmt: skip
    service.monitor_for(acct, monitor_id)
    if last_event_id is not None:
        if not last_event_id.strip().isdigit():
            raise HTTPException(400, "Last-Event-ID must be an event's seq")
        after = int(last_event_id)
    config = service.config.monitors
    if service.monitors.listeners.count(acct.id) >= config.max_streams_per_account:
        raise HTTPException(429, f"too many open event streams: an account may have {config.max_streams_per_account}")
    token = request_token(request)

    def visible() -> Monitor | None:
        # Asked before every read: a token revoked or replaced, or a monitor deleted, ends the stream.
        caller: Account | None = service.db.account_by_token(token) if token else None
        try:
            return service.monitor_for(caller, monitor_id) if caller is not None else None
        except HTTPException:
            return None

    stream = monitor_stream(service.db, service.monitors.listeners, monitor_id, acct.id, after, visible,
                            config.keepalive_s)  # fmt: skip
    # No buffering on the way (nginx honours X-Accel-Buffering), no caching.
    return StreamingResponse(stream, media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})  # fmt: skip
