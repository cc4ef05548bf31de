"""``/api/scans``: submitting a video (or audio file) to scan, a background job; its status,
its result in the JSON shape of ``reeltrace scan --format json``, and its evidence report.

Admins see every scan, a scanner its own; another scanner's answer 404.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import APIRouter, File, Form, HTTPException, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse

from ...about import version_text
from ...report.evidence import render_report
from ..auth import AdminOrScanner
from ..db import Account, Job
from ..state import ServerPath, Service, ServiceDep

router = APIRouter(tags=["scans"])


def scan_public(job: Job, service: Service, with_result: bool = True) -> dict:
    """A scan job as the API shows it, with its ``progress`` in [0, 1]."""
    out = job.to_dict()
    out["progress"] = service.workers.progress(job)
    out["query"] = job.name
    out["source"] = "upload" if job.params.get("uploaded") else "path"
    out["found_at"] = job.params.get("found_at")
    if with_result:
        out["result"] = job.result
    return out


def evidence_report(service: Service, acct: Account, scan_id: str) -> HTMLResponse:
    """The evidence report of a finished scan (409 while it is not)."""
    job = service.scan_for(acct, scan_id)
    if job.status in ("queued", "running"):
        raise HTTPException(409, f"scan {scan_id} is {job.status}")
    html = render_report(
        [service.scan_record(job)],
        library=service.folder,
        scanned_at=job.finished_at,
        query_files=[job.params["path"]],
        query_names=[job.name],
        query_urls=[job.params.get("found_at")],
        claimant=job.params.get("claimant"),
        software=version_text(service.lib.model),
        requested_by=(service.db.account(job.account_id) or acct).name,
        title=f"Evidence report · scan {job.id}",
    )
    return HTMLResponse(html, headers={"Content-Disposition": f'inline; filename="reeltrace-{job.id}.html"'})


@router.get("/api/scans", summary="List scans (admin: all; scanner: its own)")
def list_scans(service: ServiceDep, acct: AdminOrScanner):
    jobs = service.db.jobs(kind="scan", account_id=None if acct.role == "admin" else acct.id)
    return {"scans": [scan_public(j, service, with_result=False) for j in jobs]}


@router.post("/api/scans", status_code=202,
             summary="Submit a video to scan, uploaded or by allowed server path (a background job)")  # fmt: skip
def submit_scan(
    service: ServiceDep,
    acct: AdminOrScanner,
    file: UploadFile | None = File(None, description="the video to scan"),
    path: ServerPath = None,
    found_at: str | None = Form(None, max_length=2000, description="where the video was found (http or https URL), for the evidence report"),
    claimant: str | None = Form(None, max_length=300, description="who claims and how to reach them, for the evidence report"),
):
    found_at = (found_at or "").strip() or None
    if found_at is not None and (urlsplit(found_at).scheme not in ("http", "https") or not urlsplit(found_at).netloc):
        raise HTTPException(400, "found_at must be an http or https URL")
    stored, name, uploaded = service.take_input(file, path, service.queries_root)
    job = service.db.add_job("scan", acct.id, name, {"path": stored, "uploaded": uploaded, "found_at": found_at,
                                                     "claimant": (claimant or "").strip() or None})  # fmt: skip
    service.workers.notify()
    return JSONResponse({"scan": scan_public(job, service)}, status_code=202, headers={"Location": f"/api/scans/{job.id}"})


@router.get("/api/scans/{scan_id}", summary="Status of a scan, and its result once done")
def show_scan(scan_id: str, service: ServiceDep, acct: AdminOrScanner):
    return scan_public(service.scan_for(acct, scan_id), service)


@router.get("/api/scans/{scan_id}/result", summary="The result in the JSON shape of `reeltrace scan --format json`")
def scan_result(scan_id: str, service: ServiceDep, acct: AdminOrScanner):
    job = service.scan_for(acct, scan_id)
    if job.status in ("queued", "running"):
        raise HTTPException(409, f"scan {scan_id} is {job.status}; poll /api/scans/{scan_id}")
    result = dict(job.result or {"query": job.name, "duration": 0.0, "error": job.error, "matches": []})
    result.pop("elapsed", None)
    return {"results": [result]}


@router.get("/api/scans/{scan_id}/report.html", response_class=HTMLResponse,
            summary="Evidence report: one self-contained HTML file")  # fmt: skip
def scan_report(scan_id: str, service: ServiceDep, acct: AdminOrScanner):
    return evidence_report(service, acct, scan_id)
