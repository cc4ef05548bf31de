"""Matches: what scans found of works, as records (one per segment) by work, by scan or by
owner (JSON or CSV), and one scan's match against one work with its frame pairs and frames.

Who sees a match: admins, the scan's account, and the owner of the matched work.
"""

from __future__ import annotations

import csv
import io

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import RedirectResponse, Response

from ...report.evidence import jpeg_bytes, pair_times, sound_image, sound_spans
from ...report.formats import csv_rows
from ..auth import AdminOrOwner, AdminOrScanner, CurrentAccount
from ..state import MATCH_FIELDS, ServiceDep

router = APIRouter(tags=["matches"])


def matches_response(rows: list[dict], fmt: str, filename: str):
    """Match rows as ``{"matches": rows}``, or as a CSV download named ``filename``.csv."""
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, MATCH_FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(csv_rows(rows))  # names and titles come from other accounts
        return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'})  # fmt: skip
    if fmt != "json":
        raise HTTPException(400, "format must be json or csv")
    return {"matches": rows}


@router.get("/api/works/{work_id}/matches", summary="Every match against a work (JSON or CSV)")
def work_matches(work_id: str, service: ServiceDep, acct: AdminOrOwner,
                 format: str = Query("json", pattern="^(json|csv)$")):  # fmt: skip
    service.work_for(acct, work_id)
    return matches_response(service.visible_matches(acct, work_id=work_id), format, f"{work_id}-matches")


@router.get("/api/scans/{scan_id}/matches", summary="Every match found by one scan")
def scan_matches(scan_id: str, service: ServiceDep, acct: AdminOrScanner):
    service.scan_for(acct, scan_id)
    return {"matches": service.visible_matches(acct, scan_id=scan_id)}


@router.get("/api/scans/{scan_id}/matches/{work_id}", summary="One scan's match against one work, with frame-pair times")
def match_detail(scan_id: str, work_id: str, service: ServiceDep, acct: CurrentAccount):
    found = service.match_for(acct, scan_id, work_id)
    record = service.match_record(found)
    segs = [
        dict(shown, pairs=[{"query_time": q, "work_time": w} for q, w in pair_times(seg)])
        for shown, seg in zip(found.shown["segments"], record.segments, strict=True)
    ]
    return {"scan_id": found.job.id, "query": found.job.name, **found.shown, "segments": segs}


@router.get("/api/scans/{scan_id}/matches/{work_id}/frame.jpg", response_class=Response,
            summary="A query or work frame inside a matched segment")  # fmt: skip
def match_frame(scan_id: str, work_id: str, service: ServiceDep, acct: CurrentAccount,
                side: str = Query(..., pattern="^(query|work)$"), t: float = Query(..., ge=0)):  # fmt: skip
    found = service.match_for(acct, scan_id, work_id)
    key = "query" if side == "query" else "work"
    if not any(s[f"{key}_start"] - 1.0 <= t <= s[f"{key}_end"] + 1.0 for s in found.shown["segments"]):
        raise HTTPException(404, "no matched segment at that time")
    if side == "query":
        path = found.job.params["path"]
    else:
        work = service.lib.work(work_id)
        path = work.source_path if work else ""
    data = service.frame(path, t) if path else None
    if data is None:
        return RedirectResponse("/static/placeholder.svg", status_code=307)
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})


@router.get("/api/scans/{scan_id}/matches/{work_id}/sound.jpg", response_class=Response,
            summary="The spectrogram of one matched segment's seconds, in the query or the work")  # fmt: skip
def match_sound(scan_id: str, work_id: str, service: ServiceDep, acct: CurrentAccount,
                side: str = Query(..., pattern="^(query|work)$"), segment: int = Query(..., ge=0)):  # fmt: skip
    """What a sound-only segment shows instead of frames (``evidence.sound_image``)."""
    found = service.match_for(acct, scan_id, work_id)
    segments = service.match_record(found).segments
    if segment >= len(segments):
        raise HTTPException(404, "no such segment")
    query_span, work_span = sound_spans(segments[segment])
    if side == "query":
        path, (start, end) = found.job.params["path"], query_span
    else:
        work = service.lib.work(work_id)
        path, (start, end) = (work.source_path if work else ""), work_span
    img = sound_image(path, start, end)
    if img is None:
        return RedirectResponse("/static/placeholder.svg", status_code=307)
    return Response(jpeg_bytes(img), media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})


@router.get("/api/matches", summary="Matches visible to the caller, by work, by scan or by owner (JSON or CSV)")
def list_matches(
    service: ServiceDep,
    acct: CurrentAccount,
    work_id: str | None = None,
    scan_id: str | None = None,
    owner: str | None = Query(None, description="owner name written on the works"),
    format: str = Query("json", pattern="^(json|csv)$"),
):
    return matches_response(service.visible_matches(acct, work_id, scan_id, owner), format, "matches")
